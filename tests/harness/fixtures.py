"""pytest fixtures for the real stack; register with ``pytest_plugins = ["harness.fixtures"]``.

Session-scoped, started once, stopped at the end of the session (and, if the
run dies, by the kernel: see harness.processes):

    otlp_capture   Tempo + Loki stand-in (OtlpCapture)
    alertmanager   Alertmanager (skipped when the binary is not built)
    prometheus     Prometheus; uses alertmanager when it is available
    promql         PrometheusClient of that Prometheus
    collector      our collector, sending to the three above

``redis_url`` (module scope) is a redis-server of its own on a free port.
``promtool`` and ``amtool`` (module scope) are the paths of those binaries.

``collector_factory`` (function scope) starts extra collectors with their own
ports and storage, for tests that stop, kill or overload one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import binaries
from harness.alertmanager import CONFIG as ALERTMANAGER_CONFIG
from harness.alertmanager import Alertmanager
from harness.capture import OtlpCapture
from harness.collector import Collector, CollectorPorts
from harness.ports import free_ports, port_open
from harness.prometheus import Prometheus, PrometheusClient


@dataclass(frozen=True)
class StackPorts:
    prometheus: int
    alertmanager: int
    collector: CollectorPorts


@pytest.fixture(scope="session")
def stack_ports() -> StackPorts:
    ports = free_ports(6)
    return StackPorts(ports[0], ports[1], CollectorPorts(*ports[2:]))


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Configs, data and logs of the session's stack (logs: */*.log)."""
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    return binaries.collector_binary()


@pytest.fixture(scope="session")
def otlp_capture() -> Iterator[OtlpCapture]:
    capture = OtlpCapture()
    try:
        yield capture
    finally:
        capture.stop()


@pytest.fixture(scope="session")
def alertmanager(stack_ports: StackPorts, stack_dir: Path) -> Iterator[Alertmanager]:
    if not ALERTMANAGER_CONFIG.is_file():
        binaries.missing(f"{ALERTMANAGER_CONFIG} not found")
    binary = binaries.alertmanager_binary()
    manager = Alertmanager(binary, stack_dir / "alertmanager", stack_ports.alertmanager)
    try:
        manager.start()
        yield manager
    finally:
        manager.stop()


@pytest.fixture(scope="session")
def prometheus(request: pytest.FixtureRequest, stack_ports: StackPorts, stack_dir: Path) -> Iterator[Prometheus]:
    binary = binaries.prometheus_binary()
    try:
        manager: Alertmanager | None = request.getfixturevalue("alertmanager")
    except pytest.skip.Exception:
        manager = None  # Prometheus works without one; alert delivery tests skip on their own
    server = Prometheus(
        binary,
        stack_dir / "prometheus",
        stack_ports.prometheus,
        targets={
            "otelcol": [f"127.0.0.1:{stack_ports.collector.telemetry}"],
            **({"alertmanager": [manager.target]} if manager else {}),
        },
        alertmanagers=[manager.target] if manager else [],
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def promql(prometheus: Prometheus) -> PrometheusClient:
    return prometheus.client


@pytest.fixture(scope="session")
def collector(
    collector_binary: Path,
    otlp_capture: OtlpCapture,
    prometheus: Prometheus,
    stack_ports: StackPorts,
    stack_dir: Path,
) -> Iterator[Collector]:
    instance = Collector(
        collector_binary,
        stack_dir / "collector",
        traces_url=otlp_capture.url,
        logs_url=otlp_capture.url,
        remote_write_url=prometheus.remote_write_url,
        ports=stack_ports.collector,
    )
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def collector_factory(collector_binary: Path, tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    """``make(traces_url=..., logs_url=..., remote_write_url=..., **kwargs)`` -> a started Collector."""
    started: list[Collector] = []

    def make(*, traces_url: str, logs_url: str, remote_write_url: str, **kwargs: object) -> Collector:
        instance = Collector(
            collector_binary,
            tmp_path / f"collector-{len(started)}",
            traces_url=traces_url,
            logs_url=logs_url,
            remote_write_url=remote_write_url,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(instance)
        instance.start()
        return instance

    try:
        yield make
    finally:
        for instance in started:
            instance.stop()


# --- promtool and amtool, for the rule and Alertmanager config checks ------------------
def _cache_bin() -> Path:
    return Path(os.environ.get("BOTWATCH_CACHE", Path.home() / ".cache" / "botwatch")) / "bin"


def _require(path: str | Path | None, hint: str) -> str:
    if path and Path(path).is_file() and os.access(path, os.X_OK):
        return str(path)
    message = f"{path or 'binary'} not found: {hint}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def promtool() -> str:
    return _require(shutil.which("promtool"), "install Prometheus (apt install prometheus)")


@pytest.fixture(scope="module")
def amtool() -> str:
    return _require(_cache_bin() / "amtool", "run alerts/build-alertmanager.sh")


# --- redis-server, for the gateway's shared idempotency ---------------------------
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.access(REDIS, os.X_OK):
        pytest.skip("redis-server not installed")
    port = free_ports(1)[0]
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server listens on nothing at {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
