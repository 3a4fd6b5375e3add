"""Prometheus with the repo's deploy/prometheus.yml and alerts/rules, plus a query helper.

The launcher and the config copy are botwatch.stack.prometheus_process (shared with
``botwatch stack``): a copy of deploy/prometheus.yml changing only what a user
running it elsewhere would change: scrape targets, the Alertmanager address,
the rule-file path and shorter scrape/evaluation intervals (1 s here).
:class:`PrometheusClient`, the query helper, is test-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from botwatch.stack import prometheus_process as _stack
from botwatch.stack.prometheus_process import CONFIG, RULES_GLOB, render_config

__all__ = ["CONFIG", "RULES_GLOB", "Prometheus", "PrometheusClient", "render_config"]

Result = list[dict[str, Any]]


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


class Prometheus(_stack.Prometheus):
    """The stack's Prometheus, owned by the test run, with a :class:`PrometheusClient` as ``client``."""

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
        super().__init__(binary, workdir, port, targets, alertmanagers, interval, config, rule_files)
        self.client = PrometheusClient(self.url)

    def reload(self) -> None:
        requests.post(f"{self.url}/-/reload", timeout=10).raise_for_status()
