"""``server.address`` / ``server.port`` of a CLIENT span: the host botwatch's caller talks to.

Only the host and port: a URL's path can hold a secret (a Bitrix24 webhook
token), so it never becomes an attribute.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botwatch import semconv
from botwatch.validation import clean_name

_DEFAULT_PORTS = {"http": 80, "https": 443}


def server_attributes(address: str | None, port: int | None) -> dict[str, Any]:
    """The attributes for a server the caller named; a clear ``ValueError`` for anything but a host and port."""
    attributes: dict[str, Any] = {}
    if address is not None:
        host = clean_name(address, "server_address")
        if any(c in host for c in "/?#@ "):
            raise ValueError("server_address must be a host name or IP address, not a URL")
        attributes[semconv.SERVER_ADDRESS] = host
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"server_port must be a whole number in 1..65535, got {port!r}")
        attributes[semconv.SERVER_PORT] = port
    return attributes


def server_of_url(url: str) -> tuple[str | None, int | None]:
    """(host, port) of a URL; the scheme's default port when the URL names none."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme)
