"""The webhook event: its schema, and the check of one event with a reason code when it fails.

Reason codes are a closed set (they label a metric); the message beside one
explains it and never repeats the submitted value (it may be a phone).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from botwatch import ids, semconv
from botwatch.pii import phone_digits
from botwatch.validation import SURROGATE_PROBLEM, has_surrogate, name_problem, printable, strip_name

FunnelStage = Literal[
    "conversation_started",
    "lead_created",
    "booking_created",
    "booking_confirmed",
    "reminder_sent",
    "visit_completed",
    "no_show",
    "cancelled",
    "escalated",
    "paid",
    "rescheduled",
    "complaint",
]
assert set(FunnelStage.__args__) == set(semconv.FUNNEL_STAGES)  # type: ignore[attr-defined]


def _checked_name(value: str) -> str:
    """The SDK's own check of a name (``botwatch.validation``): what passes here, the SDK records."""
    value = strip_name(value)
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_checked_name)]
ShortName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_checked_name)]
Text = Annotated[str, Field(max_length=20_000)]


class Reason(StrEnum):
    INVALID = "invalid_event"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    NAIVE_TIMESTAMP = "naive_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    INVALID_PHONE = "invalid_phone"
    PERSONAL_DATA_IN_ID = "personal_data_in_id"
    DUPLICATE = "duplicate"
    NONE = ""


class Client(BaseModel):
    """Who wrote: the phone or e-mail is hashed and masked before telemetry; the name goes to the CRM only."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    phone: Annotated[str, Field(max_length=40), AfterValidator(_checked_name)] | None = None
    email: Annotated[str, Field(max_length=254), AfterValidator(_checked_name)] | None = None
    name: Annotated[str, Field(max_length=256)] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not 10 <= len(phone_digits(value)) <= 15:
            raise ValueError("client.phone must have 10-15 digits")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError("client.email must be an e-mail address")
        return value


class Event(BaseModel):
    """One thing that happened in a conversation: by default an inbound message and the bot's turn."""

    model_config = ConfigDict(
        extra="ignore",
        coerce_numbers_to_str=True,
        json_schema_extra={
            "example": {
                "event_id": "evt_20250101_001",
                "timestamp": "2025-01-01T12:34:56+03:00",
                "channel": "whatsapp",
                "client": {"phone": "+7xxxxxxxxxx", "name": "Иван"},
                "session_id": "sess_abc123",
                "intent": "запись_на_приём",
                "confidence": 0.87,
                "bot_response": "Записал на 15:00, отправил напоминание",
                "action": "create_lead",
                "crm_id": "BX_LEAD_4521",
            }
        },
    )

    event_id: Name = Field(description="Unique per tenant; a redelivered event_id is acknowledged, not counted twice.")
    timestamp: AwareDatetime = Field(description="When the client's message arrived (ISO 8601 with a UTC offset).")
    session_id: Annotated[str, Field(min_length=1, max_length=96, pattern=r"^[\w.:@/+#=-]+$")] = Field(
        description="The conversation (dialogue episode) id; one conversation is one trace."
    )
    channel: ShortName
    client: Client | None = None
    direction: Literal["inbound", "outbound"] = Field(
        default="inbound", description="outbound: a message the bot sent on its own (reminder, confirmation)."
    )
    text: Text | None = Field(
        default=None, description="The client's message (inbound) or the bot's message (outbound)."
    )
    message_kind: ShortName | None = Field(
        default=None, description="Kind of an outbound message: reminder, confirmation... (default reminder)."
    )
    intent: Name | None = None
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    bot_response: Text | None = None
    latency_ms: Annotated[float, Field(ge=0.0, le=3_600_000.0, allow_inf_nan=False)] | None = Field(
        default=None, description="The bot's reply time; the turn lasts from timestamp to timestamp + latency_ms."
    )
    model: Name | None = None
    scenario_variant: ShortName | None = None
    funnel_stage: FunnelStage | None = None
    turn_index: Annotated[int, Field(ge=1, le=100_000)] | None = None
    action: ShortName | None = Field(
        default=None, description="A CRM action the bot did or asks for: create_lead, add_comment, create_deal, ..."
    )
    crm_id: Name | None = Field(default=None, description="The CRM entity the action created or touched.")
    crm_error: Name | None = Field(default=None, description="The CRM's error code when the bot's action failed.")

    @property
    def funnel_only(self) -> bool:
        return self.funnel_stage is not None and not (self.text or self.bot_response or self.intent or self.action)


class EventResult(BaseModel):
    index: int
    event_id: str | None = None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = Field(default=None, description="A reason code (rejected events).")
    message: str | None = Field(default=None, description="What was wrong, for people.")
    trace_id: str | None = Field(default=None, description="The conversation's trace id.")
    lead: Literal["pending"] | None = Field(default=None, description="pending: the gateway is creating the CRM lead.")


class BatchResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class ErrorResponse(BaseModel):
    error: str = Field(description="A reason code: unauthorized, bad_signature, body_too_large, ...")
    message: str


class Batch(BaseModel):
    events: list[Event] = Field(min_length=1)


def _describe(error: ValidationError) -> tuple[Reason, str]:
    first = error.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "event"
    kind = first["type"]
    if kind == "missing":
        return Reason.MISSING_FIELD, f"{where} is required"
    if kind == "timezone_aware":
        return Reason.NAIVE_TIMESTAMP, "timestamp must carry a UTC offset, e.g. 2025-01-01T12:34:56+03:00"
    if where == "client.phone":
        return Reason.INVALID_PHONE, "client.phone must have 10-15 digits"
    message = str(first["msg"]).removeprefix("Value error, ")
    return Reason.INVALID, f"{where}: {message}"[:300]


def surrogate_in(value: Any, where: str = "") -> str | None:
    """Where in a decoded JSON value a string (or key) holds a lone surrogate, or None."""
    if isinstance(value, str):
        return where or "event" if has_surrogate(value) else None
    if isinstance(value, list):
        return next((w for i, v in enumerate(value) if (w := surrogate_in(v, f"{where}[{i}]"))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if has_surrogate(path) or surrogate_in(item, path):
                return printable(path)
    return None


def check(
    raw: Any, *, now: float, max_future: float, max_age: float, prefix: str, redactor: Any
) -> Event | tuple[Reason, str]:
    """The event, or why it is refused."""
    if not isinstance(raw, dict):
        return Reason.NOT_AN_OBJECT, "an event must be a JSON object"
    where = surrogate_in(raw)
    if where is not None:
        return Reason.INVALID, f"{where[:100]}: {SURROGATE_PROBLEM}"
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        return _describe(exc)
    moment = event.timestamp.timestamp()
    if moment > now + max_future:
        return Reason.FUTURE_TIMESTAMP, f"timestamp is more than {max_future:.0f} s ahead of the gateway's clock"
    if moment < now - max_age:
        return Reason.STALE_TIMESTAMP, f"timestamp is older than {max_age / 86400:g} days"
    try:
        ids.validate_conversation_id(prefix + event.session_id)
    except ValueError:
        return Reason.INVALID, "session_id is too long with the tenant's prefix"
    if redactor.contains_pii(event.session_id):
        return Reason.PERSONAL_DATA_IN_ID, "session_id must not contain a phone number or e-mail"
    return event


def timestamp_ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)
