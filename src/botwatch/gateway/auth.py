"""Who is posting: a bearer token per tenant, and an HMAC-SHA256 signature of the body.

The signature is ``hex(HMAC-SHA256(signing_secret, f"{timestamp}.{body}"))``
in ``X-Botwatch-Signature: sha256=<hex>``, with the Unix time it was made in
``X-Botwatch-Timestamp``.  A request signed outside the window is refused, so
a captured request cannot be replayed later; inside the window a replay is
harmless, its event ids are already known.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from botwatch.gateway.gateway_config import Tenant

TIMESTAMP_HEADER = "x-botwatch-timestamp"
SIGNATURE_HEADER = "x-botwatch-signature"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tenants:
    def __init__(self, tenants: Iterable[Tenant]) -> None:
        # Looked up by a digest of the token: no early-exit string comparison on the secret itself.
        self._by_digest = {_digest(t.token): t for t in tenants}

    def from_headers(self, headers: Mapping[str, str]) -> Tenant | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._by_digest.get(_digest(token.strip()))


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, *, window: float, now: float | None = None) -> str:
    """An empty string when the signature is good, else the reason code."""
    stamp = headers.get(TIMESTAMP_HEADER, "").strip()
    given = headers.get(SIGNATURE_HEADER, "").strip()
    if not stamp or not given:
        return "signature_required"
    try:
        signed_at = float(stamp)
    except ValueError:
        return "bad_signature"
    if not abs((time.time() if now is None else now) - signed_at) <= window:
        return "stale_signature"
    if not hmac.compare_digest(sign(secret, stamp, body).encode(), given.encode()):
        return "bad_signature"
    return ""
