"""One conversation as a time-ordered list of entries, from its spans and log records.

Messages and intents come from log records (only they carry the text);
LLM calls, CRM actions and funnel stages from spans (they carry latency,
ids and outcomes), falling back to the matching log records when a
conversation has no such spans (e.g. they were sampled out).
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botwatch import semconv
from botwatch.journal.rows import FAMILY_CHAT, FAMILY_CONVERSATION, FAMILY_CRM, FAMILY_TURN


class EntryKind(StrEnum):
    START = "start"
    CLIENT = "client"
    INTENT = "intent"
    LLM = "llm"
    CRM = "crm"
    BOT = "bot"
    FUNNEL = "funnel"
    ERROR = "error"
    NOTE = "note"


_RANK = {kind: rank for rank, kind in enumerate(EntryKind)}  # order of entries sharing a timestamp
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReplayEntry:
    time_ns: int
    kind: EntryKind
    conversation_id: str
    text: str | None = None  # message text (PII masked by the SDK); "" when capture is off
    turn_index: int | None = None
    channel: str | None = None
    intent: str | None = None
    confidence: float | None = None
    model: str | None = None
    duration_s: float | None = None  # LLM/CRM call latency; on bot replies, the turn's time
    input_tokens: int | None = None
    output_tokens: int | None = None
    crm_system: str | None = None
    crm_action: str | None = None
    crm_entity_id: str | None = None
    crm_outcome: str | None = None
    funnel_stage: str | None = None
    error_type: str | None = None
    message_kind: str | None = None  # outbound bot messages: reminder, confirmation…
    sla_breached: bool | None = None
    client: str | None = None  # START: masked phone
    scenario_variant: str | None = None
    event_name: str | None = None  # NOTE: the log event shown as is

    @property
    def time(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.time_ns // 1000)


_SPAN_SQL = """SELECT span_id, family, start_ns, end_ns, duration_ns, status, channel, turn_index, intent,
                      confidence, sla_breached, model, input_tokens, output_tokens, crm_action, crm_entity_id,
                      crm_outcome, error_type, attributes, events
               FROM spans WHERE conversation_id = ? ORDER BY start_ns"""
_LOG_SQL = """SELECT time_ns, span_id, event_name, body, channel, turn_index, attributes
              FROM logs WHERE conversation_id = ? ORDER BY time_ns"""

# log events that have a richer span twin, by the span family that replaces them
_SPAN_TWIN = {semconv.EVENT_LLM_CALL: FAMILY_CHAT, semconv.EVENT_CRM_ACTION: FAMILY_CRM}


def build_replay(conn: sqlite3.Connection, conversation_id: str) -> list[ReplayEntry]:
    spans = conn.execute(_SPAN_SQL, (conversation_id,)).fetchall()
    logs = conn.execute(_LOG_SQL, (conversation_id,)).fetchall()
    families = {row[1] for row in spans}
    has_span_funnel = any(row[19] and semconv.FUNNEL_STAGE in row[19] for row in spans)
    # sla_breached NULL: the turn's reply time was not measured (a webhook without latency_ms): no "in 0.00 s"
    turns = {
        row[7]: (row[4] / 1e9, bool(row[10]))
        for row in spans
        if row[1] == FAMILY_TURN and row[7] is not None and row[10] is not None
    }
    entries = [e for row in spans for e in _from_span(conversation_id, row)]
    error_spans: set[str] = set()
    error_turns: set[int] = set()
    for row in logs:
        row = (*row[:2], semconv.current_event_name(row[2]), *row[3:])  # old journals: names without botwatch.
        event_name = row[2] or ""
        if _SPAN_TWIN.get(event_name) in families:
            continue
        if event_name.startswith(semconv.EVENT_FUNNEL_PREFIX) and has_span_funnel:
            continue
        entry = _from_log(conversation_id, row, turns)
        if entry.kind is EntryKind.ERROR:
            error_spans.add(row[1] or "")
            if entry.turn_index is not None:
                error_turns.add(entry.turn_index)
        entries.append(entry)
    entries.extend(_turn_errors(conversation_id, spans, error_spans, error_turns))
    entries.sort(key=lambda e: (e.time_ns, _RANK[e.kind]))
    return entries


def _from_span(conversation_id: str, row: tuple[Any, ...]) -> Iterable[ReplayEntry]:
    (_, family, start, _, duration, status, channel, turn, *_rest) = row
    attrs: dict[str, Any] = json.loads(row[18])
    if family == FAMILY_CONVERSATION:
        yield ReplayEntry(
            start,
            EntryKind.START,
            conversation_id,
            channel=channel,
            client=_opt_str(attrs.get(semconv.CLIENT_PHONE_MASKED)),
            scenario_variant=_opt_str(attrs.get(semconv.SCENARIO_VARIANT)),
        )
    elif family == FAMILY_TURN and row[8] is not None:
        # The SDK records the intent on the turn span (no separate log record).
        yield ReplayEntry(
            start,
            EntryKind.INTENT,
            conversation_id,
            turn_index=turn,
            channel=channel,
            intent=row[8],
            confidence=row[9],
        )
    elif family == FAMILY_CHAT:
        yield ReplayEntry(
            start,
            EntryKind.LLM,
            conversation_id,
            turn_index=turn,
            channel=channel,
            model=_opt_str(attrs.get(semconv.GEN_AI_RESPONSE_MODEL)) or row[11],
            duration_s=duration / 1e9,
            input_tokens=row[12],
            output_tokens=row[13],
            error_type=row[17] if status == "ERROR" or row[17] else None,
        )
    elif family == FAMILY_CRM:
        yield ReplayEntry(
            start,
            EntryKind.CRM,
            conversation_id,
            turn_index=turn,
            channel=channel,
            duration_s=duration / 1e9,
            crm_system=_opt_str(attrs.get(semconv.CRM_SYSTEM)),
            crm_action=row[14],
            crm_entity_id=row[15],
            crm_outcome=row[16],
            error_type=row[17],
        )
    for event in json.loads(row[19]) if row[19] else ():
        stage = event.get("attributes", {}).get(semconv.FUNNEL_STAGE)
        if stage:
            yield ReplayEntry(
                int(event["time_ns"]),
                EntryKind.FUNNEL,
                conversation_id,
                turn_index=turn,
                channel=channel,
                funnel_stage=str(stage),
            )


def _from_log(conversation_id: str, row: tuple[Any, ...], turns: Mapping[int, tuple[float, bool]]) -> ReplayEntry:
    time_ns, _, event_name, body, channel, turn, attributes = row
    attrs: dict[str, Any] = json.loads(attributes)
    base = {"time_ns": time_ns, "conversation_id": conversation_id, "turn_index": turn, "channel": channel}
    if event_name == semconv.EVENT_MESSAGE_RECEIVED:
        return ReplayEntry(kind=EntryKind.CLIENT, text=message_text(body, attrs), **base)
    if event_name in (semconv.EVENT_BOT_REPLIED, semconv.EVENT_MESSAGE_SENT):
        kind = _opt_str(attrs.get(semconv.MESSAGE_KIND))
        duration, breached = turns.get(turn, (None, None)) if turn is not None and kind is None else (None, None)
        return ReplayEntry(
            kind=EntryKind.BOT,
            text=message_text(body, attrs),
            message_kind=kind,
            duration_s=duration,
            sla_breached=breached,
            **base,
        )
    if event_name == semconv.EVENT_INTENT:
        return ReplayEntry(
            kind=EntryKind.INTENT,
            intent=_opt_str(attrs.get(semconv.INTENT)),
            confidence=_opt_float(attrs.get(semconv.INTENT_CONFIDENCE)),
            **base,
        )
    if event_name == semconv.EVENT_LLM_CALL:
        return ReplayEntry(
            kind=EntryKind.LLM,
            model=_opt_str(attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)),
            input_tokens=_opt_int(attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)),
            output_tokens=_opt_int(attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)),
            error_type=_opt_str(attrs.get(semconv.ERROR_TYPE)),
            **base,
        )
    if event_name == semconv.EVENT_CRM_ACTION:
        return ReplayEntry(
            kind=EntryKind.CRM,
            crm_system=_opt_str(attrs.get(semconv.CRM_SYSTEM)),
            crm_action=_opt_str(attrs.get(semconv.CRM_ACTION)),
            crm_entity_id=_opt_str(attrs.get(semconv.CRM_ENTITY_ID)),
            crm_outcome=_opt_str(attrs.get(semconv.CRM_OUTCOME)),
            error_type=_opt_str(attrs.get(semconv.ERROR_TYPE)),
            **base,
        )
    if event_name and event_name.startswith(semconv.EVENT_FUNNEL_PREFIX):
        stage = _opt_str(attrs.get(semconv.FUNNEL_STAGE)) or event_name.removeprefix(semconv.EVENT_FUNNEL_PREFIX)
        return ReplayEntry(kind=EntryKind.FUNNEL, funnel_stage=stage, **base)
    if event_name == semconv.EVENT_ERROR:
        return ReplayEntry(
            kind=EntryKind.ERROR, error_type=_opt_str(attrs.get(semconv.ERROR_TYPE)), text=body or None, **base
        )
    return ReplayEntry(kind=EntryKind.NOTE, event_name=event_name, text=body or None, **base)


def _turn_errors(
    conversation_id: str, spans: Iterable[tuple[Any, ...]], logged_spans: set[str], logged_turns: set[int]
) -> Iterable[ReplayEntry]:
    """Failed turns that no ``conversation.error`` record already reports."""
    for row in spans:
        if row[1] != FAMILY_TURN or row[5] != "ERROR":
            continue
        if row[0] in logged_spans or (row[7] is not None and row[7] in logged_turns):
            continue
        yield ReplayEntry(
            row[3], EntryKind.ERROR, conversation_id, turn_index=row[7], channel=row[6], error_type=row[17]
        )


# How replay shows a message's media (owner-facing, Russian): "🎤 голосовое 0:07", "🖼 фото".
MEDIA_LABELS = {
    "voice": "🎤 голосовое",
    "video_note": "📹 видеосообщение",
    "photo": "🖼 фото",
    "video": "🎬 видео",
    "audio": "🎵 аудио",
    "animation": "🎞 GIF",
    "document": "📄 файл",
    "sticker": "🏷 стикер",
    "location": "📍 геопозиция",
    "venue": "📍 место",
    "contact": "👤 контакт",
    "poll": "📊 опрос",
    "dice": "🎲 кубик",
    "media_group": "🖼 альбом",
}
EDITED = "✏️ изменено"
_EDITED_KINDS = frozenset({"edited_message", "edited_business_message"})


def message_text(body: str | None, attrs: Mapping[str, Any]) -> str:
    """A message as replay shows it: its media line, then its text as the client saw it (markup rendered)."""
    text = plain_text(body or "", _opt_str(attrs.get(semconv.MESSAGE_MARKUP)))
    parts = [EDITED if attrs.get(semconv.UPDATE_KIND) in _EDITED_KINDS else "", media_line(attrs), text]
    return " · ".join(part for part in parts if part)


def media_line(attrs: Mapping[str, Any]) -> str:
    """ "🎤 голосовое 0:07" for a message's ``botwatch.media.*`` attributes; "" without media."""
    kind = _opt_str(attrs.get(semconv.MEDIA_KIND))
    if not kind:
        return ""
    label = MEDIA_LABELS.get(kind, f"📎 {kind}")
    duration = _opt_int(attrs.get(semconv.MEDIA_DURATION))
    return label if duration is None else f"{label} {duration // 60}:{duration % 60:02d}"


_HTML_TAG = re.compile(r"<[^>]*>")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]+\)")
# A paired marker around text that starts and ends with a visible character: *bold*, __underline__,
# ||spoiler||.  A masked phone "+7 *** ***-45-21" has no such pair, so it stays as it is.
_MD_PAIR = re.compile(
    r"(?<![\\\w*_~|`])(\*\*|\*|__|_|~~|~|\|\||```|`)(?=[^\s*_~|`])(.+?)(?<=[^\s\\])\1(?![\w*_~|`])", re.S
)
_MD_ESCAPE = re.compile(r"\\([_*\[\]()~`>#+\-=|{}.!\\])")


def plain_text(text: str, markup: str | None) -> str:
    """Text with Telegram's HTML or Markdown markup rendered away: what the client read."""
    if markup == "html":
        return html.unescape(_HTML_TAG.sub("", text))
    if markup in ("markdown", "markdownv2"):
        text = _MD_LINK.sub(r"\1", text)
        previous = None
        while previous != text:  # nested markers: *bold _italic_*
            previous, text = text, _MD_PAIR.sub(r"\2", text)
        return _MD_ESCAPE.sub(r"\1", text) if markup == "markdownv2" else text
    return text


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
