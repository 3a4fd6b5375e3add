"""Connection hygiene for a public endpoint, at the HTTP protocol level (before any ASGI code runs).

uvicorn's httptools protocol, which the gateway keeps for its speed, has no
header size or count limit and no read timeout for headers or bodies: a
client may send a header forever (slowloris) or a 128 MiB one.  This
subclass adds, per connection:

- a deadline for the request line and headers (``header_timeout``, from the
  connection's start or the request's first byte): the connection is closed;
- a byte and a count limit on them (``max_header_bytes``,
  ``max_header_count``): ``431`` and the connection is closed;
- a deadline for the body (``body_timeout`` after the headers): the
  connection is closed, the app sees a disconnect;
- a bound on the open connections of one client IP (``max_connections_per_ip``,
  0 for none, e.g. behind a reverse proxy): more are closed at once;
- a connection whose answer went out before its body was read (401, 413, ...)
  is closed, so an unauthenticated sender cannot trickle a body on.

None of it allocates more than the limits, and none of it waits on the app.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    max_connections_per_ip: int = 64


class _HeadersRefused(Exception):
    pass


_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 30\r\nconnection: close\r\n\r\n"
    b"request headers are too large\n"
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of ``ConnectionLimits`` (set per process)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    _per_ip: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ip: str | None = None
        self._in_head = True
        self._received = 0  # bytes received while the head is incomplete
        self._head_bytes = 0  # bytes of the parsed request line and headers
        self._header_count = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.limits.max_connections_per_ip
        ip = self.client[0] if self.client else None
        if limit and ip is not None:
            if self._per_ip[ip] >= limit:
                transport.close()
                return
            self._per_ip[ip] += 1
            self._ip = ip
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._ip is not None:
            self._per_ip[self._ip] -= 1
            if self._per_ip[self._ip] <= 0:
                del self._per_ip[self._ip]
            self._ip = None
        super().connection_lost(exc)

    # -- timers ----------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    # -- parsing ---------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _HeadersRefused):
                self._refuse()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            return  # no upgrades here: the request itself is served as plain HTTP
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and self._received > self.limits.max_header_bytes:
            self._refuse()  # a head still incomplete after this many bytes

    def _refuse(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes, self._header_count = True, 0, 0
        self._received = 0
        if self._timer is None:  # a keep-alive connection's next request
            self._arm(self.limits.header_timeout)
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), 1)
        super().on_header(name, value)

    def _count(self, size: int, headers: int) -> None:
        self._head_bytes += size
        self._header_count += headers
        limits = self.limits
        if self._header_count > limits.max_header_count or self._head_bytes > limits.max_header_bytes:
            raise _HeadersRefused

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            # Answered before its body was read: the rest of the body is not worth reading.
            self._disarm()
            self.transport.close()
