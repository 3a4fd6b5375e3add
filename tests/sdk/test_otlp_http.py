"""botwatch's OTLP/HTTP transport: the SDK exporter's configuration, retries and timeouts, against a real HTTP server.

The server answers from a script (status and headers per request) and keeps
every request, so each test sees what went over the wire and when.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from botwatch.otlp_http import HTTPSettings, HTTPStatusError, OTLPHTTPSender, WireSpanExporter


class Scripted:
    """An HTTP server answering each POST with the next (status, headers, delay) of its script, then 200."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], float]] = []
        self.seen: list[tuple[float, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.seen.append((time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, delay = server.script.pop(0) if server.script else (200, {}, 0.0)
                time.sleep(delay)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}", raising=False)
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_TRACES_{name}", raising=False)


def spans() -> Any:
    kept = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    with provider.get_tracer("http").start_as_current_span("turn"):
        pass
    return kept.get_finished_spans()


def sender(url: str, timeout: float = 10.0) -> OTLPHTTPSender:
    return OTLPHTTPSender(HTTPSettings.resolve("traces", f"{url}/v1/traces", timeout=timeout))


def test_the_standard_variables_choose_endpoint_headers_and_compression(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url + "/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general,x-tenant=salon")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=for%20traces")  # the signal's own wins
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    exporter = WireSpanExporter()
    assert exporter.export(spans()) == SpanExportResult.SUCCESS
    [(_, path, headers, body)] = server.seen
    assert path == "/v1/traces"
    assert headers["api-key"] == "for traces" and "x-tenant" not in headers
    assert headers["content-type"] == "application/x-protobuf" and headers["content-encoding"] == "gzip"
    assert ExportTraceServiceRequest.FromString(gzip.decompress(body)).resource_spans[0].scope_spans[0].spans
    exporter.shutdown()


def test_arguments_win_over_variables_and_certificates_reach_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector:4318/custom/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/etc/client.pem")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/client.key")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2.5")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")  # unknown: a warning, uncompressed
    settings = HTTPSettings.resolve("traces")
    assert settings.endpoint == "https://collector:4318/custom/traces"  # the per-signal variable is used as is
    assert settings.verify == "/etc/ca.pem" and settings.cert == ("/etc/client.pem", "/etc/client.key")
    assert settings.timeout == 2.5 and settings.compression == "none" and "content-encoding" not in settings.headers
    assert HTTPSettings.resolve("traces", "http://x/v1/traces", timeout=1, compression="deflate").timeout == 1
    built = OTLPHTTPSender(settings)
    assert built._session.verify == "/etc/ca.pem" and built._session.cert == ("/etc/client.pem", "/etc/client.key")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")
    assert HTTPSettings.resolve("traces").timeout == 10.0
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")
    assert HTTPSettings.resolve("logs").endpoint == "http://base:4318/v1/logs"


def test_a_busy_collector_is_retried_after_the_time_it_asks_for(server: Scripted) -> None:
    server.script = [(503, {"Retry-After": "0"}, 0.0), (429, {"Retry-After": "1"}, 0.0)]
    sent = sender(server.url).send(b"batch")
    assert sent.ok and sent.status_code == 200
    assert [body for *_, body in server.seen] == [b"batch"] * 3
    assert 0.9 <= server.seen[2][0] - server.seen[1][0] < 2.5  # Retry-After: 1, not the 2 s backoff with jitter


def test_a_rejected_batch_fails_at_once(server: Scripted) -> None:
    server.script = [(400, {}, 0.0)]
    sent = sender(server.url).send(b"bad")
    assert not sent.ok and sent.status_code == 400 and isinstance(sent.error, HTTPStatusError)
    assert len(server.seen) == 1


def test_retries_stop_at_the_timeout(server: Scripted) -> None:
    server.script = [(503, {}, 0.0)] * 10  # backoff 1 s, then 2 s: the second wait would pass the 2 s timeout
    start = time.monotonic()
    sent = sender(server.url, timeout=2.0).send(b"x")
    elapsed = time.monotonic() - start
    assert not sent.ok and sent.status_code == 503
    assert len(server.seen) == 2 and elapsed < 2.5


def test_a_silent_collector_costs_one_timeout(server: Scripted) -> None:
    server.script = [(200, {}, 3.0)]
    start = time.monotonic()
    sent = sender(server.url, timeout=1.0).send(b"x")
    assert not sent.ok and sent.status_code is None and 0.9 < time.monotonic() - start < 2.5


def test_an_unreachable_collector_is_retried_until_the_timeout() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    start = time.monotonic()
    sent = sender(f"http://127.0.0.1:{port}", timeout=2.0).send(b"x")
    assert not sent.ok and sent.status_code is None and sent.error is not None
    assert time.monotonic() - start < 3.0


def test_shutdown_stops_a_retry_wait(server: Scripted) -> None:
    server.script = [(503, {"Retry-After": "30"}, 0.0)]
    transport = sender(server.url, timeout=60.0)
    threading.Timer(0.3, transport.shutdown).start()
    start = time.monotonic()
    sent = transport.send(b"x")
    assert not sent.ok and time.monotonic() - start < 5


def test_a_bad_header_fails_the_batch_without_its_value_in_the_log(
    server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    token = "Bearer salon1:0123456789abcdef"
    for headers in ({"authorization": f"{token}\n"}, {"api-key": " 0123456789abcdef"}):
        caplog.clear()
        settings = HTTPSettings.resolve("traces", f"{server.url}/v1/traces", headers=headers)
        with caplog.at_level("WARNING", logger="botwatch"):
            sent = OTLPHTTPSender(settings).send(b"x")
        assert not sent.ok and sent.status_code is None and not server.seen
        assert "header" in caplog.text and "0123456789abcdef" not in caplog.text
