"""The subcommands and their one-line summaries, known without importing them.

``botwatch --help`` lists these; ``botwatch NAME ...`` imports only
``botwatch.cli.NAME``, so a command starts without the others' dependencies
(and a core install runs every command whose extras it does not need).
"""

from __future__ import annotations

SUMMARIES: dict[str, str] = {
    "demo": "run simulated bots (salon, clinic, barbershop) and show their KPIs",
    "kpi": "conversion, no-shows, SLA, confidence, lead failures for a period",
    "replay": "a conversation as a transcript: messages, intents, LLM calls, CRM actions, funnel",
    "sessions": "find conversations: by channel, intent, low confidence, slow replies, failed CRM calls, variant",
    "insights": "where clients are lost (scenario steps ranked, with intervals) and what a model or release switch did",
    "export": "all events of a period as CSV or JSON lines (the webhook gateway's event shape)",
    "audit": "review loop: sample conversations, list unsure intents, label a turn right or wrong",
    "report": "the owner's weekly report: HTML with charts, optionally sent to Telegram",
    "gateway": "HTTP webhook gateway: bot events -> traces, logs, metrics (and Bitrix24 leads)",
    "stack": "run the backends natively (collector, Prometheus, Alertmanager, journal): up, down, status",
}
