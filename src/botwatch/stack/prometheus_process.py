"""Prometheus with the repo's deploy/prometheus.yml and alerts/rules.

Prometheus expands no environment variables, so the launcher writes a copy of
deploy/prometheus.yml changing only what a user running it elsewhere would
change: scrape targets, the Alertmanager address, the rule-file path and
(optionally) the scrape/evaluation interval.  Job names and everything else stay.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botwatch.stack import yamlfile
from botwatch.stack.binaries import REPO
from botwatch.stack.processes import LocalService, ManagedProcess

CONFIG = REPO / "deploy" / "prometheus.yml"
RULES_GLOB = REPO / "alerts" / "rules" / "*.yml"


def render_config(
    source: Path,
    targets: dict[str, list[str]],
    alertmanagers: list[str],
    interval: str | None = "1s",
    rule_files: list[str] | None = None,
) -> dict[str, Any]:
    """deploy/prometheus.yml with local targets; jobs not in ``targets`` are dropped; ``interval=None`` keeps it."""
    config: dict[str, Any] = yamlfile.load(source)
    if interval is not None:
        config.setdefault("global", {}).update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = rule_files if rule_files is not None else [str(RULES_GLOB)]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]}
    else:
        config.pop("alerting", None)
    jobs = []
    for job in config.get("scrape_configs", []):
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return config


class Prometheus(LocalService):
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        port: int,
        targets: dict[str, list[str]],
        alertmanagers: list[str] | None = None,
        interval: str | None = "1s",
        config: Path = CONFIG,
        rule_files: list[str] | None = None,
        extra_args: Sequence[str] = (),
        detached: bool = False,
    ) -> None:
        self.port = port
        self.config_path = workdir / "prometheus.yml"
        rendered = render_config(
            config, {"prometheus": [f"127.0.0.1:{port}"], **targets}, alertmanagers or [], interval, rule_files
        )
        yamlfile.dump(rendered, self.config_path)
        self.process = ManagedProcess(
            "prometheus",
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
                "--web.enable-lifecycle",
                "--enable-feature=exemplar-storage",
                "--log.level=warn",
                *extra_args,
            ],
            log_path=workdir / "prometheus.log",
            detached=detached,
        )

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def reload(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/-/reload", method="POST"), timeout=10).close()
