"""Prometheus with the repo's deploy/prometheus.yml and alerts/rules, plus a query helper.

Prometheus expands no environment variables, so the harness writes a copy of
deploy/prometheus.yml changing only what a user running it elsewhere would
change: scrape targets, the Alertmanager address, the rule-file path and
shorter scrape/evaluation intervals.  Job names and everything else stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from harness.binaries import REPO
from harness.processes import ManagedProcess, http_ok

CONFIG = REPO / "deploy" / "prometheus.yml"
RULES_GLOB = REPO / "alerts" / "rules" / "*.yml"

Result = list[dict[str, Any]]


def render_config(
    source: Path,
    targets: dict[str, list[str]],
    alertmanagers: list[str],
    interval: str = "1s",
    rule_files: list[str] | None = None,
) -> dict[str, Any]:
    """deploy/prometheus.yml with test targets; jobs not in ``targets`` are dropped."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
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


class PrometheusClient:
    """Instant queries, and waiting (bounded) until a query's result satisfies a condition."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def _get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.url}{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params}: {response.status_code} {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> Result:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self._get("/api/v1/query", **params)
        if data["resultType"] in ("vector", "matrix"):
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]

    def value(self, expr: str) -> float | None:
        """The single value of a one-series query, or None when empty."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise AssertionError(f"{expr!r} returned {len(result)} series, expected one: {result}")
        return float(result[0]["value"][1])

    def wait_for(
        self,
        expr: str,
        condition: Callable[[Result], bool] = bool,
        timeout: float = 30.0,
        interval: float = 0.5,
    ) -> Result:
        """Query until ``condition(result)`` holds; AssertionError with the last result after ``timeout``."""
        deadline = time.monotonic() + timeout
        result: Result = []
        error: Exception | None = None
        while True:
            try:
                result = self.query(expr)
                error = None
                if condition(result):
                    return result
            except (requests.RequestException, AssertionError) as exc:
                error = exc
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"Prometheus: {expr!r} did not satisfy the condition within {timeout:.0f}s; "
                    f"last result {result}" + (f", last error {error}" if error else "")
                )
            time.sleep(interval)

    def series(self, match: str) -> list[dict[str, str]]:
        return list(self._get("/api/v1/series", **{"match[]": match}))

    def metric_names(self) -> list[str]:
        return list(self._get("/api/v1/label/__name__/values"))

    def exemplars(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/query_exemplars", query=expr, start=start, end=end))

    def rules(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/rules")["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/alerts")["alerts"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets")["activeTargets"])


class Prometheus:
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        port: int,
        targets: dict[str, list[str]],
        alertmanagers: list[str] | None = None,
        interval: str = "1s",
        config: Path = CONFIG,
        rule_files: list[str] | None = None,
    ) -> None:
        self.port = port
        self.config_path = workdir / "prometheus.yml"
        workdir.mkdir(parents=True, exist_ok=True)
        rendered = render_config(
            config, {"prometheus": [f"127.0.0.1:{port}"], **targets}, alertmanagers or [], interval, rule_files
        )
        self.config_path.write_text(yaml.safe_dump(rendered, sort_keys=False))
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
            ],
            log_path=workdir / "prometheus.log",
        )
        self.client = PrometheusClient(self.url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        self.process.wait_until(lambda: http_ok(f"{self.url}/-/ready"), timeout, what="ready")

    def stop(self) -> int | None:
        return self.process.stop()

    def reload(self) -> None:
        requests.post(f"{self.url}/-/reload", timeout=10).raise_for_status()
