"""The journal receiver: OTLP/HTTP protobuf in (what the collector sends to Tempo and Loki), journal rows out.

The rows it writes must be the rows the journal exporters write for the same
records in-process: the receiver adds a wire hop, never a second row builder.
"""

from __future__ import annotations

import gzip
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from harness.ports import free_ports
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from botwatch import semconv
from botwatch.journal import Journal
from botwatch.journal.exporters import JournalLogExporter, JournalSpanExporter
from botwatch.journal.receiver import serve

RESOURCE = Resource({semconv.SERVICE_NAME: "receiver-test-bot", "service.version": "1.2"})


class Running:
    def __init__(self, journal: Path) -> None:
        self.journal = journal
        (self.port,) = free_ports(1)
        ready = threading.Event()
        self.server: ThreadingHTTPServer | None = None

        def on_ready(server: ThreadingHTTPServer) -> None:
            self.server = server
            ready.set()

        self.thread = threading.Thread(target=serve, args=(self.port, journal), kwargs={"ready": on_ready}, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, body: bytes, content_type: str = "application/x-protobuf", gzipped: bool = True) -> int:
        headers = {"Content-Type": content_type}
        if gzipped:
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path / "received.sqlite")
    yield running
    running.stop()


def a_conversation() -> tuple[list[object], list[object]]:
    """Spans and log records of one short conversation, made by the real SDK."""
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    tracer = tracer_provider.get_tracer("botwatch", "0.1.0")
    logger = logger_provider.get_logger("botwatch")
    common = {semconv.GEN_AI_CONVERSATION_ID: "conv-recv-1", semconv.CHANNEL: "telegram"}
    with tracer.start_as_current_span("conversation", attributes=common):
        with tracer.start_as_current_span("turn", kind=SpanKind.SERVER, attributes={**common, semconv.TURN_INDEX: 1}):
            logger.emit(
                LogRecord(
                    body="Хочу записаться на стрижку",
                    severity_number=SeverityNumber.INFO,
                    attributes={**common, semconv.TURN_INDEX: 1},
                )
            )
            with tracer.start_as_current_span("crm.lead.create", kind=SpanKind.CLIENT, attributes=common) as crm:
                crm.set_status(Status(StatusCode.ERROR, "bitrix24 answered 503"))
                crm.add_event("funnel", {semconv.FUNNEL_STAGE: "lead_created", "tags": ("a", "b")})
    return list(spans.get_finished_spans()), list(logs.get_finished_logs())


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})") if c[1] not in ("id", "resource_id")]
        if not columns:  # the journal's schema is made with its first write
            return []
        return sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)


def test_rows_equal_the_in_process_exporters_rows(receiver: Running, tmp_path: Path) -> None:
    spans, logs = a_conversation()
    direct = tmp_path / "direct.sqlite"
    JournalSpanExporter(direct).export(spans)  # type: ignore[arg-type]
    JournalLogExporter(direct).export(logs)  # type: ignore[arg-type]

    assert receiver.post("/v1/traces", encode_spans(spans).SerializeToString()) == 200  # type: ignore[arg-type]
    assert receiver.post("/otlp/v1/logs", encode_logs(logs).SerializeToString(), gzipped=False) == 200  # type: ignore[arg-type]

    for table in ("spans", "logs", "funnel", "resources"):
        assert rows(receiver.journal, table) == rows(direct, table), table
    assert len(rows(receiver.journal, "spans")) == 3 and len(rows(receiver.journal, "logs")) == 1
    with Journal(receiver.journal) as journal:
        texts = [entry.text for entry in journal.replay("conv-recv-1")]
    assert "Хочу записаться на стрижку" in texts


def test_bad_requests_are_refused_with_a_reason_and_write_nothing(receiver: Running) -> None:
    spans, _ = a_conversation()
    good = encode_spans(spans).SerializeToString()  # type: ignore[arg-type]
    assert receiver.post("/v1/traces", b"\xff\xfe not protobuf") == 400
    assert receiver.post("/v1/traces", good, content_type="application/json") == 415
    assert receiver.post("/v1/metrics", good) == 404
    request = urllib.request.Request(
        receiver.url + "/v1/traces",
        data=b"not gzip",
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and b"decompress" in refused.value.read()
    assert rows(receiver.journal, "spans") == []
    # the refusals cost nothing else: a good batch right after is written whole
    assert receiver.post("/v1/traces", good) == 200
    assert len(rows(receiver.journal, "spans")) == 3


def test_health(receiver: Running) -> None:
    with urllib.request.urlopen(receiver.url + "/health", timeout=5) as response:
        assert response.status == 200


def test_a_bad_content_length_is_refused_at_once(receiver: Running) -> None:
    """Not a number: no answer at all (a traceback); negative: the server read until the client gave up."""
    import socket

    for given in ("abc", "-1"):
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as conn:
            conn.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                + f"Content-Length: {given}\r\n\r\n".encode()
            )
            answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length" in answer, (given, answer)
    assert rows(receiver.journal, "spans") == []
