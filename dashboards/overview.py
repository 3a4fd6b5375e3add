"""Bot overview: is the bot answering fast, understanding clients and creating leads?"""

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

UID = "botwatch-overview"

SLA_ALERT = "BotwatchResponseSLABreach"
CONFIDENCE_ALERT = "BotwatchLowIntentConfidence"
LEAD_ALERT = "BotwatchLeadCreationFailing"

CONVERSATIONS = q.count(sc.CONVERSATIONS)
TURNS = q.count(sc.TURN_DURATION)
LEAD_CREATE = q.matcher(sc.CRM_ACTION, sc.CRM_ACTION_LEAD_CREATE)
CRM_ERROR = q.matcher(sc.CRM_OUTCOME, sc.CRM_OUTCOME_ERROR)
LLM_ERRORS = q.count(sc.GEN_AI_OPERATION_DURATION, q.label(sc.ERROR_TYPE) + '!=""')
BOOKINGS = q.count(sc.FUNNEL_EVENTS, q.matcher(sc.FUNNEL_STAGE, sc.BOOKING_CREATED))
CHANNEL = q.label(sc.CHANNEL)
MODEL = q.label(sc.GEN_AI_REQUEST_MODEL)


def sla_steps() -> list[dict[str, object]]:
    return p.steps(
        (th.threshold(th.TURN_SLA_BREACH_WARNING_RATIO), p.ORANGE),
        (th.threshold(th.TURN_SLA_BREACH_CRITICAL_RATIO), p.RED),
    )


def confidence_steps() -> list[dict[str, object]]:
    return p.steps((th.threshold(th.LOW_INTENT_CONFIDENCE_RATIO), p.RED))


def lead_success_steps() -> list[dict[str, object]]:
    """Red below 1 - the failure ratio the alert fires at."""
    return p.steps((1 - th.threshold(th.LEAD_CREATE_FAILURE_RATIO), p.GREEN), base=p.RED)


def lead_success(window: str) -> str:
    return (
        f"1 - ({q.rate_sum(q.count(sc.CRM_ACTIONS, LEAD_CREATE, CRM_ERROR), window)} "
        f"or 0 * {q.rate_sum(q.count(sc.CRM_ACTIONS, LEAD_CREATE), window)}) "
        f"/ {q.rate_sum(q.count(sc.CRM_ACTIONS, LEAD_CREATE), window)}"
    )


def build() -> core.Dashboard:
    g = p.Grid()
    sla = f"{sc.SLA_SECONDS:g} s"
    low = f"{sc.LOW_CONFIDENCE:g}"
    panels = [
        p.row(g, "At a glance (selected time range)"),
        p.stat(
            g,
            "Conversations",
            "How many conversations clients started in the selected time range.",
            [PromTarget(f"round({q.increase_sum(CONVERSATIONS)})")],
            p.COUNT,
            decimals=0,
        ),
        p.stat(
            g,
            "Conversion chat → booking",
            "Share of conversations that ended with a booking.",
            [PromTarget(f"{q.increase_sum(BOOKINGS)} / {q.increase_sum(CONVERSATIONS)}")],
            p.PERCENT,
        ),
        p.stat(
            g,
            f"Replies slower than {sla}",
            f"Share of bot replies that took longer than the {sla} promise. Orange and red are the levels "
            f"at which the {SLA_ALERT} alert warns and pages.",
            [PromTarget(q.share_above(sc.TURN_DURATION, sc.SLA_SECONDS, q.RANGE))],
            p.PERCENT,
            thresholds=sla_steps(),
            links=[p.alert_link(SLA_ALERT), p.runbook_link(SLA_ALERT)],
        ),
        p.stat(
            g,
            f"Intents recognised with confidence ≤ {low}",
            f"Share of client messages the bot was unsure about (confidence {low} or lower). Red is where "
            f"the {CONFIDENCE_ALERT} alert fires.",
            [PromTarget(q.share_at_or_below(sc.INTENT_CONFIDENCE_METRIC, sc.LOW_CONFIDENCE, q.RANGE))],
            p.PERCENT,
            thresholds=confidence_steps(),
            links=[p.alert_link(CONFIDENCE_ALERT), p.runbook_link(CONFIDENCE_ALERT)],
        ),
        p.stat(
            g,
            "Leads created in the CRM",
            "Share of lead.create calls to the CRM that succeeded. "
            f"Red is where the {LEAD_ALERT} alert fires: every failure is a lost client.",
            [PromTarget(lead_success(q.RANGE))],
            p.PERCENT,
            thresholds=lead_success_steps(),
            links=[p.alert_link(LEAD_ALERT), p.runbook_link(LEAD_ALERT)],
        ),
        p.stat(
            g,
            "LLM spend",
            "Money spent on the language model in the selected time range (as the bot reports it).",
            [PromTarget(q.increase_sum(q.count(sc.LLM_COST_METRIC)))],
            p.USD,
            decimals=2,
        ),
        p.row(g, "Traffic"),
        p.timeseries(
            g,
            "Conversations per minute, by channel",
            "New conversations per minute in each channel.",
            [PromTarget(f"60 * {q.rate_sum(CONVERSATIONS, group=CHANNEL)}", legend=f"{{{{{CHANNEL}}}}}")],
            p.PER_MINUTE,
            stack=True,
        ),
        p.timeseries(
            g,
            "Client messages per minute, by channel",
            "Messages the bot answered per minute (one turn is one client message and the bot's reply).",
            [PromTarget(f"60 * {q.rate_sum(TURNS, group=CHANNEL)}", legend=f"{{{{{CHANNEL}}}}}")],
            p.PER_MINUTE,
            stack=True,
        ),
        p.row(g, "Speed of replies"),
        p.timeseries(
            g,
            "Reply time (median and 95th percentile)",
            f"How long clients wait for the reply. Half of the replies are faster than the median; 95 % "
            f"are faster than p95. The red line is the {sla} promise. Dots are example conversations: "
            "click one to open its trace.",
            [
                PromTarget(q.quantile(0.5, sc.TURN_DURATION), legend="median"),
                PromTarget(q.quantile(0.95, sc.TURN_DURATION), legend="p95", exemplar=True),
            ],
            p.SECONDS,
            thresholds=p.steps((sc.SLA_SECONDS, p.RED)),
            threshold_style="line",
            links=[p.alert_link(SLA_ALERT)],
        ),
        p.timeseries(
            g,
            f"Replies slower than {sla} (5 min window), by channel",
            f"Share of replies over {sla}, as the {SLA_ALERT} alert computes it (5 minute window). "
            "Dashed lines: the warning and critical levels.",
            [
                PromTarget(q.share_above(sc.TURN_DURATION, sc.SLA_SECONDS, "5m", CHANNEL), legend=f"{{{{{CHANNEL}}}}}"),
                PromTarget(th.series(th.TURN_SLA_BREACH_WARNING_RATIO), legend="warning level"),
                PromTarget(th.series(th.TURN_SLA_BREACH_CRITICAL_RATIO), legend="critical level"),
            ],
            p.PERCENT,
            thresholds=sla_steps(),
            threshold_style="area",
            links=[p.alert_link(SLA_ALERT), p.runbook_link(SLA_ALERT)],
        ),
        p.row(g, "Understanding and CRM"),
        p.timeseries(
            g,
            f"Unsure intents (confidence ≤ {low}, 15 min window), by channel",
            f"Share of messages recognised with confidence {low} or lower, as the {CONFIDENCE_ALERT} "
            "alert computes it (15 minute window). Dashed line: the alert level.",
            [
                PromTarget(
                    q.share_at_or_below(sc.INTENT_CONFIDENCE_METRIC, sc.LOW_CONFIDENCE, "15m", CHANNEL),
                    legend=f"{{{{{CHANNEL}}}}}",
                ),
                PromTarget(th.series(th.LOW_INTENT_CONFIDENCE_RATIO), legend="alert level"),
            ],
            p.PERCENT,
            thresholds=confidence_steps(),
            threshold_style="area",
            links=[p.alert_link(CONFIDENCE_ALERT), p.runbook_link(CONFIDENCE_ALERT)],
        ),
        p.timeseries(
            g,
            "Leads created successfully (5 min window)",
            f"Share of lead.create calls that succeeded, 5 minute window as in the {LEAD_ALERT} alert. "
            "Below the red line the alert fires.",
            [PromTarget(lead_success("5m"), legend="lead.create success")],
            p.PERCENT,
            thresholds=lead_success_steps(),
            threshold_style="area",
            links=[p.alert_link(LEAD_ALERT), p.runbook_link(LEAD_ALERT)],
        ),
        p.bars(
            g,
            "Top intents",
            "What clients write about most (selected time range).",
            [
                PromTarget(
                    f"topk(10, {q.increase_sum(TURNS, group=q.label(sc.INTENT))})",
                    legend=f"{{{{{q.label(sc.INTENT)}}}}}",
                    instant=True,
                )
            ],
            p.COUNT,
        ),
        p.timeseries(
            g,
            "Errors per minute",
            "CRM calls and LLM calls that failed, by error.",
            [
                PromTarget(
                    f"60 * {q.rate_sum(q.count(sc.CRM_ACTIONS, CRM_ERROR), group=q.by(sc.CRM_ACTION, sc.ERROR_TYPE))}",
                    legend=f"CRM {{{{{q.label(sc.CRM_ACTION)}}}}} {{{{{q.label(sc.ERROR_TYPE)}}}}}",
                ),
                PromTarget(
                    f"60 * {q.rate_sum(LLM_ERRORS, group=q.label(sc.ERROR_TYPE))}",
                    legend=f"LLM {{{{{q.label(sc.ERROR_TYPE)}}}}}",
                ),
            ],
            p.PER_MINUTE,
            bars=True,
            stack=True,
        ),
        p.row(g, "Language model"),
        p.timeseries(
            g,
            "LLM response time (p95), by model",
            "95 % of calls to the model are faster than this. Dots are example calls: click one to open its trace.",
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
            "Tokens per minute",
            "Tokens sent to (input) and received from (output) the model.",
            [
                PromTarget(
                    f"60 * {q.rate_sum(q.count(sc.GEN_AI_TOKEN_USAGE), group=q.label(sc.GEN_AI_TOKEN_TYPE))}",
                    legend=f"{{{{{q.label(sc.GEN_AI_TOKEN_TYPE)}}}}}",
                )
            ],
            p.PER_MINUTE,
            stack=True,
            w=8,
        ),
        p.timeseries(
            g,
            "LLM spend per hour, by model",
            "Dollars per hour at the current pace.",
            [PromTarget(f"3600 * {q.rate_sum(q.count(sc.LLM_COST_METRIC), group=MODEL)}", legend=f"{{{{{MODEL}}}}}")],
            p.USD,
            stack=True,
            w=8,
        ),
        p.row(g, "Owner's review labels"),
        p.bars(
            g,
            "Wrongly recognised as … (false positives)",
            "Reviewed messages where the bot chose this intent but the owner marked it wrong.",
            [
                PromTarget(
                    q.increase_sum(
                        q.count(sc.REVIEWS, q.matcher(sc.REVIEW_VERDICT, q.VERDICT_WRONG)), group=q.label(sc.INTENT)
                    ),
                    legend=f"{{{{{q.label(sc.INTENT)}}}}}",
                    instant=True,
                )
            ],
            p.COUNT,
            thresholds=p.steps((1, p.ORANGE)),
        ),
        p.bars(
            g,
            "Missed intents (false negatives)",
            "Reviewed messages that really were about this intent, but the bot chose another one.",
            [
                PromTarget(
                    q.increase_sum(
                        q.count(sc.REVIEWS, q.matcher(sc.REVIEW_VERDICT, q.VERDICT_WRONG)),
                        group=q.label(sc.REVIEW_TRUE_INTENT),
                    ),
                    legend=f"{{{{{q.label(sc.REVIEW_TRUE_INTENT)}}}}}",
                    instant=True,
                )
            ],
            p.COUNT,
            thresholds=p.steps((1, p.ORANGE)),
        ),
    ]
    return make_dashboard(
        UID,
        "botwatch · Bot overview",
        "Is the bot answering fast, understanding clients and creating leads? Thresholds are the alert rules'.",
        panels,
        v.STANDARD,
        annotations=change_annotations(),
    )
