"""Spans/s through our collector pipeline (redaction + transform) vs a pass-through one, same run.

Both runs use the same built ``otelcol-botwatch`` and the same
``collector/config.yaml``; the pass-through run only replaces the traces
pipeline's processors by ``[memory_limiter]`` (a derived copy of the file).
The load is bot-like spans (GenAI and botwatch attributes, message text with
phone numbers and e-mails to redact), posted over OTLP/HTTP on 127.0.0.1 by
a few threads; the backend is a sink that acknowledges at once.  Throughput
is spans the collector exported (its own ``otelcol_exporter_sent_spans_total``)
per second of wall time; CPU per 1 000 spans is the collector process's
user+system time from /proc.

    python benchmarks/collector_throughput.py [--spans 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import binaries  # noqa: E402
from harness.collector import CONFIG, Collector  # noqa: E402

from botwatch import semconv  # noqa: E402
from botwatch.stack.pidfiles import cpu_seconds  # noqa: E402

SPANS_PER_REQUEST = 500
SENDERS = 3
_RESPONSE = ExportTraceServiceResponse().SerializeToString()


class Sink:
    """Tempo's place: answers every export with 200 at once and counts requests."""

    def __init__(self) -> None:
        sink = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(_RESPONSE)))
                self.end_headers()
                self.wfile.write(_RESPONSE)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


MASKED_TEXT = (
    "Запишите меня, мой номер +7 *** ***-67-89 (ph_e1f198d56675885f), почта i***@m***.ru (em_7a82d17c5ebe2de1)"
)


def bot_like_request(batch: int, offset: int, raw_pii: bool) -> bytes:
    """500 spans; message text with raw phones/e-mails (raw OTLP) or as the SDK sends it (masked)."""
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "bench-bot"
    scope = resource.scope_spans.add()
    now = time.time_ns()
    for n in range(SPANS_PER_REQUEST):
        seq = offset + n
        span = scope.spans.add(
            trace_id=(batch + 1).to_bytes(16, "big"),
            span_id=(seq + 1).to_bytes(8, "big"),
            name="turn" if n % 3 else "chat gpt-4o-mini",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1_200_000_000,
        )
        attributes = {
            semconv.GEN_AI_CONVERSATION_ID: f"sess_{batch}_{n % 7}",
            semconv.CHANNEL: "whatsapp",
            semconv.INTENT: "booking",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            semconv.MESSAGE_TEXT: (
                f"Запишите меня, мой номер +7 (912) 345-{seq % 100:02d}-89, почта ivan{seq}@mail.ru"
                if raw_pii
                else MASKED_TEXT
            ),
        }
        for key, value in attributes.items():
            span.attributes.add(key=key).value.string_value = value
        span.attributes.add(key=semconv.INTENT_CONFIDENCE).value.double_value = 0.87
    return request.SerializeToString()


def run(name: str, config: Path, bodies: list[bytes], workdir: Path, sink: Sink) -> dict[str, float]:
    collector = Collector(
        binaries.collector_binary(),
        workdir / name,
        traces_url=sink.url,
        logs_url=sink.url,
        remote_write_url="http://127.0.0.1:9/api/v1/write",
        config=config,
        memory_limit_mib=1024,
    )
    collector.start()
    try:
        url = collector.otlp_http_url + "/v1/traces"
        total = len(bodies) * SPANS_PER_REQUEST
        pid = collector.process.pid
        assert pid is not None
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()

        def send(share: list[bytes]) -> None:
            with requests.Session() as session:
                for body in share:
                    response = session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"})
                    response.raise_for_status()

        threads = [threading.Thread(target=send, args=(bodies[i::SENDERS],)) for i in range(SENDERS)]
        for thread in threads:
            thread.start()
        sent = 0.0
        last_print = 0.0
        while sent < total:
            time.sleep(0.2)
            sent = collector.self_metric("otelcol_exporter_sent_spans_total")
            if time.perf_counter() - last_print > 2:
                last_print = time.perf_counter()
                print(f"  {name}: {sent:,.0f}/{total:,} spans exported", flush=True)
            if time.perf_counter() - started > 600:
                raise SystemExit(f"{name}: only {sent:.0f} of {total} spans exported in 10 minutes")
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        for thread in threads:
            thread.join()
        return {"spans_per_s": total / elapsed, "cpu_ms_per_1000": cpu / total * 1e6, "elapsed_s": elapsed}
    finally:
        collector.stop()


def passthrough_config(workdir: Path) -> Path:
    config = yaml.safe_load(CONFIG.read_text())
    config["service"]["pipelines"]["traces"]["processors"] = ["memory_limiter"]
    path = workdir / "passthrough.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    args = parser.parse_args()
    requests_needed = max(1, args.spans // SPANS_PER_REQUEST)
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        passthrough = passthrough_config(workdir)
        for load, raw_pii in (
            ("as the SDK sends it (PII already masked)", False),
            ("raw OTLP with phones and e-mails", True),
        ):
            print(f"\nload: {requests_needed * SPANS_PER_REQUEST:,} spans, {load}", flush=True)
            bodies = [bot_like_request(b, b * SPANS_PER_REQUEST, raw_pii) for b in range(requests_needed)]
            results = {
                "pass-through": run("pass-through", passthrough, bodies, workdir, sink),
                "botwatch pipeline": run("botwatch", CONFIG, bodies, workdir, sink),
            }
            print(f"{'pipeline':<20}{'spans/s':>12}{'CPU ms / 1000 spans':>22}")
            for name, result in results.items():
                print(f"{name:<20}{result['spans_per_s']:>12,.0f}{result['cpu_ms_per_1000']:>22.1f}")
            ratio = results["botwatch pipeline"]["spans_per_s"] / results["pass-through"]["spans_per_s"]
            print(f"throughput ratio botwatch / pass-through: {ratio:.2f} (target >= 0.8)")
    sink.close()


if __name__ == "__main__":
    main()
