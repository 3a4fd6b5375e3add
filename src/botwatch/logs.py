"""Log records: the SDK's own events, and the bot's loguru / stdlib lines.

Every record carries the active trace and span id and the conversation id;
the SDK's own records also an event name (``botwatch.message.received``,
``botwatch.bot.replied``, ``botwatch.crm.action``, ``botwatch.funnel.<stage>``
...), so a Loki line links to its Tempo trace and back.  Bridged lines say
where they were logged with ``code.function.name`` (fully qualified),
``code.line.number`` and ``code.file.path``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context

from botwatch import semconv
from botwatch.code_location import code_attributes
from botwatch.conversation_scope import current_scope

if TYPE_CHECKING:  # telemetry imports this module when init() installs the log hooks
    from botwatch.telemetry import Telemetry

_SEVERITY_BY_LEVEL = (
    (50, SeverityNumber.FATAL, "FATAL"),
    (40, SeverityNumber.ERROR, "ERROR"),
    (30, SeverityNumber.WARN, "WARN"),
    (20, SeverityNumber.INFO, "INFO"),
    (10, SeverityNumber.DEBUG, "DEBUG"),
    (0, SeverityNumber.TRACE, "TRACE"),
)
# Loggers whose records must not be exported: the exporters log their own
# failures, and exporting those would loop.
_INTERNAL_LOGGERS = ("opentelemetry", "botwatch", "urllib3", "requests", "grpc")


def severity(level: int) -> tuple[SeverityNumber, str]:
    for threshold, number, text in _SEVERITY_BY_LEVEL:
        if level >= threshold:
            return number, text
    return SeverityNumber.UNSPECIFIED, "UNSPECIFIED"


def emit_event(
    telemetry: Telemetry,
    event: str,
    body: str,
    attributes: dict[str, Any],
    *,
    context: Context | None = None,
    timestamp: int | None = None,
    level: int = logging.INFO,
) -> None:
    """One SDK event as an OTel log record, built off the hot path (masked by the exporter wrappers)."""
    telemetry.deferred.submit(
        _emit_event, telemetry.logger, event, body, attributes, context, timestamp or time.time_ns(), level
    )


def _emit_event(
    logger: Any, event: str, body: str, attributes: dict[str, Any], context: Context | None, timestamp: int, level: int
) -> None:
    """On the background thread: the record :func:`emit_event` queued (positional, so the bot builds no kwargs)."""
    number, text = severity(level)
    logger.emit(
        timestamp=timestamp,
        context=context,
        severity_number=number,
        severity_text=text,
        body=body,
        attributes=attributes,
        event_name=event,
    )


def _scope_attributes(extra: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    scope = current_scope.get()
    if scope is not None:
        attributes[semconv.GEN_AI_CONVERSATION_ID] = scope.conversation_id
        attributes[semconv.CHANNEL] = scope.channel
        if scope.turn_index is not None:
            attributes[semconv.TURN_INDEX] = scope.turn_index
    for key, value in extra.items():
        if isinstance(value, (str, bool, int, float)):
            attributes[key] = value
        elif value is not None:
            attributes[key] = str(value)
    return attributes


def _emit_line(
    telemetry: Telemetry, level: int, message: str, when: float, extra: dict[str, Any], where: dict[str, Any]
) -> None:
    attributes = _scope_attributes(extra)
    attributes.update(where)
    event = attributes.pop("event", None)
    number, text = severity(level)
    telemetry.deferred.submit(
        telemetry.logger.emit,
        context=otel_context.get_current(),
        timestamp=int(when * 1e9),
        severity_number=number,
        severity_text=text,
        body=message if telemetry.settings.capture_content else "",  # masked by the exporter wrappers
        attributes=attributes,
        event_name=event if isinstance(event, str) else None,
    )


class LoguruSink:
    """``logger.add(LoguruSink(telemetry))``: each loguru record becomes an OTel log record.

    Loguru calls sinks in the logging thread (unless ``enqueue=True``), so the
    active span and conversation are those of the code that logged.  Pass
    ``event=`` through ``logger.bind(event="...")`` to name the event.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def __call__(self, message: Any) -> None:
        record = message.record
        when: datetime = record["time"]
        where = code_attributes(record["name"], record["function"], record["line"], record["file"].path)
        _emit_line(self._telemetry, record["level"].no, record["message"], when.timestamp(), record["extra"], where)


class StdlibHandler(logging.Handler):
    """The same for the standard ``logging`` module (``logging.getLogger().addHandler(...)``)."""

    def __init__(self, telemetry: Telemetry, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._telemetry = telemetry

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_INTERNAL_LOGGERS):
            return
        try:
            extra = {"event": record.__dict__["event"]} if "event" in record.__dict__ else {}
            where = code_attributes(None, record.funcName, record.lineno, record.pathname)
            _emit_line(self._telemetry, record.levelno, record.getMessage(), record.created, extra, where)
        except Exception:  # noqa: BLE001 - logging must never break the bot
            self.handleError(record)


def install_log_hooks(telemetry: Telemetry) -> None:
    settings = telemetry.settings
    if settings.capture_loguru:
        try:
            from loguru import logger
        except ImportError:  # pragma: no cover - loguru is a dependency
            pass
        else:
            handler_id = logger.add(LoguruSink(telemetry), level="INFO", format="{message}", catch=True)

            def remove() -> None:
                with contextlib.suppress(ValueError):  # loguru removes its handlers at exit itself
                    logger.remove(handler_id)

            telemetry.add_hook(remove)
    if settings.capture_logging:
        handler = StdlibHandler(telemetry)
        root = logging.getLogger()
        root.addHandler(handler)
        telemetry.add_hook(lambda: root.removeHandler(handler))
