"""Every name botwatch emits, once.

The SDK, the gateway, the dashboards generator, the alert rules and the tests
import these constants; nothing else spells a span, attribute, metric, label
or funnel-stage name.  Standard OpenTelemetry names are used where they exist
(GenAI semantic conventions, ``session.id``, ``error.type``); our own live in
the ``botwatch.`` namespace.

Each metric is described by a :class:`Metric`: its OTel name, instrument
type, unit, bucket boundaries and the attribute keys it carries, beside the
name it has in Prometheus after the collector's translation (dots become
underscores, the unit becomes a suffix, counters gain ``_total``).  The
Prometheus names are proven by the end-to-end test through the real
collector; if that translation changes, this file changes and nothing else.

Every ``botwatch.*`` attribute, event and metric here is also described in
``semconv_registry/botwatch.yaml`` (the semantic-conventions registry format
OTel Weaver reads); ``tests/sdk/test_semconv_registry.py`` fails when the two
disagree, so a name added here needs its entry there.  Standard names follow
semantic conventions v1.41.1 (:data:`SCHEMA_URL`), the last release that
defines the GenAI conventions in core.

How the names fit together (which span, log record and measurement a turn
makes, the gateway's mapping, tenants) is ``docs/trace-model.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# The semantic-conventions release botwatch's standard names follow; every
# instrumentation scope botwatch creates carries its schema URL.
SEMCONV_VERSION: Final = "1.41.1"
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

# --- spans -------------------------------------------------------------------
SPAN_CONVERSATION: Final = "conversation"
SPAN_TURN: Final = "turn"
SPAN_CHAT_PREFIX: Final = "chat"  # "chat {model}", GenAI semconv span name
SPAN_CRM_PREFIX: Final = "crm."  # "crm.{action}", e.g. "crm.lead.create"
SPAN_MESSAGE_SEND: Final = "message.send"  # PRODUCER, with the messaging.* attributes below
SPAN_FUNNEL: Final = "funnel"  # carries a funnel event recorded outside a turn
SPAN_REVIEW: Final = "review"  # an owner's review label of one turn


def chat_span_name(model: str) -> str:
    return f"{SPAN_CHAT_PREFIX} {model}"


def crm_span_name(action: str) -> str:
    return f"{SPAN_CRM_PREFIX}{action}"


# --- resource / standard attributes ------------------------------------------
SERVICE_NAME: Final = "service.name"
SERVICE_VERSION: Final = "service.version"  # the bot's release: change impact compares before and after
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
ERROR_TYPE: Final = "error.type"  # set only when the operation failed, never ""
SERVER_ADDRESS: Final = "server.address"  # CLIENT spans: the host called (never a path or token)
SERVER_PORT: Final = "server.port"

# --- messaging semantic conventions (the message.send PRODUCER span) ----------
MESSAGING_SYSTEM: Final = "messaging.system"  # the channel: telegram, whatsapp...
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_OPERATION_SEND: Final = "send"
# messaging.destination.name is not set: the destination is a client's chat (personal data).

# --- code attributes (log records bridged from loguru / logging) --------------
CODE_FUNCTION_NAME: Final = "code.function.name"  # fully qualified: module.Class.func
CODE_LINE_NUMBER: Final = "code.line.number"
CODE_FILE_PATH: Final = "code.file.path"

# --- GenAI semantic conventions ----------------------------------------------
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_OPERATION_CHAT: Final = "chat"
# gen_ai.operation.name is a closed set: metrics keep it as it is.
GEN_AI_OPERATIONS: Final[tuple[str, ...]] = (
    GEN_AI_OPERATION_CHAT,
    "text_completion",
    "embeddings",
    "generate_content",
    "execute_tool",
    "create_agent",
    "invoke_agent",
)
GEN_AI_TOKEN_TYPE_INPUT: Final = "input"
GEN_AI_TOKEN_TYPE_OUTPUT: Final = "output"

# --- botwatch attributes -----------------------------------------------------
CHANNEL: Final = "botwatch.channel"
CLIENT_ID: Final = "botwatch.client.id"  # keyed hash of phone / e-mail
CLIENT_PHONE_MASKED: Final = "botwatch.client.phone.masked"  # "+7 *** ***-45-21"
SCENARIO_VARIANT: Final = "botwatch.scenario.variant"
# prompt/scenario version an operator sets; on the resource (OTEL_RESOURCE_ATTRIBUTES) it is also the Prometheus
# label botwatch_scenario_version of every series (collector: resource_constant_labels), one value per process
SCENARIO_VERSION: Final = "botwatch.scenario.version"
TURN_INDEX: Final = "botwatch.turn.index"
INTENT: Final = "botwatch.intent"
INTENT_CONFIDENCE: Final = "botwatch.intent.confidence"
SLA_BREACHED: Final = "botwatch.sla.breached"
REPLY_UNTIMED: Final = "botwatch.reply.untimed"  # true on a reply whose time was not measured (no latency_ms)
CRM_SYSTEM: Final = "botwatch.crm.system"
CRM_ACTION: Final = "botwatch.crm.action"
CRM_ENTITY_ID: Final = "botwatch.crm.entity.id"
CRM_OUTCOME: Final = "botwatch.crm.outcome"
MESSAGE_KIND: Final = "botwatch.message.kind"  # reminder, confirmation, ...
HANDLER: Final = "botwatch.handler"  # module.qualname of the bot framework handler that ran
MESSAGE_TEXT: Final = "botwatch.message.text"  # masked text; absent when capture is off
# Chat-framework integrations (aiogram, python-telegram-bot): on every turn / message record.
BOT_ID: Final = "botwatch.bot.id"  # the Telegram bot's numeric id (from its token)
UPDATE_KIND: Final = "botwatch.update.kind"  # Bot API update type: message, edited_message, callback_query...
UPDATE_UNHANDLED: Final = "botwatch.update.unhandled"  # true: no handler took the update; not a turn in KPIs
CHAT_NON_CLIENT: Final = "botwatch.chat.non_client"  # true: an admin/notification chat; out of client KPIs
MEDIA_KIND: Final = "botwatch.media.kind"  # photo, voice, video_note, video, audio, document, sticker...
MEDIA_SIZE: Final = "botwatch.media.size"  # bytes, when known
MEDIA_DURATION: Final = "botwatch.media.duration"  # seconds (voice, video note, video, audio)
MESSAGE_MARKUP: Final = "botwatch.message.markup"  # parse mode of a reply: html, markdown, markdownv2
FUNNEL_STAGE: Final = "botwatch.funnel.stage"
# Deprecated: records before 0.2 mirrored their event name in this attribute;
# now the name is only the log record's EventName.  Still read from old data.
LEGACY_EVENT_ATTRIBUTE: Final = "botwatch.event"
LLM_COST: Final = "botwatch.llm.cost"
REVIEW_VERDICT: Final = "botwatch.review.verdict"  # correct / wrong
REVIEW_TRUE_INTENT: Final = "botwatch.review.true_intent"
REVIEW_VERDICT_CORRECT: Final = "correct"
REVIEW_VERDICT_WRONG: Final = "wrong"

CRM_OUTCOME_SUCCESS: Final = "success"
CRM_OUTCOME_ERROR: Final = "error"
CRM_SYSTEM_BITRIX24: Final = "bitrix24"
CRM_ACTION_LEAD_CREATE: Final = "lead.create"

OTHER: Final = "other"  # what any label value outside an allow-list becomes

# --- event names (log record EventName, span event name) ----------------------
# Application events, so in the botwatch. namespace.
EVENT_MESSAGE_RECEIVED: Final = "botwatch.message.received"
EVENT_BOT_REPLIED: Final = "botwatch.bot.replied"
EVENT_MESSAGE_SENT: Final = "botwatch.message.sent"
EVENT_INTENT: Final = "botwatch.intent.recognized"
EVENT_LLM_CALL: Final = "botwatch.llm.call"
EVENT_CRM_ACTION: Final = "botwatch.crm.action"
EVENT_FUNNEL_PREFIX: Final = "botwatch.funnel."
EVENT_ERROR: Final = "botwatch.conversation.error"
EVENT_REVIEW: Final = "botwatch.review.labeled"
EVENT_CRM_RETRY: Final = "botwatch.crm.retry"  # span event: one attempt failed, the client waits and retries

# Loki does not map a log record's EventName; the collector copies it into this
# attribute on the way to Loki, where LogQL filters on it (``| event_name="..."``).
LOKI_EVENT_NAME: Final = "event_name"

_NAMESPACE: Final = "botwatch."
# Names journals and Loki hold from before the botwatch. prefix (read, never written).
_LEGACY_EVENTS: Final = frozenset(
    name.removeprefix(_NAMESPACE)
    for name in (
        EVENT_MESSAGE_RECEIVED,
        EVENT_BOT_REPLIED,
        EVENT_MESSAGE_SENT,
        EVENT_INTENT,
        EVENT_LLM_CALL,
        EVENT_CRM_ACTION,
        EVENT_ERROR,
        EVENT_REVIEW,
        EVENT_CRM_RETRY,
    )
)


def funnel_event_name(stage: str) -> str:
    return f"{EVENT_FUNNEL_PREFIX}{stage}"


def current_event_name(name: str | None) -> str | None:
    """An event name as botwatch writes it now: ``message.received`` (old data) -> ``botwatch.message.received``."""
    if name and (name in _LEGACY_EVENTS or name.startswith("funnel.")):
        return _NAMESPACE + name
    return name


def event_names_read(name: str) -> tuple[str, str]:
    """The current name and its pre-namespace spelling, for queries over old and new records."""
    return name, name.removeprefix(_NAMESPACE)


# --- funnel stages ----------------------------------------------------------
CONVERSATION_STARTED: Final = "conversation_started"
LEAD_CREATED: Final = "lead_created"
BOOKING_CREATED: Final = "booking_created"
BOOKING_CONFIRMED: Final = "booking_confirmed"
REMINDER_SENT: Final = "reminder_sent"
VISIT_COMPLETED: Final = "visit_completed"
NO_SHOW: Final = "no_show"
CANCELLED: Final = "cancelled"
ESCALATED: Final = "escalated"
PAID: Final = "paid"
RESCHEDULED: Final = "rescheduled"  # the client moved a booking to another time
COMPLAINT: Final = "complaint"  # the client complained

FUNNEL_STAGES: Final[tuple[str, ...]] = (
    CONVERSATION_STARTED,
    LEAD_CREATED,
    BOOKING_CREATED,
    BOOKING_CONFIRMED,
    REMINDER_SENT,
    VISIT_COMPLETED,
    NO_SHOW,
    CANCELLED,
    ESCALATED,
    PAID,
    RESCHEDULED,
    COMPLAINT,
)

# --- channels known out of the box (anything else is "other" in metrics) -----
DEFAULT_CHANNELS: Final[tuple[str, ...]] = (
    "whatsapp",
    "telegram",
    "instagram",
    "web",
    "vk",
    "max",
    "avito",
    "sms",
    "email",
    "phone",
)

# --- SLA and thresholds the dashboards and alerts share ------------------------
SLA_SECONDS: Final = 3.0
LOW_CONFIDENCE: Final = 0.6


# --- metrics ------------------------------------------------------------------
def prometheus_label(attribute: str) -> str:
    """The label name Prometheus shows for an OTel attribute key."""
    return attribute.replace(".", "_")


@dataclass(frozen=True)
class Metric:
    name: str  # OTel name
    instrument: str  # "histogram" | "counter"
    unit: str
    description: str
    prometheus: str  # base name in Prometheus (histograms: + _bucket/_sum/_count)
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] = field(default=())

    @property
    def prometheus_series(self) -> tuple[str, ...]:
        if self.instrument == "histogram":
            return tuple(f"{self.prometheus}_{s}" for s in ("bucket", "sum", "count"))
        return (self.prometheus,)

    @property
    def prometheus_labels(self) -> tuple[str, ...]:
        return tuple(prometheus_label(a) for a in self.attributes)


TURN_DURATION_BUCKETS: Final = (0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0, 30.0)
CONFIDENCE_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
LLM_DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

TURN_DURATION: Final = Metric(
    name="botwatch.turn.duration",
    instrument="histogram",
    unit="s",
    description="Time from a client's message to the bot's reply.",
    prometheus="botwatch_turn_duration_seconds",
    attributes=(CHANNEL, INTENT, GEN_AI_REQUEST_MODEL, SCENARIO_VARIANT),
    buckets=TURN_DURATION_BUCKETS,
)
INTENT_CONFIDENCE_METRIC: Final = Metric(
    name="botwatch.intent.confidence",
    instrument="histogram",
    unit="1",
    description="Confidence of the recognised intent, 0..1.",
    prometheus="botwatch_intent_confidence",
    # Variant and model too (the original contract listed channel and intent; see
    # docs/trace-model.md, "Where the code differs"): the A/B
    # panels compare confidence by scenario variant and model version.
    attributes=(CHANNEL, INTENT, GEN_AI_REQUEST_MODEL, SCENARIO_VARIANT),
    buckets=CONFIDENCE_BUCKETS,
)
CRM_ACTIONS: Final = Metric(
    name="botwatch.crm.actions",
    instrument="counter",
    unit="{action}",
    description="CRM actions by system, action, outcome and error type.",
    prometheus="botwatch_crm_actions_total",
    attributes=(CRM_SYSTEM, CRM_ACTION, CRM_OUTCOME, ERROR_TYPE),
)
CONVERSATIONS: Final = Metric(
    name="botwatch.conversations",
    instrument="counter",
    unit="{conversation}",
    description="Conversations started.",
    prometheus="botwatch_conversations_total",
    attributes=(CHANNEL, SCENARIO_VARIANT),
)
FUNNEL_EVENTS: Final = Metric(
    name="botwatch.funnel.events",
    instrument="counter",
    unit="{event}",
    description="Business outcomes: funnel stages reached.",
    prometheus="botwatch_funnel_events_total",
    attributes=(FUNNEL_STAGE, CHANNEL, SCENARIO_VARIANT),
)
LLM_COST_METRIC: Final = Metric(
    name="botwatch.llm.cost",
    instrument="counter",
    unit="{USD}",
    description="LLM spend in US dollars, as reported by the caller.",
    prometheus="botwatch_llm_cost_total",
    attributes=(GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL),
)
REVIEWS: Final = Metric(
    name="botwatch.reviews",
    instrument="counter",
    unit="{review}",
    description="Owner review labels of recognised intents.",
    prometheus="botwatch_reviews_total",
    attributes=(INTENT, REVIEW_VERDICT, REVIEW_TRUE_INTENT),
)
GEN_AI_OPERATION_DURATION: Final = Metric(
    name="gen_ai.client.operation.duration",
    instrument="histogram",
    unit="s",
    description="GenAI operation duration.",
    prometheus="gen_ai_client_operation_duration_seconds",
    attributes=(GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_RESPONSE_MODEL, ERROR_TYPE),
    buckets=LLM_DURATION_BUCKETS,
)
GEN_AI_TOKEN_USAGE: Final = Metric(
    name="gen_ai.client.token.usage",
    instrument="histogram",
    unit="{token}",
    description="Number of input and output tokens used.",
    prometheus="gen_ai_client_token_usage",
    attributes=(
        GEN_AI_OPERATION_NAME,
        GEN_AI_PROVIDER_NAME,
        GEN_AI_REQUEST_MODEL,
        GEN_AI_RESPONSE_MODEL,
        GEN_AI_TOKEN_TYPE,
    ),
    buckets=TOKEN_BUCKETS,
)

TELEMETRY_DROPPED: Final = Metric(
    name="botwatch.telemetry.dropped",
    instrument="counter",
    unit="{item}",
    description="Measurements and log records the SDK dropped because its queue was full.",
    prometheus="botwatch_telemetry_dropped_total",
    attributes=(),
)

METRICS: Final[tuple[Metric, ...]] = (
    TURN_DURATION,
    INTENT_CONFIDENCE_METRIC,
    CRM_ACTIONS,
    CONVERSATIONS,
    FUNNEL_EVENTS,
    LLM_COST_METRIC,
    REVIEWS,
    GEN_AI_OPERATION_DURATION,
    GEN_AI_TOKEN_USAGE,
    TELEMETRY_DROPPED,
)

# The SDK's own health (opentelemetry-sdk processor self-metrics): a span or
# log record dropped because the export queue was full is counted here with
# error.type="queue_full".
SDK_SPANS_PROCESSED: Final = "otel.sdk.processor.span.processed"
SDK_LOGS_PROCESSED: Final = "otel.sdk.processor.log.processed"
SDK_SPANS_PROCESSED_PROMETHEUS: Final = "otel_sdk_processor_span_processed_total"
SDK_LOGS_PROCESSED_PROMETHEUS: Final = "otel_sdk_processor_log_processed_total"

# Labels every series carries after the collector (resource attributes).
PROMETHEUS_JOB_LABEL: Final = "job"  # = service.name (service.namespace/service.name)
PROMETHEUS_SERVICE_LABEL: Final = "service_name"


def metric_by_name(name: str) -> Metric:
    for metric in (*METRICS, LABEL_BUDGET_EXCEEDED):
        if name in (metric.name, metric.prometheus) or name in metric.prometheus_series:
            return metric
    raise KeyError(f"unknown botwatch metric {name!r}; known: {', '.join(m.name for m in METRICS)}")


# --- gateway ------------------------------------------------------------------
# The webhook gateway (botwatch.gateway) and the Bitrix24 client (botwatch.crm).
TENANT: Final = "botwatch.tenant"  # configured tenant id of the gateway
GATEWAY_EVENT_ID: Final = "botwatch.gateway.event_id"  # the bot's event_id, on the span it became
GATEWAY_OUTCOME: Final = "botwatch.gateway.outcome"  # accepted / duplicate / rejected
GATEWAY_REASON: Final = "botwatch.gateway.reason"  # a reason code, never free text
CRM_ATTEMPTS: Final = "botwatch.crm.attempts"  # HTTP attempts one CRM call took (retries included)

GATEWAY_ACCEPTED: Final = "accepted"
GATEWAY_DUPLICATE: Final = "duplicate"
GATEWAY_REJECTED: Final = "rejected"

CRM_ACTION_DUPLICATE_FIND: Final = "duplicate.find"
CRM_ACTION_COMMENT_ADD: Final = "timeline.comment.add"
# What no-code builders call their CRM actions -> the crm span's action name
# (the gateway maps events in, `botwatch export` maps the first word back).
CRM_ACTION_ALIASES: Final[dict[str, str]] = {
    "create_lead": CRM_ACTION_LEAD_CREATE,
    "lead_create": CRM_ACTION_LEAD_CREATE,
    "add_comment": CRM_ACTION_COMMENT_ADD,
    "create_deal": "deal.create",
    "update_deal": "deal.update",
    "create_booking": "booking.create",
    "confirm_booking": "booking.confirm",
    "cancel_booking": "booking.cancel",
}

# OpenTelemetry HTTP semantic conventions (the gateway's request metric).
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"  # absent when no route matched
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_SCHEME: Final = "url.scheme"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"
HTTP_METHODS: Final = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
HTTP_METHOD_OTHER: Final = "_OTHER"  # any method outside HTTP_METHODS

# The buckets the HTTP semantic conventions advise for http.server.request.duration.
HTTP_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

GATEWAY_EVENTS: Final = Metric(
    name="botwatch.gateway.events",
    instrument="counter",
    unit="{event}",
    description="Webhook events by tenant and outcome (accepted, duplicate, rejected with a reason code).",
    prometheus="botwatch_gateway_events_total",
    attributes=(TENANT, GATEWAY_OUTCOME, GATEWAY_REASON),
)
HTTP_SERVER_REQUEST_DURATION: Final = Metric(
    name="http.server.request.duration",
    instrument="histogram",
    unit="s",
    description="Duration of the gateway's HTTP requests.",
    prometheus="http_server_request_duration_seconds",
    attributes=(
        HTTP_REQUEST_METHOD,
        URL_SCHEME,
        HTTP_ROUTE,
        HTTP_RESPONSE_STATUS_CODE,
        NETWORK_PROTOCOL_VERSION,
        ERROR_TYPE,
    ),
    buckets=HTTP_DURATION_BUCKETS,
)

# Not in METRICS: only a gateway process exports these (the SDK test checks every METRICS entry).
GATEWAY_METRICS: Final[tuple[Metric, ...]] = (GATEWAY_EVENTS, HTTP_SERVER_REQUEST_DURATION)

# --- label budgets --------------------------------------------------------------
# Per tenant, each label's distinct values and each metric's label sets are
# budgeted (botwatch.budgets); what does not fit becomes OTHER for that tenant
# alone, never the SDK's label-less overflow series that all tenants share.
BUDGET_KIND: Final = "botwatch.budget.kind"  # values (a label's distinct values) or series (a metric's label sets)
BUDGET_SUBJECT: Final = "botwatch.budget.subject"  # the label (values) or the metric (series) whose budget is spent
BUDGET_KIND_VALUES: Final = "values"
BUDGET_KIND_SERIES: Final = "series"
LABEL_BUDGET_EXCEEDED: Final = Metric(
    name="botwatch.label.budget.exceeded",
    instrument="counter",
    unit="{value}",
    description="Label values refused and measurements folded into other because a tenant's label budget is spent.",
    prometheus="botwatch_label_budget_exceeded_total",
    attributes=(TENANT, BUDGET_KIND, BUDGET_SUBJECT),
)
# Not in METRICS either: exported only once a budget is hit.
