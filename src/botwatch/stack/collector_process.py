"""The built collector (collector/dist/otelcol-botwatch) with collector/config.yaml.

Nothing in the config is rewritten: the launcher sets the same environment
variables compose sets (endpoints, ports, storage directory).  ``overrides``
are extra ``--config`` arguments the collector merges over the file, e.g.
``yaml:service::pipelines::traces::exporters: [file]`` when no Tempo runs.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from botwatch.stack.binaries import REPO
from botwatch.stack.ports import free_ports, port_open
from botwatch.stack.processes import ManagedProcess, http_ok

CONFIG = REPO / "collector" / "config.yaml"


@dataclass(frozen=True)
class CollectorPorts:
    otlp_grpc: int
    otlp_http: int
    health: int
    telemetry: int

    @classmethod
    def allocate(cls) -> CollectorPorts:
        return cls(*free_ports(4))


def validate(
    binary: Path, config: Path = CONFIG, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``otelcol-botwatch validate``; ``env`` replaces the whole environment (``{}``: defaults only)."""
    return subprocess.run(
        [str(binary), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ) if env is None else env,
    )


class Collector:
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        traces_url: str,
        logs_url: str,
        remote_write_url: str,
        ports: CollectorPorts | None = None,
        config: Path = CONFIG,
        memory_limit_mib: int | None = None,
        extra_env: dict[str, str] | None = None,
        overrides: Sequence[str] = (),
        detached: bool = False,
    ) -> None:
        self.binary = binary
        self.config = config
        self.ports = ports or CollectorPorts.allocate()
        self.storage_dir = workdir / "storage"
        self.memory_limit_mib = memory_limit_mib
        memory = (
            {
                "COLLECTOR_MEMORY_LIMIT_MIB": str(memory_limit_mib),
                "COLLECTOR_MEMORY_SPIKE_MIB": str(max(memory_limit_mib // 4, 16)),
            }
            if memory_limit_mib
            else {}
        )
        self.env = {
            **os.environ,
            "OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.ports.otlp_grpc}",
            "OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.ports.otlp_http}",
            "COLLECTOR_HEALTH_ENDPOINT": f"127.0.0.1:{self.ports.health}",
            "COLLECTOR_TELEMETRY_HOST": "127.0.0.1",
            "COLLECTOR_TELEMETRY_PORT": str(self.ports.telemetry),
            "COLLECTOR_STORAGE_DIR": str(self.storage_dir),
            **memory,
            "TEMPO_OTLP_ENDPOINT": traces_url,
            "LOKI_OTLP_ENDPOINT": logs_url,
            "PROMETHEUS_REMOTE_WRITE_ENDPOINT": remote_write_url,
            **(extra_env or {}),
        }
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "otelcol-botwatch",
            [binary, f"--config={config}", *(f"--config={o}" for o in overrides)],
            log_path=workdir / "otelcol.log",
            env=self.env,
            detached=detached,
        )

    # -- addresses -----------------------------------------------------------
    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.otlp_http}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.ports.otlp_grpc}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.health}/"

    @property
    def telemetry_target(self) -> str:
        return f"127.0.0.1:{self.ports.telemetry}"

    # -- lifecycle -----------------------------------------------------------
    def healthy(self) -> bool:
        return http_ok(self.health_url) and port_open(self.ports.otlp_http) and port_open(self.ports.otlp_grpc)

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        self.process.wait_until(self.healthy, timeout, what="healthy")

    def stop(self) -> int | None:
        return self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def restart(self, timeout: float = 30.0) -> None:
        self.stop()
        self.start(timeout)

    @property
    def running(self) -> bool:
        return self.process.running

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)

    # -- the collector's own telemetry ------------------------------------------
    def self_metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Samples of the collector's Prometheus endpoint: name -> [(labels, value)]."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"http://{self.telemetry_target}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return samples

    def self_metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(
            value
            for sample_labels, value in self.self_metrics().get(name, [])
            if all(sample_labels.get(k) == v for k, v in labels.items())
        )
