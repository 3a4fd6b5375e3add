"""An optional Prometheus pull endpoint, for set-ups without a collector.

``init(prometheus_port=9464)`` (or ``BOTWATCH_PROMETHEUS_PORT``) serves
``/metrics`` with prometheus-client.  Series carry the same names and labels
as they have after the collector (``semconv.Metric.prometheus``), so the
dashboards and alert rules work on either path.  Exemplars (trace ids on
latency buckets) appear in the OpenMetrics format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.core import Metric as Family
from prometheus_client.samples import Exemplar

from botwatch import semconv

_CUMULATIVE = {
    kind: AggregationTemporality.CUMULATIVE
    for kind in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
}
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


def prometheus_name(metric: Metric, monotonic: bool) -> str:
    """Our metrics by ``semconv``; anything else the way the collector translates it."""
    try:
        known = semconv.metric_by_name(metric.name).prometheus
        return known.removesuffix("_total")
    except KeyError:
        pass
    name = _INVALID.sub("_", metric.name)
    suffix = _UNIT_SUFFIX.get(metric.unit or "")
    if suffix and not name.endswith(suffix):
        name = f"{name}_{suffix}"
    return name


def _labels(attributes: Any, service: str | None) -> dict[str, str]:
    labels = {semconv.prometheus_label(k): str(v) for k, v in (attributes or {}).items()}
    if service:
        labels[semconv.PROMETHEUS_SERVICE_LABEL] = service
    return labels


def _exemplar(point: HistogramDataPoint, index: int) -> Exemplar | None:
    for exemplar in point.exemplars or ():
        upper = point.explicit_bounds[index] if index < len(point.explicit_bounds) else float("inf")
        lower = point.explicit_bounds[index - 1] if index > 0 else float("-inf")
        if lower < exemplar.value <= upper and exemplar.trace_id:
            ids = {"trace_id": format(exemplar.trace_id, "032x"), "span_id": format(exemplar.span_id or 0, "016x")}
            return Exemplar(ids, exemplar.value, exemplar.time_unix_nano / 1e9)
    return None


def _label_rows(points: Iterable[Any], service: str | None) -> tuple[list[str], list[tuple[Any, list[str]]]]:
    """One label-name list for the family (points may carry different keys), values per point."""
    rows = [(point, _labels(point.attributes, service)) for point in points]
    names = sorted({name for _, labels in rows for name in labels})
    return names, [(point, [labels.get(name, "") for name in names]) for point, labels in rows]


def _histogram(name: str, metric: Metric, points: Iterable[HistogramDataPoint], service: str | None) -> Family:
    names, rows = _label_rows(points, service)
    family = HistogramMetricFamily(name, metric.description or name, labels=names)
    for point, values in rows:
        cumulative, buckets = 0, []
        for index, count in enumerate(point.bucket_counts):
            cumulative += count
            bound = point.explicit_bounds[index] if index < len(point.explicit_bounds) else float("inf")
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            exemplar = _exemplar(point, index)
            buckets.append((le, cumulative, exemplar) if exemplar else (le, cumulative))
        family.add_metric(values, buckets, point.sum)
    return family


def _number(name: str, metric: Metric, points: Iterable[NumberDataPoint], service: str | None, counter: bool) -> Family:
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily] = CounterMetricFamily if counter else GaugeMetricFamily
    names, rows = _label_rows(points, service)
    family = kind(name, metric.description or name, labels=names)
    for point, values in rows:
        family.add_metric(values, point.value)
    return family


def families(data: MetricsData | None) -> Iterator[Family]:
    if data is None:
        return
    for resource_metrics in data.resource_metrics:
        service = resource_metrics.resource.attributes.get("service.name")
        service_name = str(service) if service else None
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = metric.data.data_points
                if isinstance(metric.data, Sum):
                    name = prometheus_name(metric, metric.data.is_monotonic)
                    yield _number(name, metric, points, service_name, metric.data.is_monotonic)  # type: ignore[arg-type]
                elif points and isinstance(next(iter(points)), HistogramDataPoint):
                    yield _histogram(prometheus_name(metric, False), metric, points, service_name)  # type: ignore[arg-type]
                else:
                    yield _number(prometheus_name(metric, False), metric, points, service_name, False)  # type: ignore[arg-type]


class PrometheusBridge(MetricReader):
    """A pull reader: collects from the SDK on every scrape."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality=_CUMULATIVE)  # type: ignore[arg-type]
        self._latest: MetricsData | None = None
        self.before_scrape: Callable[[], None] = lambda: None  # drains measurements not yet recorded
        self.mask: Callable[[MetricsData], MetricsData] = lambda data: data  # personal data in attributes

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._latest = self.mask(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._latest = None

    def scrape(self) -> Iterator[Family]:
        self.before_scrape()
        self.collect()
        yield from families(self._latest)

    def serve(self, host: str, port: int) -> Any:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Scraper(self))
        server, _thread = start_http_server(port, addr=host, registry=registry)
        return server


class _Scraper:
    def __init__(self, bridge: PrometheusBridge) -> None:
        self._bridge = bridge

    def collect(self) -> Iterator[Family]:
        return self._bridge.scrape()
