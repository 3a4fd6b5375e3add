"""Faults: the traces/logs backend goes away, the collector itself restarts.

Each test runs its own collector (own ports, own queue directory) and its own
Tempo/Loki stand-in, under a bounded load of numbered spans and log records
(harness.load).  What counts is what the collector acknowledged with HTTP 200:
all of it must reach the backend, however many times.

The outage lasts BOTWATCH_FAULT_OUTAGE_SECONDS (default 60, as the issue
asks); set it lower for a quick local run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from harness import LOKI_LOGS_PATH, TEMPO_TRACES_PATH, OtlpCapture, Prometheus
from harness.binaries import prometheus_binary
from harness.load import SEQ_ATTRIBUTE, LoadResult, OtlpLoad
from harness.ports import free_port
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from botwatch import semconv

pytestmark = [pytest.mark.stack, pytest.mark.slow]

OUTAGE_SECONDS = float(os.environ.get("BOTWATCH_FAULT_OUTAGE_SECONDS", "60"))
MEMORY_LIMIT_MIB = 256
DRAIN_TIMEOUT = 90  # retry backoff is capped at 15 s; this leaves room for several rounds


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def assert_all_delivered(capture: OtlpCapture, result: LoadResult) -> dict[str, int]:
    """Every acknowledged item arrived; returns the duplicate counts (at-least-once delivery)."""
    duplicates = {}
    for path, acknowledged in (
        (TEMPO_TRACES_PATH, result.acknowledged_spans),
        (LOKI_LOGS_PATH, result.acknowledged_logs),
    ):
        received = Counter(capture.values_of(path, SEQ_ATTRIBUTE))
        lost = acknowledged - set(received)
        assert not lost, f"{path}: {len(lost)} of {len(acknowledged)} acknowledged items never arrived"
        duplicates[path] = sum(n - 1 for n in received.values())
    return duplicates


def wait_delivered(capture: OtlpCapture, result: LoadResult, timeout: float = DRAIN_TIMEOUT) -> None:
    capture.wait_for(
        lambda: (
            capture.span_count() >= len(result.acknowledged_spans)
            and capture.log_count() >= len(result.acknowledged_logs)
        ),
        timeout=timeout,
        what=f"{len(result.acknowledged_spans)} spans and {len(result.acknowledged_logs)} log records delivered",
    )


@pytest.fixture
def backend() -> OtlpCapture:
    capture = OtlpCapture()
    yield capture
    capture.stop()


@pytest.mark.parametrize("mode", ["refused", "503"])
def test_backend_outage_loses_nothing_and_memory_stays_bounded(
    mode: str, backend: OtlpCapture, collector_factory, prometheus: Prometheus
) -> None:
    outage = OUTAGE_SECONDS if mode == "refused" else min(OUTAGE_SECONDS, 15)
    collector = collector_factory(
        traces_url=backend.url,
        logs_url=backend.url,
        remote_write_url=prometheus.remote_write_url,
        memory_limit_mib=MEMORY_LIMIT_MIB,
    )
    load = OtlpLoad(collector.otlp_http_url, service_name=f"outage-{mode}", rate=10, batch=50).start()
    peak_rss = 0.0
    try:
        time.sleep(3)
        if mode == "refused":
            backend.go_down()
        else:
            backend.set_unavailable(503)
        deadline = time.monotonic() + outage
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, rss_mib(collector.process.pid))
            time.sleep(1)
        queued = collector.self_metric("otelcol_exporter_queue_size")
        if mode == "refused":
            backend.come_up()
        else:
            backend.set_unavailable(None)
        time.sleep(2)
    finally:
        result = load.stop()

    assert result.failed_requests == 0, "the collector refused data while only its backend was down"
    assert queued > 0, "nothing was queued during the outage"
    wait_delivered(backend, result)
    duplicates = assert_all_delivered(backend, result)
    assert collector.self_metric("otelcol_exporter_enqueue_failed_spans_total") == 0
    assert peak_rss < MEMORY_LIMIT_MIB, f"collector RSS {peak_rss:.0f} MiB over its {MEMORY_LIMIT_MIB} MiB limit"
    print(
        f"\n{mode} outage {outage:.0f}s: {len(result.acknowledged_spans)} spans + {len(result.acknowledged_logs)} "
        f"log records all delivered; duplicates {duplicates}; peak RSS {peak_rss:.0f} MiB; "
        f"queue at the end of the outage {queued:.0f} requests"
    )


@pytest.mark.parametrize("how", ["graceful", "kill"])
def test_collector_restart_mid_run(how: str, backend: OtlpCapture, collector_factory, prometheus: Prometheus) -> None:
    """Restart (SIGTERM) or crash (SIGKILL) the collector while its queue holds data.

    Acknowledged data is on disk before the 200 is sent (persistent queue, no
    batch processor in front of it), so both must lose nothing acknowledged.
    What the client sent while the collector was down was refused, not lost:
    the SDK's exporter retries it (here counted in failed_requests).
    """
    collector = collector_factory(
        traces_url=backend.url, logs_url=backend.url, remote_write_url=prometheus.remote_write_url
    )
    backend.set_unavailable(503)  # make sure the queue is not empty at the restart
    load = OtlpLoad(collector.otlp_http_url, service_name=f"restart-{how}", rate=10, batch=50).start()
    try:
        time.sleep(4)
        if how == "graceful":
            collector.stop()
        else:
            collector.kill()
        time.sleep(1)
        collector.start()
        time.sleep(3)
        backend.set_unavailable(None)
        time.sleep(1)
    finally:
        result = load.stop()

    wait_delivered(backend, result)
    duplicates = assert_all_delivered(backend, result)
    print(
        f"\n{how} restart: {len(result.acknowledged_spans)} acknowledged spans + "
        f"{len(result.acknowledged_logs)} log records all delivered; duplicates {duplicates}; "
        f"{result.failed_requests} requests refused while the collector was down (client retries those)"
    )


def test_prometheus_outage_loses_no_metric_samples(backend: OtlpCapture, collector_factory, tmp_path: Path) -> None:
    """Remote write keeps every sample through a Prometheus restart (WAL + retry), even the late ones."""
    prometheus = Prometheus(prometheus_binary(), tmp_path / "prometheus", free_port(), targets={})
    prometheus.start()
    try:
        collector = collector_factory(
            traces_url=backend.url, logs_url=backend.url, remote_write_url=prometheus.remote_write_url
        )
        service = "prometheus-outage"
        resource = Resource.create({"service.name": service})
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{collector.otlp_http_url}/v1/metrics"), 3_600_000
        )
        provider = MeterProvider(resource=resource, metric_readers=[reader])
        counter = provider.get_meter("faults").create_counter(semconv.CONVERSATIONS.name, unit="{conversation}")
        exports = 0

        def export_for(seconds: float) -> None:
            nonlocal exports
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                counter.add(1, {semconv.CHANNEL: "telegram"})
                assert provider.force_flush(10_000)
                exports += 1
                time.sleep(1)

        export_for(4)
        prometheus.stop()
        export_for(min(OUTAGE_SECONDS, 15))
        prometheus.start()
        export_for(3)
        provider.shutdown()

        series = f'{semconv.CONVERSATIONS.prometheus}{{service_name="{service}"}}'
        prometheus.client.wait_for(
            f"count_over_time({series}[10m])",
            lambda r: bool(r) and float(r[0]["value"][1]) >= exports,
            timeout=60,
        )
        assert prometheus.client.value(f"max_over_time({series}[10m])") == exports
    finally:
        prometheus.stop()
