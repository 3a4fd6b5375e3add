"""A bounded OTLP/HTTP load: numbered spans and log records at a fixed rate.

Every span and log record carries a unique id, and the generator remembers
which ones the collector acknowledged (HTTP 200), so a test can check that
everything acknowledged reached the backend, exactly which items were lost,
and how many arrived twice.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SEQ_ATTRIBUTE = "load.seq"


def span_request(service_name: str, seqs: Iterable[int], trace_id: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = service_name
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    for seq in seqs:
        span = scope.spans.add(
            trace_id=trace_id,
            span_id=seq.to_bytes(8, "big"),
            name="load.span",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1_000_000,
        )
        span.attributes.add(key=SEQ_ATTRIBUTE).value.int_value = seq
    return request


def log_request(service_name: str, seqs: Iterable[int], trace_id: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name").value.string_value = service_name
    scope = resource_logs.scope_logs.add()
    now = time.time_ns()
    for seq in seqs:
        record = scope.log_records.add(time_unix_nano=now, trace_id=trace_id, span_id=seq.to_bytes(8, "big"))
        record.body.string_value = f"load record {seq}"
        record.attributes.add(key=SEQ_ATTRIBUTE).value.int_value = seq
    return request


@dataclass
class LoadResult:
    acknowledged_spans: set[int] = field(default_factory=set)
    acknowledged_logs: set[int] = field(default_factory=set)
    failed_requests: int = 0  # not acknowledged: refused, 5xx, connection error (a real SDK would retry)


class OtlpLoad:
    """Sends ``rate`` requests/s of ``batch`` spans plus the same of log records, in a thread."""

    def __init__(self, otlp_http_url: str, service_name: str = "load", rate: float = 10.0, batch: int = 50) -> None:
        self.url = otlp_http_url.rstrip("/")
        self.service_name = service_name
        self.rate = rate
        self.batch = batch
        self.result = LoadResult()
        self.trace_id = os.urandom(16)
        self._next = 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def send_once(self) -> None:
        seqs = range(self._next, self._next + self.batch)
        self._next += self.batch
        headers = {"Content-Type": "application/x-protobuf"}
        for path, request, acknowledged in (
            ("/v1/traces", span_request(self.service_name, seqs, self.trace_id), self.result.acknowledged_spans),
            ("/v1/logs", log_request(self.service_name, seqs, self.trace_id), self.result.acknowledged_logs),
        ):
            try:
                response = self._session.post(
                    f"{self.url}{path}", data=request.SerializeToString(), headers=headers, timeout=5
                )
                ok = response.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                acknowledged.update(seqs)
            else:
                self.result.failed_requests += 1

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.send_once()
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> OtlpLoad:
        self._thread = threading.Thread(target=self._run, name="otlp-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        return self.result
