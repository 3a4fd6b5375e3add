"""Every metric a panel may query, with the labels it may filter or group by.

Bot metrics come from ``botwatch.semconv``; the rest are the self-metrics of
the pipeline's components (collector, SDK, Prometheus, Alertmanager) and the
recording rules in alerts/rules.  ``None`` as the label set means "labels not
checked" (component self-metrics, whose labels vary by version).
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from botwatch import semconv

REPO = Path(__file__).resolve().parents[1]
RULES_GLOB = "alerts/rules/*.yml"

# Labels every bot series carries after the collector's remote write.
RESOURCE_LABELS = frozenset(
    {
        semconv.PROMETHEUS_JOB_LABEL,
        semconv.PROMETHEUS_SERVICE_LABEL,
        semconv.prometheus_label(semconv.SERVICE_VERSION),  # collector/config.yaml: resource_constant_labels
        semconv.prometheus_label(semconv.SCENARIO_VERSION),  # the same (empty for a bot that sets none)
        semconv.prometheus_label(semconv.TENANT),  # the same, from botwatch.tenant (empty for a bot without one)
        "instance",
        "otel_scope_name",
    }
)


def _signals(template: str) -> tuple[str, ...]:
    return tuple(template.format(item) for item in ("spans", "metric_points", "log_records"))


COLLECTOR_METRICS: tuple[str, ...] = (
    *_signals("otelcol_receiver_accepted_{}_total"),
    *_signals("otelcol_receiver_refused_{}_total"),
    *_signals("otelcol_exporter_sent_{}_total"),
    *_signals("otelcol_exporter_send_failed_{}_total"),
    *_signals("otelcol_exporter_enqueue_failed_{}_total"),
    "otelcol_exporter_queue_size",
    "otelcol_exporter_queue_capacity",
)
SDK_METRICS: tuple[str, ...] = (
    semconv.SDK_SPANS_PROCESSED_PROMETHEUS,
    semconv.SDK_LOGS_PROCESSED_PROMETHEUS,
)
PROMETHEUS_METRICS: tuple[str, ...] = (
    "prometheus_tsdb_head_samples_appended_total",
    "prometheus_tsdb_head_series",
    "prometheus_tsdb_out_of_order_samples_total",
    "prometheus_tsdb_out_of_bound_samples_total",
    "prometheus_tsdb_too_old_samples_total",
    "prometheus_http_requests_total",
    "prometheus_tsdb_exemplar_exemplars_appended_total",
    "up",
)
ALERTMANAGER_METRICS: tuple[str, ...] = (
    "alertmanager_notifications_total",
    "alertmanager_notifications_failed_total",
    "alertmanager_alerts",
)


@functools.cache
def recording_rules() -> frozenset[str]:
    names: set[str] = set()
    for path in sorted(REPO.glob(RULES_GLOB)):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return frozenset(names)


@functools.cache
def known_metrics() -> dict[str, frozenset[str] | None]:
    """Metric name -> labels it carries (None: not checked)."""
    known: dict[str, frozenset[str] | None] = {}
    for metric in (*semconv.METRICS, semconv.LABEL_BUDGET_EXCEEDED):
        labels = RESOURCE_LABELS | set(metric.prometheus_labels)
        for series in metric.prometheus_series:
            known[series] = frozenset(labels | {"le"}) if series.endswith("_bucket") else frozenset(labels)
    for name in (*COLLECTOR_METRICS, *SDK_METRICS, *PROMETHEUS_METRICS, *ALERTMANAGER_METRICS):
        known[name] = None
    for name in recording_rules():
        known.setdefault(name, None)
    return known
