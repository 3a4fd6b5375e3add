"""An OTLP/HTTP receiver that writes the journal: where the native stack's collector sends traces and logs.

``botwatch stack up`` points the collector's Tempo and Loki exporters here
(``TEMPO_OTLP_ENDPOINT``/``LOKI_OTLP_ENDPOINT``; the collector config is used
unchanged), so every bot and gateway that sends to the collector lands in one
journal, and ``kpi``, ``sessions``, ``replay``, ``export`` and ``report`` read
it with no flags.  Loki and Tempo themselves run only under docker compose.

Paths: ``POST /v1/traces`` (Tempo's), ``POST /otlp/v1/logs`` (Loki's) and
``/v1/logs``; protobuf bodies, gzip or not.  A batch is written whole or not at
all; a journal that cannot be written answers 503, which the collector retries
from its durable queue, so nothing it has acknowledged is lost.
``GET /health`` answers 200.

    python -m botwatch.journal.receiver --port 4319 [--journal PATH] [--tenants FILE]

With ``--tenants`` each tenant's own ``retention`` from the tenants file
applies to its rows (``botwatch.journal.retention``).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import signal
import sys
import threading
import zlib
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from botwatch.journal.exporters import JournalLogExporter, JournalSpanExporter
from botwatch.journal.journal_settings import JournalSettings, journal_path
from botwatch.journal.otlp_decode import DecodeError, decode_logs, decode_spans

TRACES_PATH = "/v1/traces"
LOGS_PATHS = ("/otlp/v1/logs", "/v1/logs")
HEALTH_PATH = "/health"
MAX_BODY_BYTES = 16 * 1024 * 1024  # twice the collector's own request limit
PROTOBUF = "application/x-protobuf"

_logger = logging.getLogger("botwatch.journal.receiver")


class JournalReceiver:
    """Decodes OTLP requests and writes them through the journal exporters, one batch at a time."""

    def __init__(self, path: Path, settings: JournalSettings | None = None) -> None:
        self.path = path
        self._spans = JournalSpanExporter(path, settings=settings)
        self._logs = JournalLogExporter(path, settings=settings)
        self._lock = threading.Lock()
        self.counts = {"spans": 0, "logs": 0, "rejected": 0, "failed": 0}

    def handle(self, path: str, body: bytes) -> tuple[int, str]:
        """(HTTP status, reason) for one request body already decompressed."""
        try:
            if path == TRACES_PATH:
                return self._write("spans", list(decode_spans(body)))
            if path in LOGS_PATHS:
                return self._write("logs", list(decode_logs(body)))
        except DecodeError as error:
            self.counts["rejected"] += 1
            return 400, str(error)
        return 404, f"no such path {path!r}: {TRACES_PATH} or {' '.join(LOGS_PATHS)}"

    def _write(self, kind: str, records: Sequence[Any]) -> tuple[int, str]:
        with self._lock:
            if kind == "spans":
                ok = self._spans.export(records) is SpanExportResult.SUCCESS
            else:
                ok = self._logs.export(records) is LogRecordExportResult.SUCCESS
            if not ok:
                self.counts["failed"] += 1
                return 503, f"the journal {self.path} cannot be written now; retry"
            self.counts[kind] += len(records)
        return 200, ""

    def close(self) -> None:
        with self._lock:
            self._spans.shutdown()
            self._logs.shutdown()


def _decompress(encoding: str, raw: bytes) -> bytes:
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def _handler(receiver: JournalReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a stalled client cannot hold a thread forever

        def do_GET(self) -> None:
            if self.path == HEALTH_PATH:
                self._answer(200, "ok", "text/plain")
            else:
                self._answer(404, f"GET {HEALTH_PATH} only", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._answer(413, f"body over {MAX_BODY_BYTES} bytes", "text/plain")
                return
            raw = self.rfile.read(length)
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type != PROTOBUF:
                self._answer(415, f"send {PROTOBUF} (the collector's otlp_http encoding: proto)", "text/plain")
                return
            try:
                body = _decompress((self.headers.get("Content-Encoding") or "").strip().lower(), raw)
            except (ValueError, OSError, zlib.error, EOFError) as error:
                self._answer(400, f"cannot decompress the body: {error}", "text/plain")
                return
            status, reason = receiver.handle(self.path.split("?")[0], body)
            if status == 200:
                self._answer(200, "", PROTOBUF)  # an empty Export*ServiceResponse: nothing rejected
            else:
                _logger.warning("%s %s: %s %s", self.command, self.path, status, reason)
                self._answer(status, reason, "text/plain", retry_after=status == 503)

        def _answer(self, status: int, text: str, content_type: str, retry_after: bool = False) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if retry_after:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            _logger.debug(format, *args)

    return Handler


def serve(
    port: int,
    path: Path,
    host: str = "127.0.0.1",
    ready: Callable[[ThreadingHTTPServer], None] | None = None,
    settings: JournalSettings | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``server.shutdown()``), then close the journal."""
    receiver = JournalReceiver(path, settings)
    server = ThreadingHTTPServer((host, port), _handler(receiver))
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    _logger.info("journal receiver on http://%s:%d writing %s", host, port, path)
    if ready is not None:
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        receiver.close()
        _logger.info("journal receiver stopped: %s", receiver.counts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m botwatch.journal.receiver", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--journal", default=None, help="journal file (default: $BOTWATCH_JOURNAL or the per-user one)")
    parser.add_argument("--tenants", default=None, help="tenants file: each tenant's own retention")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    from botwatch.journal.retention import with_tenants

    try:
        settings = with_tenants(JournalSettings.from_env(), args.tenants)
    except ValueError as error:  # the tenants file (TenantsError) or a BOTWATCH_* variable (ConfigError)
        parser.error(str(error))
    serve(args.port, journal_path(args.journal), args.host, settings=settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
