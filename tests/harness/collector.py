"""The built collector with collector/config.yaml (botwatch.stack.collector_process), set up for tests.

Nothing in the config is rewritten: the harness sets the same environment
variables compose and native runs set (endpoints, ports, storage directory),
plus a fixed redaction key, a 1 s remote-write flush and a 256 MiB memory limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botwatch.stack import collector_process as _stack
from botwatch.stack.collector_process import CONFIG, CollectorPorts, validate

__all__ = ["CONFIG", "TEST_REDACTION_KEY", "Collector", "CollectorPorts", "validate"]

TEST_REDACTION_KEY = "botwatch-test-redaction-key-0123456789abcdef"


class Collector(_stack.Collector):
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        traces_url: str,
        logs_url: str,
        remote_write_url: str,
        ports: CollectorPorts | None = None,
        config: Path = CONFIG,
        memory_limit_mib: int = 256,
        extra_env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            binary,
            workdir,
            traces_url=traces_url,
            logs_url=logs_url,
            remote_write_url=remote_write_url,
            ports=ports,
            config=config,
            memory_limit_mib=memory_limit_mib,
            extra_env={
                "COLLECTOR_REMOTE_WRITE_FLUSH_INTERVAL": "1s",
                "BOTWATCH_REDACTION_KEY": TEST_REDACTION_KEY,
                **(extra_env or {}),
            },
            **kwargs,
        )
