"""An OTLP/HTTP server standing where Tempo and Loki stand.

It answers at the exact paths the real backends expose to the collector:
Tempo's ``/v1/traces`` and Loki's native ``/otlp/v1/logs``; any other path is
a 404, so a collector pointed at the wrong path fails the test.  Bodies are
decoded with the official protobuf classes (gzip and JSON encodings too) and
kept raw, so a test can search every byte the collector sent.

For fault tests the backend can be made unavailable (every request answered
503, which OTLP exporters retry) or down (the port closed: connections are
refused) and brought back on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from botwatch.otlp_server import decompress  # gzip, deflate or none, as the real backends accept

TEMPO_TRACES_PATH = "/v1/traces"
LOKI_LOGS_PATH = "/otlp/v1/logs"

_ROUTES: dict[str, tuple[type[Message], type[Message]]] = {
    TEMPO_TRACES_PATH: (ExportTraceServiceRequest, ExportTraceServiceResponse),
    LOKI_LOGS_PATH: (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def value_of(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def attributes_of(items: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in items}


@dataclass
class Received:
    """What one backend path has been sent."""

    requests: list[Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # decompressed bodies
    items: int = 0  # spans or log records accepted
    refused: int = 0  # requests answered with an error while unavailable


class OtlpCapture:
    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._received = {path: Received() for path in _ROUTES}
        self._unavailable_status: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.port = port
        self.start()

    # -- lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"otlp-capture-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the port and every open connection: the collector's requests are refused."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:  # keep-alive connections would outlive the listener
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    close = stop
    go_down = stop
    come_up = start

    def set_unavailable(self, status: int | None = 503) -> None:
        """Answer every request with ``status`` (None: accept again)."""
        with self._lock:
            self._unavailable_status = status

    # -- what was received -----------------------------------------------------
    def clear(self) -> None:
        with self._lock:
            self._received = {path: Received() for path in _ROUTES}

    def requests(self, path: str) -> list[Message]:
        with self._lock:
            return list(self._received[path].requests)

    def refused(self, path: str) -> int:
        with self._lock:
            return self._received[path].refused

    def raw_bytes(self, path: str | None = None) -> bytes:
        with self._lock:
            paths = [path] if path else list(self._received)
            return b"".join(b for p in paths for b in self._received[p].raw)

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for request in self.requests(TEMPO_TRACES_PATH):
            for rs in request.resource_spans:
                resource = attributes_of(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                                "attributes": attributes_of(span.attributes),
                                "events": [(e.name, attributes_of(e.attributes)) for e in span.events],
                                "resource": resource,
                            }
                        )
        return out

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for request in self.requests(LOKI_LOGS_PATH):
            for rl in request.resource_logs:
                resource = attributes_of(rl.resource.attributes)
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        out.append(
                            {
                                "body": value_of(record.body),
                                "event_name": record.event_name,
                                "trace_id": record.trace_id.hex(),
                                "span_id": record.span_id.hex(),
                                "severity": record.severity_text,
                                "attributes": attributes_of(record.attributes),
                                "resource": resource,
                            }
                        )
        return out

    def values_of(self, path: str, key: str) -> list[Any]:
        """Attribute ``key`` of every span or log record received at ``path``, duplicates included."""
        items = self.spans() if path == TEMPO_TRACES_PATH else self.log_records()
        return [item["attributes"][key] for item in items if key in item["attributes"]]

    def span_count(self) -> int:
        with self._lock:
            return self._received[TEMPO_TRACES_PATH].items

    def log_count(self) -> int:
        with self._lock:
            return self._received[LOKI_LOGS_PATH].items

    def wait_for(self, condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"OTLP capture at {self.url}: {what} not met within {timeout:.0f}s "
                    f"(spans={self.span_count()}, log records={self.log_count()})"
                )
            with self._lock:
                self._lock.wait(min(remaining, 0.2))

    # -- called by the handler -------------------------------------------------
    def _record(self, path: str, body: bytes, message: Message) -> int | None:
        with self._lock:
            received = self._received[path]
            if self._unavailable_status is not None:
                received.refused += 1
                return self._unavailable_status
            received.raw.append(body)
            received.requests.append(message)
            received.items += _count_items(message)
            self._lock.notify_all()
            return None


def _count_items(message: Message) -> int:
    if isinstance(message, ExportTraceServiceRequest):
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if isinstance(message, ExportLogsServiceRequest):
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    return 0


def _handler_for(capture: OtlpCapture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with capture._lock:
                capture._connections.add(self.connection)

        def finish(self) -> None:
            with capture._lock:
                capture._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            route = _ROUTES.get(self.path.split("?", 1)[0])
            if route is None:
                self._reply(404, b"not an OTLP path of this backend", "text/plain")
                return
            request_type, response_type = route
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                body = decompress(self.headers.get("Content-Encoding", "").strip().lower(), body)
                message = request_type()
                if content_type == "application/json":
                    json_format.Parse(body, message)
                else:
                    message.ParseFromString(body)
            except (ValueError, OSError, DecodeError, json_format.ParseError) as error:
                self._reply(400, str(error).encode(), "text/plain")
                return
            status = capture._record(self.path, body, message)
            if status is not None:
                self._reply(status, b"backend unavailable (simulated)", "text/plain", retry_after=1)
                return
            if content_type == "application/json":
                self._reply(200, json_format.MessageToJson(response_type()).encode(), "application/json")
            else:
                self._reply(200, response_type().SerializeToString(), "application/x-protobuf")

        def _reply(self, status: int, payload: bytes, content_type: str, retry_after: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
