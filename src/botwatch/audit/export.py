"""``botwatch export``: log records → one row per event in the gateway's event shape, streamed.

The files themselves (CSV, xlsx, JSON lines) are written by ``botwatch.audit.writers``.

A turn's row is assembled from its records in time order (``botwatch.message.received``
opens it, ``botwatch.intent.recognized`` / ``.crm.action`` / ``.llm.call`` fill it,
``botwatch.bot.replied`` closes and emits it); outbound messages and funnel stages are
rows of their own.  At most ``MAX_OPEN_TURNS`` turns wait for their reply, so
memory stays bounded whatever the size of the export.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from botwatch import semconv
from botwatch.journal.session_queries import LogLine

MAX_OPEN_TURNS = 10_000
FIELDS = (
    "event_id",
    "timestamp",
    "channel",
    "client_phone",
    "session_id",
    "direction",
    "text",
    "message_kind",
    "intent",
    "confidence",
    "bot_response",
    "latency_ms",
    "model",
    "scenario_variant",
    "funnel_stage",
    "turn_index",
    "action",
    "crm_id",
    "crm_error",
    "trace_id",
)
# crm span action -> the gateway's action word (the first one the gateway maps to it)
_GATEWAY_ACTION: dict[str, str] = {}
for _word, _action in semconv.CRM_ACTION_ALIASES.items():
    _GATEWAY_ACTION.setdefault(_action, _word)

Row = dict[str, Any]


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1000 / 1e6, UTC).isoformat(timespec="milliseconds")


class EventRows:
    """Turns time-ordered log records into event rows; iterate it to get them."""

    def __init__(self, lines: Iterable[LogLine], client_phone: Callable[[str], str | None]) -> None:
        self._lines = lines
        self._client_phone = client_phone
        self._open: OrderedDict[tuple[str, int | None], tuple[int | None, Row]] = OrderedDict()
        self.records_read = 0

    def __iter__(self) -> Iterator[Row]:
        for line in self._lines:
            self.records_read += 1
            if line.conversation_id:
                yield from self._take(line)
        while self._open:
            yield self._finish(*self._open.popitem(last=False)[1])

    def _base(self, line: LogLine, direction: str = "inbound") -> Row:
        cid = line.conversation_id or ""
        return {
            "event_id": line.attributes.get(semconv.GATEWAY_EVENT_ID),  # the gateway's own id, when it has one
            "timestamp": line.time_ns,
            "channel": line.channel or line.attributes.get(semconv.CHANNEL),
            "client_phone": self._client_phone(cid),
            "session_id": cid,
            "direction": direction,
            "scenario_variant": line.attributes.get(semconv.SCENARIO_VARIANT),
            "turn_index": line.turn_index,
            "trace_id": line.trace_id,
        }

    def _take(self, line: LogLine) -> Iterator[Row]:
        event = line.event_name or ""
        attrs = line.attributes
        key = (line.conversation_id or "", line.turn_index)
        if event == semconv.EVENT_MESSAGE_RECEIVED:
            if key in self._open:
                yield self._finish(*self._open.pop(key))
            row = self._base(line)
            row["text"] = line.body
            self._open[key] = (line.time_ns, row)
            if len(self._open) > MAX_OPEN_TURNS:
                yield self._finish(*self._open.popitem(last=False)[1])
            return
        if event == semconv.EVENT_MESSAGE_SENT:
            row = self._base(line, "outbound")
            row.update(text=line.body, message_kind=attrs.get(semconv.MESSAGE_KIND), turn_index=None)
            row["event_id"] = row["event_id"] or f"{key[0]}:out:{line.time_ns}"
            yield row
            return
        if event.startswith(semconv.EVENT_FUNNEL_PREFIX):
            stage = attrs.get(semconv.FUNNEL_STAGE) or event.removeprefix(semconv.EVENT_FUNNEL_PREFIX)
            row = self._base(line)
            row["funnel_stage"] = stage
            row["event_id"] = f"{key[0]}:{stage}:{line.time_ns}"
            yield row
            return
        if event == semconv.EVENT_REVIEW:  # the owner's verdict on a turn, not an event of the conversation
            return
        opened = self._open.get(key)
        if opened is None:
            if line.turn_index is None:
                return
            opened = (None, self._base(line))  # a turn without a recorded client message: its start is unknown
            self._open[key] = opened
        row = opened[1]
        if semconv.INTENT in attrs:
            row["intent"] = attrs[semconv.INTENT]
            row["confidence"] = attrs.get(semconv.INTENT_CONFIDENCE)
        if event == semconv.EVENT_CRM_ACTION:
            action = attrs.get(semconv.CRM_ACTION)
            row["action"] = _GATEWAY_ACTION.get(str(action), action)
            row["crm_id"] = attrs.get(semconv.CRM_ENTITY_ID) or row.get("crm_id")
            if attrs.get(semconv.CRM_OUTCOME) == semconv.CRM_OUTCOME_ERROR:
                row["crm_error"] = attrs.get(semconv.ERROR_TYPE) or semconv.CRM_OUTCOME_ERROR
        elif event == semconv.EVENT_LLM_CALL:
            row["model"] = attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)
        elif event == semconv.EVENT_BOT_REPLIED:
            row["bot_response"] = line.body
            started = opened[0]
            untimed = attrs.get(semconv.REPLY_UNTIMED) in (True, "true")  # a webhook without latency_ms
            row["latency_ms"] = None if untimed or started is None else round((line.time_ns - started) / 1e6, 1)
            yield self._finish(*self._open.pop(key))

    @staticmethod
    def _finish(started_ns: int | None, row: Row) -> Row:
        row["event_id"] = row.get("event_id") or f"{row['session_id']}:{row['turn_index']}"
        return row


def iso_row(row: Row) -> Row:
    out = {name: row.get(name) for name in FIELDS}
    out["timestamp"] = _iso(int(row["timestamp"]))
    return out
