"""A small OTLP/HTTP protobuf server: what the journal receiver and the tenant splitter both are.

Each of them gives a ``handle(path, body) -> (status, reason)`` for one decompressed request body;
this module does the HTTP around it, the same for both: ``GET /health`` answers 200; a ``POST`` body
over :data:`MAX_BODY_BYTES` answers 413, one without a usable ``Content-Length`` 400, one that is not
``application/x-protobuf`` 415, one that cannot be decompressed (gzip, deflate or none) 400; a 200 is an
empty protobuf body (an empty ``Export*ServiceResponse``: nothing rejected), any other status is the
reason as text, logged as a warning, and a 503 carries ``Retry-After: 1`` (the collector retries from its queue).
:func:`serve` runs the server until SIGTERM/SIGINT or ``server.shutdown()``.

Standard library only: the lean SDK install runs the journal receiver.
"""

from __future__ import annotations

import gzip
import logging
import signal
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

HEALTH_PATH = "/health"
PROTOBUF = "application/x-protobuf"
MAX_BODY_BYTES = 16 * 1024 * 1024  # twice the collector's own request limit

Handle = Callable[[str, bytes], tuple[int, str]]
"""(request path without the query, decompressed body) -> (HTTP status, reason)."""


def decompress(encoding: str, raw: bytes) -> bytes:
    """The body for a ``Content-Encoding`` (already stripped and lower-cased); ValueError for another one."""
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def handler_class(handle: Handle, logger: logging.Logger, type_hint: str = "") -> type[BaseHTTPRequestHandler]:
    """The request handler for ``handle``; ``type_hint`` follows "send application/x-protobuf" in a 415."""
    unsupported_type = f"send {PROTOBUF}" + (f" ({type_hint})" if type_hint else "")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a stalled client cannot hold a thread forever

        def do_GET(self) -> None:
            ok = self.path == HEALTH_PATH
            self._answer(200 if ok else 404, "ok" if ok else f"GET {HEALTH_PATH} only")

        def do_POST(self) -> None:
            given = (self.headers.get("Content-Length") or "0").strip()
            if not (given.isascii() and given.isdigit()):  # int() raised (no answer); a negative one read to EOF
                self.close_connection = True
                self._answer(400, f"Content-Length {given[:20]!r} is not a number of bytes")
                return
            length = int(given)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._answer(413, f"body over {MAX_BODY_BYTES} bytes")
                return
            raw = self.rfile.read(length)
            if (self.headers.get("Content-Type") or "").split(";")[0].strip() != PROTOBUF:
                self._answer(415, unsupported_type)
                return
            try:
                body = decompress((self.headers.get("Content-Encoding") or "").strip().lower(), raw)
            except (ValueError, OSError, zlib.error, EOFError) as error:
                self._answer(400, f"cannot decompress the body: {error}")
                return
            status, reason = handle(self.path.split("?")[0], body)
            if status == 200:
                self._answer(200, "", PROTOBUF)
            else:
                logger.warning("%s %s: %s %s", self.command, self.path, status, reason)
                self._answer(status, reason)

        def _answer(self, status: int, text: str, content_type: str = "text/plain") -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if status == 503:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return Handler


def serve(
    handle: Handle,
    host: str,
    port: int,
    logger: logging.Logger,
    name: str,
    detail: str = "",
    ready: Callable[[ThreadingHTTPServer], None] | None = None,
    type_hint: str = "",
) -> None:
    """Serve ``handle`` until SIGTERM/SIGINT (or ``server.shutdown()``); logs "<name> on <url> <detail>" first."""
    server = ThreadingHTTPServer((host, port), handler_class(handle, logger, type_hint))
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    logger.info("%s on http://%s:%d %s", name, host, server.server_address[1], detail)
    if ready is not None:
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
