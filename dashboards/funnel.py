"""Funnel and experiments: where clients drop out, and which variant or model does better."""

from __future__ import annotations

from grafanalib import core

from botwatch import semconv as sc
from dashboards import panels as p
from dashboards import queries as q
from dashboards import thresholds as th
from dashboards import variables as v
from dashboards.annotations import change_annotations
from dashboards.builder import make_dashboard
from dashboards.targets import PromTarget

UID = "botwatch-funnel"

STAGE = q.label(sc.FUNNEL_STAGE)
VARIANT = q.label(sc.SCENARIO_VARIANT)
MODEL = q.label(sc.GEN_AI_REQUEST_MODEL)
CONVERSATIONS = q.count(sc.CONVERSATIONS)


def stage(name: str) -> str:
    return q.count(sc.FUNNEL_EVENTS, q.matcher(sc.FUNNEL_STAGE, name))


def conversion(group: str, window: str = q.RANGE) -> str:
    return (
        f"{q.increase_sum(stage(sc.BOOKING_CREATED), window, group)} / {q.increase_sum(CONVERSATIONS, window, group)}"
    )


def build() -> core.Dashboard:
    g = p.Grid()
    sla = f"{sc.SLA_SECONDS:g} s"
    low = sc.LOW_CONFIDENCE
    stages = "|".join(sc.FUNNEL_STAGES)
    panels = [
        p.row(g, "Funnel (selected time range)"),
        p.bars(
            g,
            "Funnel stages reached",
            "How many times each business outcome happened: conversation started, "
            "lead created, booking created and confirmed, reminder sent, visit completed, no-show, cancelled, "
            "escalated to a human, paid, rescheduled, complaint.",
            [
                PromTarget(
                    q.increase_sum(q.count(sc.FUNNEL_EVENTS, f'{STAGE}=~"{stages}"'), group=STAGE),
                    legend=f"{{{{{STAGE}}}}}",
                    instant=True,
                )
            ],
            p.COUNT,
            w=12,
            h=10,
        ),
        p.timeseries(
            g,
            "No-shows vs reminders sent (per day)",
            "Reminders sent, visits completed and no-shows per day: do reminders keep clients coming?",
            [
                PromTarget(f"86400 * {q.rate_sum(stage(name), '1h')}", legend=name)
                for name in (sc.REMINDER_SENT, sc.VISIT_COMPLETED, sc.NO_SHOW)
            ],
            p.COUNT,
            w=12,
            h=10,
        ),
        p.stat(
            g,
            "No-show rate",
            "Share of appointments the client did not come to (no-show / (visit + no-show)).",
            [
                PromTarget(
                    f"{q.increase_sum(stage(sc.NO_SHOW))} / ({q.increase_sum(stage(sc.NO_SHOW))} + "
                    f"{q.increase_sum(stage(sc.VISIT_COMPLETED))})"
                )
            ],
            p.PERCENT,
            thresholds=p.steps((0.1, p.ORANGE), (0.2, p.RED)),
            w=6,
        ),
        p.stat(
            g,
            "Escalated to a human",
            "Conversations the bot handed over to a person.",
            [PromTarget(f"round({q.increase_sum(stage(sc.ESCALATED))})")],
            p.COUNT,
            decimals=0,
            w=6,
        ),
        p.stat(
            g,
            "Conversion chat → booking",
            "Share of conversations that ended with a booking.",
            [PromTarget(conversion(""))],
            p.PERCENT,
            w=6,
        ),
        p.stat(
            g,
            "Leads created",
            "Conversations that became a lead in the CRM.",
            [PromTarget(f"round({q.increase_sum(stage(sc.LEAD_CREATED))})")],
            p.COUNT,
            decimals=0,
            w=6,
        ),
        p.row(g, "A/B: scenario variants"),
        p.bars(
            g,
            "Conversion chat → booking, by variant",
            "Which scenario variant turns more chats into bookings.",
            [PromTarget(conversion(VARIANT), legend=f"variant {{{{{VARIANT}}}}}", instant=True)],
            p.PERCENT,
            max_value=1,
            w=8,
        ),
        p.timeseries(
            g,
            "Conversion by variant over time (6 h window)",
            "Bookings / conversations over the last 6 h, per variant.",
            [PromTarget(conversion(VARIANT, "6h"), legend=f"variant {{{{{VARIANT}}}}}")],
            p.PERCENT,
            w=8,
        ),
        p.timeseries(
            g,
            "Reply time p95, by variant",
            f"95 % of replies are faster than this. Red line: the {sla} promise.",
            [
                PromTarget(
                    q.quantile(0.95, sc.TURN_DURATION, VARIANT), legend=f"variant {{{{{VARIANT}}}}}", exemplar=True
                )
            ],
            p.SECONDS,
            thresholds=p.steps((sc.SLA_SECONDS, p.RED)),
            threshold_style="line",
            w=8,
        ),
        p.timeseries(
            g,
            f"Replies slower than {sla}, by variant",
            f"Share of replies over {sla} (5 min window).",
            [
                PromTarget(
                    q.share_above(sc.TURN_DURATION, sc.SLA_SECONDS, "5m", VARIANT), legend=f"variant {{{{{VARIANT}}}}}"
                )
            ],
            p.PERCENT,
            thresholds=p.steps(
                (th.threshold(th.TURN_SLA_BREACH_WARNING_RATIO), p.ORANGE),
                (th.threshold(th.TURN_SLA_BREACH_CRITICAL_RATIO), p.RED),
            ),
            threshold_style="area",
            w=12,
        ),
        p.timeseries(
            g,
            f"Unsure replies (confidence ≤ {low:g}), by variant",
            f"Share of replies whose intent was recognised with confidence {low:g} or lower (15 min window).",
            [
                PromTarget(
                    q.share_at_or_below(sc.INTENT_CONFIDENCE_METRIC, low, "15m", VARIANT),
                    legend=f"variant {{{{{VARIANT}}}}}",
                )
            ],
            p.PERCENT,
            thresholds=p.steps((th.threshold(th.LOW_INTENT_CONFIDENCE_RATIO), p.RED)),
            threshold_style="line",
            w=12,
        ),
        p.row(g, "A/B: LLM models"),
        p.timeseries(
            g,
            "Reply time p95, by model",
            f"95 % of replies are faster than this. Red line: the {sla} promise.",
            [PromTarget(q.quantile(0.95, sc.TURN_DURATION, MODEL), legend=f"{{{{{MODEL}}}}}", exemplar=True)],
            p.SECONDS,
            thresholds=p.steps((sc.SLA_SECONDS, p.RED)),
            threshold_style="line",
            w=8,
        ),
        p.timeseries(
            g,
            "LLM call time p95, by model",
            "Time the model itself takes, 95th percentile.",
            [
                PromTarget(
                    q.quantile(0.95, sc.GEN_AI_OPERATION_DURATION, MODEL), legend=f"{{{{{MODEL}}}}}", exemplar=True
                )
            ],
            p.SECONDS,
            w=8,
        ),
        p.timeseries(
            g,
            "Cost per conversation, by model",
            "LLM dollars spent per conversation (1 h window).",
            [
                PromTarget(
                    f"{q.rate_sum(q.count(sc.LLM_COST_METRIC), '1h', MODEL)} / scalar("
                    f"{q.rate_sum(CONVERSATIONS, '1h')})",
                    legend=f"{{{{{MODEL}}}}}",
                )
            ],
            p.USD,
            w=8,
        ),
        p.timeseries(
            g,
            f"Unsure replies (confidence ≤ {low:g}), by model",
            f"Share of replies recognised with confidence {low:g} or lower, by the model that produced the reply "
            "(15 min window).",
            [
                PromTarget(
                    q.share_at_or_below(sc.INTENT_CONFIDENCE_METRIC, low, "15m", MODEL), legend=f"{{{{{MODEL}}}}}"
                )
            ],
            p.PERCENT,
            thresholds=p.steps((th.threshold(th.LOW_INTENT_CONFIDENCE_RATIO), p.RED)),
            threshold_style="line",
            w=24,
        ),
    ]
    return make_dashboard(
        UID,
        "botwatch · Funnel and experiments",
        "Funnel stages, and conversion, confidence and latency compared by scenario variant and by model.",
        panels,
        v.STANDARD,
        time_from="now-7d",
        annotations=change_annotations(),
    )
