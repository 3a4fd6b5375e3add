"""Pipeline health: is telemetry arriving, and is anything lost between the bot and the owner's phone?"""

from __future__ import annotations

from grafanalib import core

from botwatch import semconv as sc
from dashboards import panels as p
from dashboards import queries as q
from dashboards import thresholds as th
from dashboards import variables as v
from dashboards.builder import make_dashboard
from dashboards.targets import PromTarget

UID = "botwatch-pipeline"
SIGNALS = (("spans", "traces"), ("metric_points", "metrics"), ("log_records", "logs"))
TELEGRAM = 'integration="telegram"'
BUDGET_LABELS = ", ".join(sc.prometheus_label(a) for a in (sc.TENANT, sc.BUDGET_SUBJECT))


def loss_steps() -> list[dict[str, object]]:
    return p.steps((th.threshold(th.TELEMETRY_LOSS_RATIO), p.RED))


def per_signal(template: str, legend: str) -> list[PromTarget]:
    return [PromTarget(template.format(item=item), legend=legend.format(signal=signal)) for item, signal in SIGNALS]


def exporter_ratio(lost: str) -> list[PromTarget]:
    return [
        PromTarget(
            q.loss_ratio(f"otelcol_exporter_{lost}_{item}_total", f"otelcol_exporter_sent_{item}_total", "exporter"),
            legend=f"{{{{exporter}}}} {signal}",
        )
        for item, signal in SIGNALS
    ]


def build() -> core.Dashboard:
    g = p.Grid()
    loss = th.threshold(th.TELEMETRY_LOSS_RATIO)
    panels = [
        p.row(g, "Bots → collector"),
        p.timeseries(
            g,
            "Bots sending telemetry",
            "1 for each bot whose metrics arrived in the last 5 minutes. A bot "
            "that drops to nothing is stopped or cut off (alert BotwatchTelemetryAbsent).",
            [PromTarget(f'job:botwatch_telemetry:present{{job=~"${v.JOB}"}}', legend="{{job}}")],
            p.COUNT,
            links=[p.alert_link("BotwatchTelemetryAbsent")],
            w=8,
        ),
        p.timeseries(
            g,
            "Dropped inside the bot (SDK queue full)",
            "Share of spans and log records the bot's SDK "
            f"threw away because its queue was full. Red above {loss:.0%}.",
            [
                PromTarget(
                    f'job:otel_sdk_processor_span_dropped:ratio_rate5m{{job=~"${v.JOB}"}} '
                    f"or 0 * {q.rate_sum(q.selector(sc.SDK_SPANS_PROCESSED_PROMETHEUS), '5m', 'job')}",
                    legend="{{job}} spans",
                ),
                PromTarget(
                    f'job:otel_sdk_processor_log_dropped:ratio_rate5m{{job=~"${v.JOB}"}} '
                    f"or 0 * {q.rate_sum(q.selector(sc.SDK_LOGS_PROCESSED_PROMETHEUS), '5m', 'job')}",
                    legend="{{job}} logs",
                ),
            ],
            p.PERCENT,
            thresholds=loss_steps(),
            threshold_style="area",
            links=[p.alert_link("BotwatchSDKDroppingSpans"), p.alert_link("BotwatchSDKDroppingLogs")],
            w=8,
        ),
        p.timeseries(
            g,
            "Label budgets spent, by tenant",
            "Label values and series a tenant's budget folded into other (a new intent, model or variant "
            "past the tenant's slots, or a label set past its series budget). That tenant's metrics "
            "show `other` for the rest; other tenants are not affected. Raise BOTWATCH_LABEL_BUDGET or "
            "set BOTWATCH_INTENTS / BOTWATCH_MODELS allow-lists if the values are real.",
            [
                PromTarget(
                    f"sum by ({BUDGET_LABELS}) "
                    f'(increase({sc.LABEL_BUDGET_EXCEEDED.prometheus}{{job=~"${v.JOB}"}}[$__rate_interval]))',
                    legend=f"{{{{{sc.prometheus_label(sc.TENANT)}}}}} {{{{{sc.prometheus_label(sc.BUDGET_SUBJECT)}}}}}",
                )
            ],
            p.COUNT,
            links=[p.alert_link("BotwatchLabelBudgetExceeded")],
            w=8,
        ),
        p.timeseries(
            g,
            "Accepted by the collector, per second",
            "Spans, metric points and log records the collector accepted from bots.",
            per_signal("sum(rate(otelcol_receiver_accepted_{item}_total[$__rate_interval]))", "{signal}"),
            p.PER_SECOND,
            w=8,
        ),
        p.timeseries(
            g,
            "Refused by the collector",
            "Share of incoming items the collector refused (usually memory "
            f"pressure). Red above {loss:.0%} (alert BotwatchCollectorRefusingData).",
            [
                PromTarget(
                    "job_instance_receiver:otelcol_receiver_refused:ratio_rate5m", legend="{{instance}} {{otel_signal}}"
                )
            ],
            p.PERCENT,
            thresholds=loss_steps(),
            threshold_style="area",
            links=[p.alert_link("BotwatchCollectorRefusingData"), p.runbook_link("BotwatchCollectorRefusingData")],
            w=8,
        ),
        p.timeseries(
            g,
            "Refused by the collector, per second",
            "Items refused by the collector's receivers.",
            per_signal("sum(rate(otelcol_receiver_refused_{item}_total[$__rate_interval]))", "{signal}"),
            p.PER_SECOND,
            w=8,
        ),
        p.timeseries(
            g,
            "Exporter queue fill",
            "How full each exporter's sending queue is. When it reaches 100 % "
            f"data is lost; red from {th.threshold(th.EXPORTER_QUEUE_FILL_RATIO):.0%} "
            "(alert BotwatchCollectorExporterQueueNearlyFull).",
            [PromTarget("job_instance_exporter:otelcol_exporter_queue:fill_ratio", legend="{{exporter}}")],
            p.PERCENT,
            thresholds=p.steps((th.threshold(th.EXPORTER_QUEUE_FILL_RATIO), p.RED)),
            threshold_style="area",
            links=[p.alert_link("BotwatchCollectorExporterQueueNearlyFull")],
            w=8,
            max_value=1,
        ),
        p.row(g, "Collector → Tempo, Loki, Prometheus"),
        p.timeseries(
            g,
            "Sent to the backends, per second",
            "Items each exporter delivered.",
            per_signal(
                "sum by (exporter) (rate(otelcol_exporter_sent_{item}_total[$__rate_interval]))",
                "{{{{exporter}}}} {signal}",
            ),
            p.PER_SECOND,
            w=8,
        ),
        p.timeseries(
            g,
            "Export failures",
            "Share of items an exporter could not deliver after retries. Red above "
            f"{loss:.0%} (alert BotwatchCollectorExportFailing).",
            exporter_ratio("send_failed"),
            p.PERCENT,
            thresholds=loss_steps(),
            threshold_style="area",
            links=[p.alert_link("BotwatchCollectorExportFailing"), p.runbook_link("BotwatchCollectorExportFailing")],
            w=8,
        ),
        p.timeseries(
            g,
            "Dropped: exporter queue full",
            "Share of items thrown away because the sending queue was "
            f"full. Red above {loss:.0%} (alert BotwatchCollectorDroppingData).",
            exporter_ratio("enqueue_failed"),
            p.PERCENT,
            thresholds=loss_steps(),
            threshold_style="area",
            links=[p.alert_link("BotwatchCollectorDroppingData"), p.runbook_link("BotwatchCollectorDroppingData")],
            w=8,
        ),
        p.row(g, "Prometheus"),
        p.timeseries(
            g,
            "Samples stored per second",
            "Samples Prometheus appended (bots' metrics by remote write, plus its scrapes).",
            [PromTarget("sum(rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval]))", legend="samples")],
            p.PER_SECOND,
            w=8,
        ),
        p.timeseries(
            g,
            "Remote-write requests, by answer",
            "Writes from the collector; anything but 2xx means samples were rejected.",
            [
                PromTarget(
                    'sum by (code) (rate(prometheus_http_requests_total{handler="/api/v1/write"}[$__rate_interval]))',
                    legend="HTTP {{code}}",
                )
            ],
            p.PER_SECOND,
            w=8,
        ),
        p.timeseries(
            g,
            "Samples rejected",
            "Samples refused as too old or out of order (e.g. after a long outage).",
            [
                PromTarget(
                    "sum(rate(prometheus_tsdb_out_of_order_samples_total[$__rate_interval]))", legend="out of order"
                ),
                PromTarget(
                    "sum(rate(prometheus_tsdb_out_of_bound_samples_total[$__rate_interval]))", legend="out of bounds"
                ),
                PromTarget("sum(rate(prometheus_tsdb_too_old_samples_total[$__rate_interval]))", legend="too old"),
            ],
            p.PER_SECOND,
            thresholds=p.steps((0.001, p.RED)),
            w=8,
        ),
        p.row(g, "Alertmanager → Telegram"),
        p.stat(
            g,
            "Telegram messages sent",
            "Alert notifications Alertmanager delivered to Telegram in the selected time range.",
            [PromTarget(f"round(sum(increase(alertmanager_notifications_total{{{TELEGRAM}}}[$__range])))")],
            p.COUNT,
            decimals=0,
            w=6,
        ),
        p.stat(
            g,
            "Telegram messages failed",
            "Notifications to Telegram that failed (wrong token or chat id, "
            "Telegram unreachable). Anything above zero means the owner may have missed an alert.",
            [PromTarget(f"round(sum(increase(alertmanager_notifications_failed_total{{{TELEGRAM}}}[$__range])))")],
            p.COUNT,
            thresholds=p.steps((1, p.RED)),
            decimals=0,
            w=6,
        ),
        p.timeseries(
            g,
            "Telegram notifications per minute",
            "Sent and failed notifications to Telegram.",
            [
                PromTarget(
                    f"60 * sum(rate(alertmanager_notifications_total{{{TELEGRAM}}}[$__rate_interval]))", legend="sent"
                ),
                PromTarget(
                    f"60 * sum(rate(alertmanager_notifications_failed_total{{{TELEGRAM}}}[$__rate_interval]))",
                    legend="failed",
                ),
            ],
            p.PER_MINUTE,
            w=12,
        ),
    ]
    return make_dashboard(
        UID,
        "botwatch · Pipeline health",
        "Collector accepted/refused/dropped per signal, exporter queues and failures, Prometheus ingestion, "
        "Alertmanager notifications to Telegram.",
        panels,
        (v.job,),
        time_from="now-3h",
    )
