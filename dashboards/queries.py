"""PromQL, LogQL and TraceQL building blocks; every name from ``botwatch.semconv``.

Selectors filter by a dashboard variable only when the metric carries that
label, so "All" and a chosen value both mean what they say.
"""

from __future__ import annotations

from botwatch import semconv
from botwatch.semconv import Metric, prometheus_label
from dashboards import variables as v

RATE = "$__rate_interval"
RANGE = "$__range"

# Review verdicts (semconv documents "correct / wrong" but has no constants yet).
VERDICT_WRONG = "wrong"

_FILTERS = (
    (semconv.CHANNEL, v.CHANNEL),
    (semconv.SCENARIO_VARIANT, v.VARIANT),
    (semconv.GEN_AI_REQUEST_MODEL, v.MODEL),
)


def label(attribute: str) -> str:
    return prometheus_label(attribute)


def matcher(attribute: str, value: str, op: str = "=") -> str:
    return f'{label(attribute)}{op}"{value}"'


def le_matcher(edge: float) -> str:
    """The bucket edge as the alert rules match it: "3" and "3.0", "0.6" and ".60"."""
    if edge == int(edge):
        return f'le=~"{int(edge)}(\\\\.0+)?"'
    text = f"{edge:g}"
    whole, fraction = text.split(".")
    return f'le=~"{whole}?\\\\.{fraction}0*"' if whole == "0" else f'le=~"{text}0*"'


def selector(series: str, metric: Metric | None = None, *extra: str, filters: bool = True) -> str:
    """``series{job=~"$job", <variable filters the metric supports>, *extra}``.

    A bot metric is also filtered by ``$tenant``; its "All" (``.*``) keeps series without a tenant.
    """
    parts = [f'{semconv.PROMETHEUS_JOB_LABEL}=~"${v.JOB}"']
    if metric is not None:
        parts.append(f'{label(semconv.TENANT)}=~"${v.TENANT}"')
    if metric is not None and filters:
        parts += [f'{label(a)}=~"${var}"' for a, var in _FILTERS if a in metric.attributes]
    parts += list(extra)
    return f"{series}{{{', '.join(parts)}}}"


def count(metric: Metric, *extra: str, filters: bool = True) -> str:
    """The series that counts events: ``_count`` of a histogram, the counter itself."""
    series = metric.prometheus_series[2] if metric.instrument == "histogram" else metric.prometheus
    return selector(series, metric, *extra, filters=filters)


def bucket(metric: Metric, *extra: str) -> str:
    return selector(metric.prometheus_series[0], metric, *extra)


def by(*attributes: str) -> str:
    return ", ".join(label(a) if "." in a else a for a in attributes)


def rate_sum(series: str, window: str = RATE, group: str = "") -> str:
    grouping = f" by ({group})" if group else ""
    return f"sum{grouping} (rate({series}[{window}]))"


def increase_sum(series: str, window: str = RANGE, group: str = "") -> str:
    grouping = f" by ({group})" if group else ""
    return f"sum{grouping} (increase({series}[{window}]))"


def quantile(q: float, metric: Metric, group: str = "", window: str = RATE) -> str:
    keys = f"le, {group}" if group else "le"
    return f"histogram_quantile({q:g}, sum by ({keys}) (rate({bucket(metric)}[{window}])))"


def share_above(metric: Metric, edge: float, window: str, group: str = "") -> str:
    """Share of observations above ``edge`` (histogram: 1 - bucket(edge)/count)."""
    grouping = f" by ({group})" if group else ""
    total = f"sum{grouping} (rate({count(metric)}[{window}]))"
    at_or_below = f"sum{grouping} (rate({bucket(metric, le_matcher(edge))}[{window}]))"
    return f"({total} - {at_or_below}) / {total}"


def share_at_or_below(metric: Metric, edge: float, window: str, group: str = "") -> str:
    grouping = f" by ({group})" if group else ""
    total = f"sum{grouping} (rate({count(metric)}[{window}]))"
    at_or_below = f"sum{grouping} (rate({bucket(metric, le_matcher(edge))}[{window}]))"
    return f"{at_or_below} / {total}"


def loss_ratio(lost: str, delivered: str, group: str, window: str = "5m") -> str:
    """lost / (delivered + lost) as the pipeline alerts compute it; 0 while nothing is lost."""
    lost_rate = f"sum by ({group}) (rate({lost}[{window}]))"
    delivered_rate = f"sum by ({group}) (rate({delivered}[{window}]))"
    ratio = f"{lost_rate} / (({delivered_rate} or 0 * {lost_rate}) + {lost_rate})"
    return f"({ratio}) or 0 * {delivered_rate}"


# --- LogQL (Loki's OTLP ingestion: service.name is the stream label, log
# attributes are structured metadata with dots as underscores) ----------------
def loki_stream() -> str:
    return f'{{{label(semconv.SERVICE_NAME)}=~"${v.JOB}"}}'


def loki_filter(attribute: str, value: str, op: str = "=") -> str:
    quoted = value if op in ("<", "<=", ">", ">=") else f'"{value}"'
    return f"| {label(attribute)} {op} {quoted}"


def logql(*filters: str) -> str:
    return " ".join((loki_stream(), *filters))


# --- TraceQL -------------------------------------------------------------------
def span_attr(attribute: str) -> str:
    return f"span.{attribute}"


def resource_attr(attribute: str) -> str:
    return f"resource.{attribute}"


def traceql(*conditions: str) -> str:
    scope = f'{resource_attr(semconv.SERVICE_NAME)} =~ "${v.JOB}"'
    return "{ " + " && ".join((scope, *conditions)) + " }"
