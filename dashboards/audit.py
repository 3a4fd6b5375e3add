"""Conversation audit: what exactly happened in one conversation, and which ones went wrong."""

from __future__ import annotations

from grafanalib import core

from botwatch import semconv as sc
from dashboards import panels as p
from dashboards import queries as q
from dashboards import variables as v
from dashboards.builder import make_dashboard
from dashboards.targets import LokiTarget, TempoTarget

UID = "botwatch-audit"

CHANNEL_LOGS = q.loki_filter(sc.CHANNEL, f"${v.CHANNEL}", "=~")
CHANNEL_SPANS = f'{q.span_attr(sc.CHANNEL)} =~ "${v.CHANNEL}"'


def build() -> core.Dashboard:
    g = p.Grid()
    low = f"{sc.LOW_CONFIDENCE:g}"
    panels = [
        p.note(
            g,
            "How to use",
            (
                "Paste a **conversation id** in the box at the top (it is on the CRM lead and in Telegram alerts). "
                "The log below is the conversation as the client and the bot saw it; the trace table shows every "
                "step (LLM calls, CRM actions). Click a trace id to open the whole conversation as a trace, and a "
                "log line's *trace_id* to jump to its trace."
            ),
        ),
        p.row(g, "One conversation"),
        p.logs(
            g,
            "Conversation log",
            "Every message, reply, CRM action and funnel stage of the conversation, oldest first.",
            [
                LokiTarget(
                    q.logql(q.loki_filter(sc.GEN_AI_CONVERSATION_ID, f"${v.CONVERSATION}")),
                    direction="forward",
                    max_lines=1000,
                )
            ],
            w=14,
            h=14,
        ),
        p.trace_table(
            g,
            "Trace of the conversation",
            "The conversation's spans: turns, LLM calls, CRM actions, "
            "messages sent. Click the trace id to see them as a timeline.",
            [
                TempoTarget(
                    q.traceql(f'{q.span_attr(sc.GEN_AI_CONVERSATION_ID)} = "${v.CONVERSATION}"'),
                    limit=5,
                    spss=100,
                    table_type="spans",
                )
            ],
            w=10,
            h=14,
        ),
        p.row(g, "Conversations to look at"),
        p.trace_table(
            g,
            f"Recent unsure replies (confidence ≤ {low})",
            f"Client messages the bot recognised with confidence {low} or lower. Open the trace to read "
            "the conversation and decide whether the scenario needs a new intent.",
            [
                TempoTarget(
                    q.traceql(
                        f'name = "{sc.SPAN_TURN}"', f"{q.span_attr(sc.INTENT_CONFIDENCE)} <= {low}", CHANNEL_SPANS
                    ),
                    limit=50,
                    table_type="spans",
                )
            ],
            w=12,
        ),
        p.trace_table(
            g,
            "Recent failed CRM actions",
            "CRM calls that failed (e.g. a lead that was not created). "
            "Open the trace to see the client's request and the error; re-enter the lead by hand.",
            [
                TempoTarget(
                    q.traceql(f'{q.span_attr(sc.CRM_OUTCOME)} = "{sc.CRM_OUTCOME_ERROR}"', CHANNEL_SPANS),
                    limit=50,
                    table_type="spans",
                )
            ],
            w=12,
        ),
        p.trace_table(
            g,
            f"Recent slow replies (over {sc.SLA_SECONDS:g} s)",
            "Replies that broke the response-time promise; the trace shows whether the LLM or the CRM was slow.",
            [
                TempoTarget(
                    q.traceql(f'name = "{sc.SPAN_TURN}"', f"{q.span_attr(sc.SLA_BREACHED)} = true", CHANNEL_SPANS),
                    limit=50,
                    table_type="spans",
                )
            ],
            w=12,
        ),
        p.logs(
            g,
            "Failed CRM actions (log)",
            "The journal lines of failed CRM actions; each links to its trace.",
            [
                LokiTarget(
                    q.logql(
                        q.loki_filter(sc.LOKI_EVENT_NAME, sc.EVENT_CRM_ACTION),
                        q.loki_filter(sc.CRM_OUTCOME, sc.CRM_OUTCOME_ERROR),
                        CHANNEL_LOGS,
                    )
                )
            ],
            w=12,
            h=10,
        ),
    ]
    return make_dashboard(
        UID,
        "botwatch · Conversation audit",
        "Pick a conversation id: its log lines (Loki) and its trace (Tempo); recent unsure replies and failed CRM "
        "actions with links to their traces.",
        panels,
        (v.job, v.channel, v.variant, v.model, v.conversation),
        time_from="now-7d",
    )
