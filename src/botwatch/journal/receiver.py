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
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from botwatch import otlp_server
from botwatch.journal.exporters import JournalLogExporter, JournalSpanExporter
from botwatch.journal.journal_settings import JournalSettings, journal_path
from botwatch.journal.otlp_decode import DecodeError, decode_logs, decode_spans

TRACES_PATH = "/v1/traces"
LOGS_PATHS = ("/otlp/v1/logs", "/v1/logs")

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


def serve(
    port: int,
    path: Path,
    host: str = "127.0.0.1",
    ready: Callable[[ThreadingHTTPServer], None] | None = None,
    settings: JournalSettings | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``server.shutdown()``), then close the journal."""
    receiver = JournalReceiver(path, settings)
    try:
        otlp_server.serve(
            receiver.handle,
            host,
            port,
            _logger,
            "journal receiver",
            f"writing {path}",
            ready=ready,
            type_hint="the collector's otlp_http encoding: proto",
        )
    finally:
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
