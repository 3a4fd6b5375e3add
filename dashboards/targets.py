"""Typed query targets for the three data sources.

grafanalib 0.7.1 ships a Prometheus-flavoured ``Target`` and nothing for Loki
or Tempo; these small classes emit exactly the JSON Grafana's Prometheus,
Loki and Tempo query editors save, and keep the query language visible to the
checks (``language``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import attr
from attr.validators import in_, instance_of

from dashboards import datasources


@attr.s(frozen=True)
class PromTarget:
    """A PromQL query; ``exemplar`` asks Prometheus for exemplars (trace links)."""

    language: ClassVar[str] = "promql"
    expr: str = attr.ib(validator=instance_of(str))
    legend: str = attr.ib(default="", validator=instance_of(str))
    ref_id: str = attr.ib(default="A", validator=instance_of(str))
    instant: bool = attr.ib(default=False, validator=instance_of(bool))
    exemplar: bool = attr.ib(default=False, validator=instance_of(bool))
    table: bool = attr.ib(default=False, validator=instance_of(bool))
    hide: bool = attr.ib(default=False, validator=instance_of(bool))

    @property
    def query(self) -> str:
        return self.expr

    def with_ref(self, ref_id: str) -> PromTarget:
        return attr.evolve(self, ref_id=ref_id)

    def to_json_data(self) -> dict[str, Any]:
        return {
            "datasource": datasources.PROMETHEUS,
            "editorMode": "code",
            "exemplar": self.exemplar,
            "expr": self.expr,
            "format": "table" if self.table else "time_series",
            "hide": self.hide,
            "instant": self.instant,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "refId": self.ref_id,
        }


@attr.s(frozen=True)
class LokiTarget:
    """A LogQL query: log lines (``range``) or a metric query."""

    language: ClassVar[str] = "logql"
    expr: str = attr.ib(validator=instance_of(str))
    ref_id: str = attr.ib(default="A", validator=instance_of(str))
    legend: str = attr.ib(default="", validator=instance_of(str))
    max_lines: int = attr.ib(default=200, validator=instance_of(int))
    direction: str = attr.ib(default="backward", validator=in_(("backward", "forward")))

    @property
    def query(self) -> str:
        return self.expr

    def with_ref(self, ref_id: str) -> LokiTarget:
        return attr.evolve(self, ref_id=ref_id)

    def to_json_data(self) -> dict[str, Any]:
        return {
            "datasource": datasources.LOKI,
            "direction": self.direction,
            "editorMode": "code",
            "expr": self.expr,
            "legendFormat": self.legend,
            "maxLines": self.max_lines,
            "queryType": "range",
            "refId": self.ref_id,
        }


@attr.s(frozen=True)
class TempoTarget:
    """A TraceQL search; ``table_type`` "traces" lists traces, "spans" the matching spans."""

    language: ClassVar[str] = "traceql"
    query: str = attr.ib(validator=instance_of(str))
    ref_id: str = attr.ib(default="A", validator=instance_of(str))
    limit: int = attr.ib(default=20, validator=instance_of(int))
    spss: int = attr.ib(default=3, validator=instance_of(int))  # spans per span set
    table_type: str = attr.ib(default="traces", validator=in_(("traces", "spans", "raw")))
    metrics: bool = attr.ib(default=False, validator=instance_of(bool))  # TraceQL metrics (| rate() ...)

    def with_ref(self, ref_id: str) -> TempoTarget:
        return attr.evolve(self, ref_id=ref_id)

    def to_json_data(self) -> dict[str, Any]:
        extra = {"metricsQueryType": "range"} if self.metrics else {}
        return {
            **extra,
            "datasource": datasources.TEMPO,
            "filters": [],
            "limit": self.limit,
            "query": self.query,
            "queryType": "traceql",
            "refId": self.ref_id,
            "spss": self.spss,
            "tableType": self.table_type,
        }


Target = PromTarget | LokiTarget | TempoTarget
