"""The public API: a conversation is a trace; turns, LLM calls, CRM actions and sends are its spans.

Every block works with ``with`` and ``async with``.  An exception inside a
block marks its span as an error with ``error.type`` and is re-raised.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context

from botwatch import ids, semconv
from botwatch.conversation_scope import Scope, current_scope
from botwatch.error_types import error_type
from botwatch.instruments import Instruments
from botwatch.label_guard import FrozenLabels
from botwatch.logs import emit_event
from botwatch.masking import cut
from botwatch.peer import server_attributes
from botwatch.pii import mask_phone, phone_digits
from botwatch.telemetry import Telemetry, current
from botwatch.validation import (
    clean_amount,
    clean_confidence,
    clean_count,
    clean_name,
    clean_optional_name,
    clean_text,
)

Clock = Callable[[], int]
# Label sets of botwatch.reviews already exported once per set-up (see Conversation.review).
_REVIEWED: weakref.WeakKeyDictionary[Telemetry, set[tuple[tuple[str, str], ...]]] = weakref.WeakKeyDictionary()
_EMPTY_CONTEXT = Context()
# Names a bot repeats every turn (models, providers, CRM actions, intents), cleaned once: raw -> clean.
_CLEAN_NAMES: dict[str, str] = {}
_CLEAN_NAMES_LIMIT = 4096
_CACHED_NAME_CHARS = 256
# Label sets of the metrics, built once per combination and reused (see _keep_label_set).
_LABEL_SETS_LIMIT = 4096


def _name(value: object, what: str) -> str:
    """``clean_name(value, what)``, remembered for the names a bot repeats (only what passed is kept)."""
    if isinstance(value, str):
        hit = _CLEAN_NAMES.get(value)
        if hit is not None:
            return hit
        cleaned = clean_name(value, what)
        if len(value) <= _CACHED_NAME_CHARS:
            if len(_CLEAN_NAMES) >= _CLEAN_NAMES_LIMIT:
                _CLEAN_NAMES.clear()
            _CLEAN_NAMES[value] = cleaned
        return cleaned
    return clean_name(value, what)


def _keep_label_set(telemetry: Telemetry, key: tuple[Any, ...], built: Any) -> Any:
    """Remember ``built``, the label dicts of one combination of label values, for the next time.

    The callers look ``key`` up in ``telemetry.label_sets`` first and build
    only on a miss (no closure made per turn).  Nothing mutates a kept set:
    the deferred thread and the SDK only read them.
    """
    sets = telemetry.label_sets
    if len(sets) >= _LABEL_SETS_LIMIT:
        sets.clear()
    sets[key] = built
    return built


def _error_type(exc: BaseException) -> str:
    return error_type(exc)


class _Block:
    """Sync and async context manager sharing one implementation."""

    def __enter__(self) -> Any:
        raise NotImplementedError

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class _SpanBlock(_Block):
    """A block that is one span, current while the block runs."""

    _span: Span
    _token: object
    _failed: str | None = None

    _context: Context

    def _open(
        self, telemetry: Telemetry, name: str, kind: SpanKind, parent: Context, attributes: dict[str, Any], start: int
    ) -> None:
        self._span = telemetry.tracer.start_span(
            name, context=parent, kind=kind, attributes=attributes, start_time=start
        )
        self._context = set_span_in_context(self._span, parent)
        self._token = otel_context.attach(self._context)

    def _close(self, exc: BaseException | None, end: int) -> str | None:
        """End the span; returns the error type, if any."""
        error = self._failed
        if exc is not None:
            error = _error_type(exc)
            self._span.record_exception(exc, timestamp=end)
            self._span.set_status(Status(StatusCode.ERROR, cut(f"{error}: {exc}", 512)))
        elif error is not None:
            self._span.set_status(Status(StatusCode.ERROR, error))
        if error is not None:
            self._span.set_attribute(semconv.ERROR_TYPE, error)
        self._span.end(end_time=end)
        return error

    def _detach(self) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]

    def fail(self, error_type: str) -> None:
        """Mark the operation failed without raising (e.g. a CRM error code)."""
        self._failed = clean_name(error_type, "error_type")

    @property
    def span(self) -> Span:
        """The OpenTelemetry span of this block (current while the block runs): add your own attributes to it."""
        return self._span


class Conversation(_Block):
    """One dialogue episode: one trace, whatever process or day continues it."""

    def __init__(
        self,
        conversation_id: str,
        *,
        channel: str,
        client_phone: str | None = None,
        client_email: str | None = None,
        scenario_variant: str | None = None,
        session_id: str | None = None,
        resume: bool = False,
        clock: Clock | None = None,
        tenant: str | None = None,
    ) -> None:
        self._telemetry = telemetry = current()
        # The tenant's label budgets (botwatch.budgets); a tenant named here also goes on the series.
        self._guards = telemetry.budgets.guards(tenant)
        self.id = ids.validate_conversation_id(conversation_id)
        redactor = telemetry.redactor
        if telemetry.redactor.contains_pii(self.id):
            raise ValueError("conversation id must not contain a phone number or e-mail; use botwatch.episode_id()")
        self.channel = clean_name(channel, "channel")
        self.variant = clean_optional_name(scenario_variant, "scenario_variant")
        self.session_id = clean_name(session_id, "session_id") if session_id is not None else self.id
        self._resume = resume
        self._clock: Clock = clock or time.time_ns
        self._client: dict[str, Any] = {}
        if client_phone is not None:
            phone = clean_name(client_phone, "client_phone")
            if len(phone_digits(phone)) < 10:
                raise ValueError("client_phone does not look like a phone number (fewer than 10 digits)")
            self._client = {
                semconv.CLIENT_ID: redactor.client_id(phone=phone),
                semconv.CLIENT_PHONE_MASKED: mask_phone(phone),
            }
        elif client_email is not None:
            email = clean_name(client_email, "client_email")
            if "@" not in email:
                raise ValueError("client_email does not look like an e-mail address")
            self._client = {semconv.CLIENT_ID: redactor.client_id(email=email)}
        # Attributes every span of the conversation carries.  Values are not masked
        # here: the exporter wrappers (botwatch.redacting) mask every exported byte
        # on the background thread, so the bot does not pay for it.
        self._common: dict[str, Any] = {
            semconv.GEN_AI_CONVERSATION_ID: self.id,
            semconv.CHANNEL: self.channel,
        }
        if self.variant is not None:
            self._common[semconv.SCENARIO_VARIANT] = self.variant
        self._labels = {
            semconv.CHANNEL: self._guards.channels(self.channel),
            semconv.SCENARIO_VARIANT: self._guards.variants(self.variant),
            **self._guards.tenant,
        }
        # What tells this conversation's label sets apart (see _keep_label_set).
        self._labels_key = tuple(self._labels.items())
        self._tenant_key = tuple(self._guards.tenant.items())
        self._trace_id_int, self._root_span_id, self._context = telemetry.root_context(self.id)
        self._turns = 0
        self._active_turn: Turn | None = None
        self._tokens: list[Any] = []

    def tag(self, attributes: Mapping[str, Any]) -> None:
        """Add ``attributes`` to every span and log record this conversation makes from now on.

        The root span keeps what it started with.  Values are masked at export like every other
        attribute (a phone in a value never leaves the process in the clear).
        """
        self._common = {**self._common, **attributes}

    @contextlib.contextmanager
    def tagged(self, attributes: Mapping[str, Any]) -> Iterator[None]:
        """Within the block only, spans and log records of this conversation carry ``attributes`` too."""
        kept = self._common
        self._common = {**kept, **attributes}
        try:
            yield
        finally:
            self._common = kept

    @property
    def trace_id(self) -> str:
        """The conversation's trace id (32 hex digits), the same in every process that continues it."""
        return format(self._trace_id_int, "032x")

    def __enter__(self) -> Conversation:
        telemetry = self._telemetry
        if not self._resume and telemetry.claim_root(self.id):
            self._emit_root()
        self._tokens = [otel_context.attach(self._context), current_scope.set(Scope(self.id, self.channel))]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        token, scope_token = self._tokens
        if exc is not None:
            attributes = {**self._common, semconv.ERROR_TYPE: _error_type(exc)}
            emit_event(
                self._telemetry,
                semconv.EVENT_ERROR,
                cut(str(exc), 512),
                attributes,
                context=self._context,
                timestamp=self._clock(),
                level=logging.ERROR,
            )
        current_scope.reset(scope_token)
        otel_context.detach(token)

    def _emit_root(self) -> None:
        telemetry = self._telemetry
        now = self._clock()
        attributes = {**self._common, semconv.SESSION_ID: self.session_id, **self._client}
        with ids.forced_ids(self._trace_id_int, self._root_span_id):
            root = telemetry.tracer.start_span(
                semconv.SPAN_CONVERSATION,
                context=_EMPTY_CONTEXT,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=now,
            )
        self._context = set_span_in_context(root, _EMPTY_CONTEXT)
        telemetry.deferred.count(telemetry.instruments.conversations, 1, self._labels)
        self._record_funnel(semconv.CONVERSATION_STARTED, root, now)
        root.end(end_time=now)

    # -- children ------------------------------------------------------------
    def turn(self, text: str | bytes | None = None, *, index: int | None = None) -> Turn:
        """One inbound client message up to the bot's reply (a SERVER span)."""
        if index is None:
            self._turns += 1
            index = self._turns
        else:
            index = clean_count(index, "turn index")
            self._turns = max(self._turns, index)
        return Turn(self, text, index)

    def send(self, text: str | bytes | None = None, *, kind: str = "reminder") -> Outbound:
        """An outbound message that answers no turn: a reminder, a confirmation (a PRODUCER span)."""
        return Outbound(self, text, kind)

    def funnel(self, stage: str) -> None:
        """A business outcome: span event, log record and counter."""
        stage = _funnel_stage(stage)
        now = self._clock()
        if self._active_turn is not None:
            self._record_funnel(stage, self._active_turn.span, now)
            return
        span = self._telemetry.tracer.start_span(
            semconv.SPAN_FUNNEL, context=self._context, kind=SpanKind.INTERNAL, attributes=self._common, start_time=now
        )
        self._record_funnel(stage, span, now)
        span.end(end_time=now)

    def _record_funnel(self, stage: str, span: Span, now: int) -> None:
        telemetry = self._telemetry
        event = semconv.funnel_event_name(stage)
        span.add_event(event, {semconv.FUNNEL_STAGE: stage}, timestamp=now)
        telemetry.deferred.count(telemetry.instruments.funnel_events, 1, {**self._labels, semconv.FUNNEL_STAGE: stage})
        attributes = {**self._common, semconv.FUNNEL_STAGE: stage}
        emit_event(
            telemetry,
            event,
            stage,
            attributes,
            context=set_span_in_context(span),
            timestamp=now,
        )

    def review(self, turn_index: int, *, intent: str | None, correct: bool, true_intent: str | None = None) -> None:
        """An owner's verdict on the intent the bot recognised in turn ``turn_index``.

        Recorded in the conversation's trace: a ``review`` span carrying a
        ``botwatch.review.labeled`` event, a log record of that name and one
        ``botwatch.reviews`` increment labelled by the bot's intent, the verdict
        and the true intent (``true_intent`` defaults to ``intent``).  The first
        review of a label set in a process exports a 0 sample before the 1, so
        even a one-shot process shows up as an increase in the dashboards.
        """
        telemetry = self._telemetry
        index = clean_count(turn_index, "turn index")
        intent = clean_name(intent, "intent") if intent else semconv.OTHER
        true_intent = clean_name(true_intent, "true intent") if true_intent else intent
        verdict = semconv.REVIEW_VERDICT_CORRECT if correct else semconv.REVIEW_VERDICT_WRONG
        now = self._clock()
        attributes = {
            **self._common,
            semconv.TURN_INDEX: index,
            semconv.INTENT: intent,
            semconv.REVIEW_VERDICT: verdict,
            semconv.REVIEW_TRUE_INTENT: true_intent,
        }
        span = telemetry.tracer.start_span(
            semconv.SPAN_REVIEW, context=self._context, kind=SpanKind.INTERNAL, attributes=attributes, start_time=now
        )
        span.add_event(semconv.EVENT_REVIEW, dict(attributes), timestamp=now)
        body = f"turn {index}: {intent} {verdict}" + ("" if correct else f", really {true_intent}")
        emit_event(
            telemetry, semconv.EVENT_REVIEW, body, dict(attributes), context=set_span_in_context(span), timestamp=now
        )
        labels = {
            semconv.INTENT: self._guards.intents(intent),
            semconv.REVIEW_VERDICT: verdict,
            semconv.REVIEW_TRUE_INTENT: self._guards.intents(true_intent),
        }
        seen = _REVIEWED.setdefault(telemetry, set())
        key = tuple(sorted(labels.items()))
        if key not in seen:
            # increase() in the dashboards needs two samples of a series: a 0 exported first.
            seen.add(key)
            telemetry.instruments.reviews.add(0, labels)
            telemetry.meter_provider.force_flush()
            time.sleep(0.01)
        telemetry.instruments.reviews.add(1, labels)
        span.end(end_time=now)

    def _exportable_text(self, value: str | bytes | None, what: str) -> str:
        """Message text as it may be exported: masked, or empty with content capture off."""
        if value is None:
            return ""
        settings = self._telemetry.settings
        cleaned = clean_text(value, limit=settings.max_text_length, what=what)
        return cleaned if settings.capture_content else ""


def _funnel_stage(stage: object) -> str:
    if stage not in semconv.FUNNEL_STAGES:
        raise ValueError(f"unknown funnel stage {stage!r}; one of: {', '.join(semconv.FUNNEL_STAGES)}")
    return str(stage)


class Turn(_SpanBlock):
    """One inbound client message up to the bot's reply: a SERVER span ``turn``, made by :meth:`Conversation.turn`.

    Inside it: :meth:`intent`, :meth:`llm` and :meth:`crm` blocks, :meth:`reply`,
    :meth:`funnel`.  When it ends it records the reply time
    (``botwatch.turn.duration``, with this trace as exemplar) and the intent's
    confidence.
    """

    def __init__(self, conversation: Conversation, text: str | bytes | None, index: int) -> None:
        self.conversation = conversation
        self.index = index
        self._text = conversation._exportable_text(text, "message text") if text is not None else None
        self._intent: str | None = None
        self._confidence: float | None = None
        self.model: str | None = None
        # False: the reply time is unknown (a webhook without latency_ms), so the turn
        # records no duration and does not count towards the SLA.
        self.measured = True

    def __enter__(self) -> Turn:
        conv = self.conversation
        self._start = conv._clock()
        attributes = {**conv._common, semconv.TURN_INDEX: self.index}
        self._open(conv._telemetry, semconv.SPAN_TURN, SpanKind.SERVER, conv._context, attributes, self._start)
        self._scope_token = current_scope.set(Scope(conv.id, conv.channel, self.index, self._use_model))
        self._previous_turn, conv._active_turn = conv._active_turn, self
        if self._text is not None:
            self._log(semconv.EVENT_MESSAGE_RECEIVED, self._text, {}, self._start)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conv = self.conversation
        telemetry = conv._telemetry
        end = conv._clock()
        duration = max(end - self._start, 0) / 1e9
        # The turn's attributes known by now, in one call into the SDK.
        attributes: dict[str, Any] = {}
        if self._intent is not None:
            attributes[semconv.INTENT] = self._intent
            attributes[semconv.INTENT_CONFIDENCE] = self._confidence
        if self.measured:
            attributes[semconv.SLA_BREACHED] = duration > semconv.SLA_SECONDS
        if self.model is not None:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = self.model
        if attributes:
            self._span.set_attributes(attributes)
        guards = conv._guards
        intent, model = guards.intents(self._intent), guards.models(self.model)
        key = (_TURN, conv._labels_key, intent, model)
        labels = telemetry.label_sets.get(key)
        if labels is None:
            built = FrozenLabels({**conv._labels, semconv.INTENT: intent, semconv.GEN_AI_REQUEST_MODEL: model})
            labels = _keep_label_set(telemetry, key, built)
        # One item for the background thread.  The turn's context goes with the latency
        # sample, so its exemplar carries this trace id.
        telemetry.deferred.submit(
            _record_turn,
            telemetry.instruments,
            duration if self.measured else None,
            self._confidence,
            labels,
            self._context,
        )
        self._close(exc, end)
        conv._active_turn = self._previous_turn
        current_scope.reset(self._scope_token)
        self._detach()

    def _log(self, event: str, body: str, extra: dict[str, Any], when: int, level: int = logging.INFO) -> None:
        conv = self.conversation
        attributes = {**conv._common, semconv.TURN_INDEX: self.index, **extra}
        emit_event(
            conv._telemetry,
            event,
            body,
            attributes,
            context=self._context,
            timestamp=when,
            level=level,
        )

    def _use_model(self, model: str) -> None:
        """A GenAI span of an instrumented client (OpenAI) called ``model`` in this turn."""
        self.model = model

    def intent(self, name: str, confidence: float) -> None:
        """The recognised intent and the classifier's confidence (0..1)."""
        self._intent = _name(name, "intent")
        self._confidence = clean_confidence(confidence)
        # Both go on the span, and the confidence sample is recorded, when the turn ends
        # (once its model is known).

    def llm(
        self,
        model: str,
        *,
        provider: str = "openai",
        operation: str = semconv.GEN_AI_OPERATION_CHAT,
        temperature: float | None = None,
        max_tokens: int | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> LLMCall:
        """A GenAI client span (``chat {model}``); ``operation`` is one of ``semconv.GEN_AI_OPERATIONS``.

        ``server_address``/``server_port``: the API host called (``api.openai.com``), never a URL.
        """
        call = LLMCall(self, model, provider, operation)
        call.request(temperature=temperature, max_tokens=max_tokens)
        call.server = server_attributes(server_address, server_port)
        return call

    def crm(
        self,
        action: str,
        *,
        system: str = semconv.CRM_SYSTEM_BITRIX24,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> CRMAction:
        """A CRM call (``crm.{action}``); ``server_address``: the CRM's host (``salon.bitrix24.ru``)."""
        action_block = CRMAction(self, action, system)
        action_block.server = server_attributes(server_address, server_port)
        return action_block

    def reply(self, text: str | bytes) -> None:
        """The bot's answer to this turn."""
        conv = self.conversation
        extra: dict[str, Any] = {}
        if self._intent is not None:
            extra[semconv.INTENT] = self._intent
            extra[semconv.INTENT_CONFIDENCE] = self._confidence
        if not self.measured:
            extra[semconv.REPLY_UNTIMED] = True
        self._log(semconv.EVENT_BOT_REPLIED, conv._exportable_text(text, "reply text"), extra, conv._clock())

    def funnel(self, stage: str) -> None:
        """A business outcome reached in this turn: a span event on the turn, a log record and a counter."""
        stage = _funnel_stage(stage)
        self.conversation._record_funnel(stage, self._span, self.conversation._clock())


_TURN, _LLM, _CRM = "turn", "llm", "crm"  # the kinds of label sets (first item of their keys)


def _record_turn(
    instruments: Instruments, duration: float | None, confidence: float | None, labels: dict[str, str], context: Context
) -> None:
    if duration is not None:
        instruments.turn_duration.record(duration, labels, context)
    if confidence is not None:
        instruments.intent_confidence.record(confidence, labels)


class _LLMLabels:
    """The label sets of one LLM call's measurements (built once per combination, see _keep_label_set)."""

    __slots__ = ("cost", "duration", "input", "output")

    def __init__(self, labels: dict[str, str], error: str | None) -> None:
        self.duration = FrozenLabels({**labels, semconv.ERROR_TYPE: error} if error else labels)
        self.input = FrozenLabels({**labels, semconv.GEN_AI_TOKEN_TYPE: semconv.GEN_AI_TOKEN_TYPE_INPUT})
        self.output = FrozenLabels({**labels, semconv.GEN_AI_TOKEN_TYPE: semconv.GEN_AI_TOKEN_TYPE_OUTPUT})
        keys = (semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL)
        self.cost = FrozenLabels({key: labels[key] for key in keys})


def _record_llm(
    instruments: Instruments,
    duration: float,
    labels: _LLMLabels,
    input_tokens: int | None,
    output_tokens: int | None,
    cost: float | None,
    context: Context,
) -> None:
    instruments.llm_duration.record(duration, labels.duration, context)
    if input_tokens is not None:
        # No context: token counts need no exemplar, and offering one costs every record.
        instruments.token_usage.record(input_tokens, labels.input)
        instruments.token_usage.record(output_tokens or 0, labels.output)
    if cost:
        instruments.llm_cost.add(cost, labels.cost)


class LLMCall(_SpanBlock):
    """A GenAI client span, ``chat {model}``, with token usage, cost and what the response said."""

    def __init__(self, turn: Turn, model: str, provider: str, operation: str) -> None:
        self.turn = turn
        self.model = _name(model, "model")
        self.provider = _name(provider, "provider")
        self.operation = _name(operation, "operation")
        if self.operation not in semconv.GEN_AI_OPERATIONS:
            raise ValueError(f"unknown GenAI operation {operation!r}; one of: {', '.join(semconv.GEN_AI_OPERATIONS)}")
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: tuple[str, ...] = ()
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost: float | None = None
        self.server: dict[str, Any] = {}
        self._request: dict[str, Any] = {}

    def request(self, *, temperature: float | None = None, max_tokens: int | None = None) -> None:
        """Request parameters (``gen_ai.request.temperature``, ``gen_ai.request.max_tokens``); set before the call."""
        if temperature is not None:
            self._request[semconv.GEN_AI_REQUEST_TEMPERATURE] = clean_amount(temperature, "temperature")
        if max_tokens is not None:
            self._request[semconv.GEN_AI_REQUEST_MAX_TOKENS] = clean_count(max_tokens, "max_tokens")

    def __enter__(self) -> LLMCall:
        conv = self.turn.conversation
        self._start = conv._clock()
        attributes = {
            **conv._common,
            semconv.GEN_AI_OPERATION_NAME: self.operation,
            semconv.GEN_AI_PROVIDER_NAME: self.provider,
            semconv.GEN_AI_REQUEST_MODEL: self.model,
            **self._request,
            **self.server,
        }
        name = f"{self.operation} {self.model}"
        self._open(conv._telemetry, name, SpanKind.CLIENT, otel_context.get_current(), attributes, self._start)
        return self

    def usage(self, input_tokens: int, output_tokens: int, *, cost: float | None = None) -> None:
        """Tokens the call used (``gen_ai.usage.*``, the ``gen_ai.client.token.usage`` histogram) and its cost.

        ``cost`` is in the currency of your dashboards (``botwatch.llm.cost``); leave it out when unknown.
        """
        self.input_tokens = clean_count(input_tokens, "input_tokens")
        self.output_tokens = clean_count(output_tokens, "output_tokens")
        self.cost = clean_amount(cost, "cost") if cost is not None else None

    def response(
        self, *, model: str | None = None, id: str | None = None, finish_reasons: list[str] | tuple[str, ...] = ()
    ) -> None:
        """What the provider answered: ``gen_ai.response.model``, ``.id``, ``.finish_reasons`` (``["stop"]``)."""
        if model is not None:
            self.response_model = clean_name(model, "response model")
        if id is not None:
            self.response_id = clean_name(id, "response id")
        self.finish_reasons = tuple(clean_name(reason, "finish reason") for reason in finish_reasons)

    def _response_attributes(self, response_model: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if response_model:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = response_model
        if self.response_id:
            attributes[semconv.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = self.finish_reasons
        if self.input_tokens is not None:
            attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = self.input_tokens
            attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens or 0
        if self.cost is not None:
            attributes[semconv.LLM_COST] = self.cost
        return attributes

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conv = self.turn.conversation
        telemetry = conv._telemetry
        end = conv._clock()
        response_model = _name(self.response_model, "response_model") if self.response_model else None
        self._span.set_attributes(self._response_attributes(response_model))
        guards = conv._guards
        provider, model = guards.providers(self.provider), guards.models(self.model)
        response_label = guards.models(response_model) if response_model else None
        error = self._close(exc, end)
        error_label = guards.errors(error) if error else None
        key = (_LLM, self.operation, provider, model, response_label, error_label, conv._tenant_key)
        labels = telemetry.label_sets.get(key)
        if labels is None:
            base = {
                semconv.GEN_AI_OPERATION_NAME: self.operation,  # a closed set: no guard needed
                semconv.GEN_AI_PROVIDER_NAME: provider,
                semconv.GEN_AI_REQUEST_MODEL: model,
                **guards.tenant,
            }
            if response_label is not None:
                base[semconv.GEN_AI_RESPONSE_MODEL] = response_label
            labels = _keep_label_set(telemetry, key, _LLMLabels(base, error_label))
        duration = max(end - self._start, 0) / 1e9
        telemetry.deferred.submit(
            _record_llm,
            telemetry.instruments,
            duration,
            labels,
            self.input_tokens,
            self.output_tokens,
            self.cost,
            self._context,
        )
        self.turn.model = self.model
        self._detach()


class CRMAction(_SpanBlock):
    """One call to the CRM (``crm.lead.create`` ...): outcome, entity id, error type."""

    def __init__(self, turn: Turn, action: str, system: str) -> None:
        self.turn = turn
        self.action = _name(action, "action")
        self.system = _name(system, "system")
        self.entity_id: str | int | None = None
        self.server: dict[str, Any] = {}

    def __enter__(self) -> CRMAction:
        conv = self.turn.conversation
        self._start = conv._clock()
        attributes = {**conv._common, semconv.CRM_SYSTEM: self.system, semconv.CRM_ACTION: self.action, **self.server}
        name = semconv.crm_span_name(self.action)
        self._open(conv._telemetry, name, SpanKind.CLIENT, otel_context.get_current(), attributes, self._start)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conv = self.turn.conversation
        telemetry = conv._telemetry
        end = conv._clock()
        failed = exc is not None or self._failed is not None
        outcome = semconv.CRM_OUTCOME_ERROR if failed else semconv.CRM_OUTCOME_SUCCESS
        attributes: dict[str, Any] = {semconv.CRM_OUTCOME: outcome}
        if self.entity_id is not None:
            attributes[semconv.CRM_ENTITY_ID] = clean_name(str(self.entity_id), "entity_id")
        self._span.set_attributes(attributes)
        error = self._close(exc, end)
        guards = conv._guards
        system, action = guards.crm_systems(self.system), guards.crm_actions(self.action)
        error_label = guards.errors(error) if error else None
        key = (_CRM, system, action, outcome, error_label, conv._tenant_key)
        labels = telemetry.label_sets.get(key)
        if labels is None:
            base = {semconv.CRM_SYSTEM: system, semconv.CRM_ACTION: action, **guards.tenant}
            base[semconv.CRM_OUTCOME] = outcome
            if error_label is not None:  # absent on success, never ""
                base[semconv.ERROR_TYPE] = error_label
            labels = _keep_label_set(telemetry, key, FrozenLabels(base))
        telemetry.deferred.count(telemetry.instruments.crm_actions, 1, labels)
        log_attributes = {
            semconv.CRM_SYSTEM: self.system,
            semconv.CRM_ACTION: self.action,
            **attributes,
        }
        if error:
            log_attributes[semconv.ERROR_TYPE] = error
        body = f"{self.action} {outcome}" + (f": {error}" if error else "")
        self.turn._log(semconv.EVENT_CRM_ACTION, body, log_attributes, end, logging.WARNING if failed else logging.INFO)
        self._detach()


class Outbound(_SpanBlock):
    """A message the bot sends on its own (reminder, confirmation): ``message.send``, PRODUCER."""

    def __init__(self, conversation: Conversation, text: str | bytes | None, kind: str) -> None:
        self.conversation = conversation
        self.kind = clean_name(kind, "kind")
        self._text = conversation._exportable_text(text, "message text")

    def __enter__(self) -> Outbound:
        conv = self.conversation
        start = conv._clock()
        attributes = {
            **conv._common,
            semconv.MESSAGE_KIND: self.kind,
            # The messaging conventions of a PRODUCER span; the destination (a client's chat) is personal data.
            semconv.MESSAGING_SYSTEM: conv.channel,
            semconv.MESSAGING_OPERATION_TYPE: semconv.MESSAGING_OPERATION_SEND,
            semconv.MESSAGING_OPERATION_NAME: semconv.MESSAGING_OPERATION_SEND,
        }
        parent = conv._active_turn.span if conv._active_turn is not None else None
        context = set_span_in_context(parent, conv._context) if parent is not None else conv._context
        self._open(conv._telemetry, semconv.SPAN_MESSAGE_SEND, SpanKind.PRODUCER, context, attributes, start)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conv = self.conversation
        end = conv._clock()
        error = self._close(exc, end)
        attributes = {**conv._common, semconv.MESSAGE_KIND: self.kind}
        if error:
            attributes[semconv.ERROR_TYPE] = error
        emit_event(
            conv._telemetry,
            semconv.EVENT_MESSAGE_SENT,
            self._text,
            attributes,
            context=self._context,
            timestamp=end,
            level=logging.WARNING if error else logging.INFO,
        )
        self._detach()
