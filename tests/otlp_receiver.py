"""A real OTLP/HTTP (protobuf) receiver in a thread, for the SDK tests.

It decodes what the exporters send to ``/v1/traces``, ``/v1/logs`` and
``/v1/metrics`` with the official protobuf classes, and keeps the raw bytes
so a test can search every exported byte.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.capture import attributes_of as attributes  # one decoder for both capture servers
from harness.capture import value_of
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_KINDS: dict[str, tuple[type[Any], type[Any]]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}


class OTLPReceiver:
    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {path: [] for path in _KINDS}
        self.raw: list[bytes] = []
        self.hold: threading.Event | None = None  # set to a cleared Event to stall every request until it is set
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                kinds = _KINDS.get(self.path)
                if kinds is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                request_type, response_type = kinds
                message = request_type()
                try:
                    message.ParseFromString(body)
                except Exception:  # noqa: BLE001 - answer like a collector would
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.raw.append(body)
                    receiver.requests[self.path].append(message)
                payload = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def clear(self) -> None:
        with self._lock:
            for items in self.requests.values():
                items.clear()
            self.raw.clear()

    def count(self, path: str) -> int:
        """How many spans (``/v1/traces``) or log records (``/v1/logs``) arrived."""
        with self._lock:
            requests = list(self.requests[path])
        if path == "/v1/traces":
            return sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)
        return sum(len(sl.log_records) for r in requests for rl in r.resource_logs for sl in rl.scope_logs)

    # -- decoded views -----------------------------------------------------
    def spans(self) -> list[dict[str, Any]]:
        out = []
        for request in list(self.requests["/v1/traces"]):
            for rs in request.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "attributes": attributes(span.attributes),
                                "events": [(e.name, attributes(e.attributes)) for e in span.events],
                                "status": span.status.code,
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "resource": resource,
                            }
                        )
        return out

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for request in list(self.requests["/v1/logs"]):
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        out.append(
                            {
                                "body": value_of(record.body),
                                "event_name": record.event_name,
                                "trace_id": record.trace_id.hex(),
                                "span_id": record.span_id.hex(),
                                "severity": record.severity_text,
                                "attributes": attributes(record.attributes),
                                "time": record.time_unix_nano,
                            }
                        )
        return out

    def metrics(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """(metric, resource attributes) for every metric of every request."""
        for request in list(self.requests["/v1/metrics"]):
            for rm in request.resource_metrics:
                resource = attributes(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        yield metric, resource

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError("OTLP receiver: condition not met in time")
