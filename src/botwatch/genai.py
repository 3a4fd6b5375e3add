"""GenAI spans that other instrumentations create (OpenAI): joined to botwatch's conversation.

:class:`GenAIConversation` is a span processor: a span that starts with
``gen_ai.operation.name`` inside a ``conversation`` block gets the
conversation's ``gen_ai.conversation.id``, and its request model becomes the
turn's model (the ``gen_ai.request.model`` label of ``botwatch.turn.duration``).

:func:`instrument_openai` turns on ``opentelemetry-instrumentation-openai-v2``
and normalises the ``error.type`` its helper library writes: the pinned
``opentelemetry-util-genai`` hands the exception class itself to the span and
the metric, which the SDK stringifies as ``"<class 'openai.RateLimitError'>"``;
botwatch makes it ``openai.RateLimitError`` before it is set.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from botwatch import semconv
from botwatch.conversation_scope import current_scope
from botwatch.error_types import error_type
from botwatch.sdk_compat import GENAI_ERROR_METHOD, GENAI_ERROR_MODULE

if TYPE_CHECKING:
    from botwatch.telemetry import Telemetry

_log = logging.getLogger("botwatch")
_OWN_SCOPE = "botwatch"  # the instrumentation scope of botwatch's own tracer (botwatch.telemetry)
# The one private hook botwatch uses in opentelemetry-util-genai (listed in botwatch.sdk_compat, probed here too).
_UTIL_MODULE, _UTIL_METHOD = GENAI_ERROR_MODULE, GENAI_ERROR_METHOD


class GenAIConversation(SpanProcessor):
    """Copies the active conversation onto GenAI spans started inside it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        instrumentation = span.instrumentation_scope
        if instrumentation is not None and instrumentation.name == _OWN_SCOPE:
            return  # botwatch's own spans carry the conversation already; LLMCall tells its turn the model
        attributes = span.attributes
        if not attributes or semconv.GEN_AI_OPERATION_NAME not in attributes:
            return
        scope = current_scope.get()
        if scope is None:
            return
        if semconv.GEN_AI_CONVERSATION_ID not in attributes:
            span.set_attribute(semconv.GEN_AI_CONVERSATION_ID, scope.conversation_id)
        model = attributes.get(semconv.GEN_AI_REQUEST_MODEL)
        if scope.on_model is not None and isinstance(model, str) and model:
            scope.on_model(model)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _error_attributes(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    error = args[0] if args else kwargs.get("error")
    if error is not None and not isinstance(getattr(error, "type", ""), str):
        error.type = error_type(error.type)
    return wrapped(*args, **kwargs)


def _normalise_errors() -> Any:
    """Wrap util-genai's error hook; returns the undo, or None when this version has no such hook."""
    try:
        import importlib

        from opentelemetry.instrumentation.utils import unwrap
        from wrapt import wrap_function_wrapper

        module = importlib.import_module(_UTIL_MODULE)
    except ImportError:
        return None
    owner = module.GenAIInvocation
    if not callable(getattr(owner, "_apply_error_attributes", None)):
        _log.warning("botwatch: this opentelemetry-util-genai has no %s; error.type is not normalised", _UTIL_METHOD)
        return None
    wrap_function_wrapper(_UTIL_MODULE, _UTIL_METHOD, _error_attributes)
    return lambda: unwrap(owner, "_apply_error_attributes")


def instrument_openai(telemetry: Telemetry) -> None:
    try:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # type: ignore[import-not-found]
    except ImportError:
        _log.warning(
            "botwatch: instrument_openai=True but opentelemetry-instrumentation-openai-v2 is not installed "
            "(pip install 'botwatch[openai]'); OpenAI calls are not traced automatically"
        )
        return
    instrumentor = OpenAIInstrumentor()  # type: ignore[no-untyped-call,unused-ignore]
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        logger_provider=telemetry.logger_provider,
    )
    telemetry.add_hook(instrumentor.uninstrument)
    undo = _normalise_errors()
    if undo is not None:
        telemetry.add_hook(undo)
