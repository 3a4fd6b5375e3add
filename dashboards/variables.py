"""Template variables.  Names are part of the contract: the Telegram alert
template links with ``var-job`` and ``var-channel``."""

from __future__ import annotations

from typing import Any

import attr

from botwatch import semconv
from dashboards import datasources

JOB = "job"
TENANT = "tenant"
CHANNEL = "channel"
VARIANT = "variant"
MODEL = "model"
CONVERSATION = "conversation"
ALL = ".*"
# "All bots": every series, stream and span has a service name.  Loki refuses a stream
# selector whose matchers all accept the empty string ({service_name=~".*"} is HTTP 400),
# so the job variable's "All" must need at least one character.
ALL_NON_EMPTY = ".+"


@attr.s(frozen=True)
class QueryVariable:
    """A drop-down filled from Prometheus label values; "All" means the regex ``all_value``."""

    name: str = attr.ib()
    label: str = attr.ib()
    query: str = attr.ib()  # label_values(selector, label)
    description: str = attr.ib(default="")
    all_value: str = attr.ib(default=ALL)

    def to_json_data(self) -> dict[str, Any]:
        return {
            "allValue": self.all_value,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": datasources.PROMETHEUS,
            "definition": self.query,
            "description": self.description,
            "hide": 0,
            "includeAll": True,
            "label": self.label,
            "multi": True,
            "name": self.name,
            "options": [],
            "query": {"qryType": 1, "query": self.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }


@attr.s(frozen=True)
class TextVariable:
    """A free-text box, e.g. a conversation id pasted from the CRM or a Telegram alert."""

    name: str = attr.ib()
    label: str = attr.ib()
    default: str = attr.ib(default="")
    description: str = attr.ib(default="")

    def to_json_data(self) -> dict[str, Any]:
        current = {"selected": False, "text": self.default, "value": self.default}
        return {
            "current": current,
            "description": self.description,
            "hide": 0,
            "label": self.label,
            "name": self.name,
            "options": [current],
            "query": self.default,
            "skipUrlSync": False,
            "type": "textbox",
        }


def _values(metric: str, label_attribute: str, scope: str = f'job=~"${JOB}"') -> str:
    return f"label_values({metric}{{{scope}}}, {semconv.prometheus_label(label_attribute)})"


tenant = QueryVariable(
    TENANT,
    "Business",
    f"label_values({semconv.CONVERSATIONS.prometheus}, {semconv.prometheus_label(semconv.TENANT)})",
    "The tenant (botwatch.tenant): one business of an integrator's stack. All includes bots without one.",
)
job = QueryVariable(
    JOB,
    "Bot",
    f"label_values({semconv.CONVERSATIONS.prometheus}, {semconv.PROMETHEUS_JOB_LABEL})",
    "The bot (its service.name).",
    all_value=ALL_NON_EMPTY,
)
channel = QueryVariable(
    CHANNEL, "Channel", _values(semconv.CONVERSATIONS.prometheus, semconv.CHANNEL), "WhatsApp, Telegram, ..."
)
variant = QueryVariable(
    VARIANT,
    "Scenario variant",
    _values(semconv.CONVERSATIONS.prometheus, semconv.SCENARIO_VARIANT),
    "A/B variant of the bot's scenario.",
)
model = QueryVariable(
    MODEL,
    "LLM model",
    _values(semconv.GEN_AI_OPERATION_DURATION.prometheus_series[2], semconv.GEN_AI_REQUEST_MODEL),
    "The model the bot asked for.",
)
conversation = TextVariable(
    CONVERSATION,
    "Conversation id",
    description="Paste a conversation id (gen_ai.conversation.id), e.g. from the CRM lead or a Telegram alert.",
)

STANDARD = (tenant, job, channel, variant, model)
