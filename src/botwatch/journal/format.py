"""Text and JSON renderings of KPIs and replays, for the CLI.

Every line passes :func:`botwatch.terminal.printable`: client text, ids and
names recorded by any bot reach the terminal without escape sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, tzinfo
from typing import Any

from botwatch import semconv
from botwatch.journal.intent_names import intent_name
from botwatch.journal.kpi import Kpi
from botwatch.journal.replay import EntryKind, ReplayEntry
from botwatch.terminal import printable

NONE = "—"
NOT_CAPTURED = "(content not captured)"
NOT_CAPTURED_RU = "(текст не записан)"


RATIO_DIGITS = 4  # 0.1234 = 12.34 %: two more digits than the table's one-decimal percent
SECONDS_DIGITS = 3
MONEY_DIGITS = 4


def kpi_to_json(kpi: Kpi) -> dict[str, Any]:
    """A flat, JSON-serialisable dict: counts, ratios (0..1 or null), thresholds, window, what it covers.

    Floats are rounded (ratios to 4 digits, seconds to 3), never printed as 1.1839568999999994.
    """
    data = asdict(kpi)
    data["since"] = kpi.since.isoformat()
    data["until"] = kpi.until.isoformat()
    data["services"] = list(kpi.services)
    data["demo_runs"] = list(kpi.demo_runs)
    data["appointments"] = kpi.no_shows + kpi.visits_completed
    data["conversations_without_human"] = (
        None if kpi.conversations_escalated is None else kpi.conversations - kpi.conversations_escalated
    )
    data["turn_p50_s"] = _round(kpi.turn_p50_s, SECONDS_DIGITS)
    data["turn_p95_s"] = _round(kpi.turn_p95_s, SECONDS_DIGITS)
    data["llm_cost"] = _round(kpi.llm_cost, MONEY_DIGITS)
    ratios = {
        "conversion": kpi.conversion,
        "no_show_rate": kpi.no_show_rate,
        "sla_breach_share": kpi.sla_breach_share,
        "low_confidence_share": kpi.low_confidence_share,
        "lead_failure_rate": kpi.lead_failure_rate,
        "closed_without_human": kpi.closed_without_human,
        "no_show_rate_reminded": kpi.no_show_rate_reminded,
        "no_show_rate_unreminded": kpi.no_show_rate_unreminded,
    }
    data.update({key: _round(value, RATIO_DIGITS) for key, value in ratios.items()})
    data.update(sla_seconds=semconv.SLA_SECONDS, low_confidence_threshold=semconv.LOW_CONFIDENCE)
    return data


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def kpi_coverage(kpi: Kpi) -> str:
    """Which bots (service.name) and demo runs the window holds, in one line."""
    services = ", ".join(kpi.services) if kpi.services else NONE
    runs = ", ".join(str(seed) for seed in kpi.demo_runs)
    return f"Covers services: {services}" + (f" · demo runs (seed): {runs}" if runs else "")


def format_kpi_table(kpi: Kpi) -> str:
    days = (kpi.until - kpi.since).total_seconds() / 86_400
    span = f"{days:g} days" if days != 1 else "1 day"
    header = f"KPIs {kpi.since:%Y-%m-%d %H:%M} → {kpi.until:%Y-%m-%d %H:%M} {kpi.until:%Z} ({span})".replace("  ", " ")
    rows: list[tuple[str, str, str]] = [
        ("Conversations", _n(kpi.conversations), ""),
        (
            "Conversion chat → booking",
            _pct(kpi.conversion),
            f"{_n(kpi.conversations_booked)} of {_n(kpi.conversations)} conversations",
        ),
        (
            "No-show rate",
            _pct(kpi.no_show_rate),
            f"{_n(kpi.no_shows)} of {_n(kpi.no_shows + kpi.visits_completed)} appointments",
        ),
        ("Turns", _n(kpi.turns), ""),
        (
            f"Turns over {semconv.SLA_SECONDS:g} s",
            _pct(kpi.sla_breach_share),
            f"{_n(kpi.turns_over_sla)} of {_n(kpi.turns)} turns",
        ),
        ("Turn time p50 / p95", f"{_sec(kpi.turn_p50_s)} / {_sec(kpi.turn_p95_s)}", ""),
        (
            f"Intents below {semconv.LOW_CONFIDENCE:g} confidence",
            _pct(kpi.low_confidence_share),
            f"{_n(kpi.low_confidence_turns)} of {_n(kpi.turns_with_intent)} intents",
        ),
        (
            "Lead creation failures",
            _n(kpi.lead_create_failures),
            f"{_pct(kpi.lead_failure_rate)} of {_n(kpi.lead_creates)} {semconv.CRM_ACTION_LEAD_CREATE} calls"
            if kpi.lead_creates
            else f"no {semconv.CRM_ACTION_LEAD_CREATE} calls",
        ),
        ("Escalations to a human", _n(kpi.escalations), ""),
        (
            "Closed without a human",
            _pct(kpi.closed_without_human),
            ""
            if kpi.conversations_escalated is None
            else f"{_n(kpi.conversations - kpi.conversations_escalated)} of {_n(kpi.conversations)} conversations",
        ),
        ("No-shows after a reminder", _pct(kpi.no_show_rate_reminded), ""),
        ("No-shows without a reminder", _pct(kpi.no_show_rate_unreminded), ""),
        ("Rescheduled / complaints", f"{_n(kpi.rescheduled)} / {_n(kpi.complaints)}", ""),
        ("LLM calls", _n(kpi.llm_calls), ""),
        ("Tokens in / out", f"{_n(kpi.input_tokens)} / {_n(kpi.output_tokens)}", ""),
    ]
    if kpi.llm_cost:
        rows.append(("LLM cost", f"${kpi.llm_cost:,.2f}", ""))
    label_width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [header, kpi_coverage(kpi), ""]
    lines += [f"  {label:<{label_width}}  {value:>{value_width}}  {detail}".rstrip() for label, value, detail in rows]
    return "\n".join(printable(line) for line in lines)


def format_replay(entries: Sequence[ReplayEntry], *, tz: tzinfo = UTC, lang: str = "en") -> str:
    """A readable transcript, one line per entry, a date line whenever the day changes.

    ``lang`` "ru" writes the labels in the owner's words (клиент, бот, этап «запись создана»); times are in
    ``tz`` (the CLI passes the business's zone), the zone's name on every date line.
    """
    ru = lang == "ru"
    if not entries:
        return "(по этому разговору ничего не записано)" if ru else "(nothing recorded for this conversation)"
    channel = next((e.channel for e in entries if e.channel), None)
    title = "Разговор" if ru else "Conversation"
    lines = [printable(" · ".join(filter(None, [f"{title} {entries[0].conversation_id}", channel])))]
    day: date | None = None
    width = max(len(label) for label in _KINDS_RU.values()) if ru else 7
    for entry in entries:
        moment = entry.time.astimezone(tz)
        if moment.date() != day:
            day = moment.date()
            shown = long_date_ru(day) if ru else f"{day:%Y-%m-%d}"
            lines.append(f"{shown} ({moment:%Z})")
        stamp = f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
        kind = _KINDS_RU[entry.kind] if ru else entry.kind.value
        text = _describe_ru(entry) if ru else _describe(entry)
        lines.append(f"  {stamp}  {kind:<{width}} {printable(text)}".rstrip())
    return "\n".join(lines)


_MONTHS_RU = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def long_date_ru(day: date) -> str:
    """6 декабря 2026: the month in the genitive, as a Russian reader writes a date."""
    return f"{day.day} {_MONTHS_RU[day.month - 1]} {day.year}"


_KINDS_RU = {
    EntryKind.START: "начало",
    EntryKind.CLIENT: "клиент",
    EntryKind.INTENT: "тема",
    EntryKind.LLM: "модель",
    EntryKind.CRM: "CRM",
    EntryKind.BOT: "бот",
    EntryKind.FUNNEL: "этап",
    EntryKind.ERROR: "ошибка",
    EntryKind.NOTE: "событие",
}
FUNNEL_STAGES_RU = {
    semconv.CONVERSATION_STARTED: "начало разговора",
    semconv.LEAD_CREATED: "заявка создана",
    semconv.BOOKING_CREATED: "запись создана",
    semconv.BOOKING_CONFIRMED: "запись подтверждена",
    semconv.REMINDER_SENT: "напоминание отправлено",
    semconv.VISIT_COMPLETED: "клиент пришёл",
    semconv.NO_SHOW: "неявка",
    semconv.CANCELLED: "запись отменена",
    semconv.ESCALATED: "передан администратору",
    semconv.PAID: "оплачено",
    semconv.RESCHEDULED: "запись перенесена",
    semconv.COMPLAINT: "жалоба",
}
_MESSAGE_KINDS_RU = {"reminder": "напоминание", "confirmation": "подтверждение", "reply": "ответ"}
_OUTCOMES_RU = {"success": "успешно", "error": "ошибка", "timeout": "нет ответа", "rejected": "отказ"}


def _describe_ru(entry: ReplayEntry) -> str:
    """The entry in the owner's words; ids a bot chose (channel, model, CRM action, unknown stages) stay as recorded."""
    match entry.kind:
        case EntryKind.START:
            return _join(
                entry.channel,
                entry.client and f"клиент {entry.client}",
                entry.scenario_variant and f"вариант сценария {entry.scenario_variant}",
            )
        case EntryKind.CLIENT:
            return _text(entry.text, ru=True)
        case EntryKind.BOT:
            turn = None
            if entry.turn_index is not None and entry.duration_s is not None:
                turn = f"ответ на сообщение {entry.turn_index} за {_sec(entry.duration_s, ru=True)}"
                if entry.sla_breached:
                    turn += f", дольше {semconv.SLA_SECONDS:g} с"
            kind = entry.message_kind and _MESSAGE_KINDS_RU.get(entry.message_kind, entry.message_kind)
            return _join((f"[{kind}] " if kind else "") + _text(entry.text, ru=True), turn)
        case EntryKind.INTENT:
            confidence = None if entry.confidence is None else f"уверенность {entry.confidence:.2f}".replace(".", ",")
            if entry.confidence is not None and entry.confidence < semconv.LOW_CONFIDENCE:
                confidence = f"{confidence} — бот не понял клиента"
            return _join(intent_name(entry.intent) if entry.intent else "?", confidence)
        case EntryKind.LLM:
            tokens = None
            if entry.input_tokens is not None or entry.output_tokens is not None:
                out = entry.output_tokens or 0
                tokens = f"{_n(entry.input_tokens or 0)} → {_n(out)} {_tokens_word(out)}"
            return _join(
                entry.model or "?",
                _sec(entry.duration_s, ru=True) if entry.duration_s is not None else None,
                tokens,
                _error(entry, ru=True),
            )
        case EntryKind.CRM:
            action = " ".join(filter(None, [entry.crm_system, entry.crm_action or "?"]))
            entity = f"#{entry.crm_entity_id}" if entry.crm_entity_id else None
            outcome = entry.crm_outcome and _OUTCOMES_RU.get(entry.crm_outcome, entry.crm_outcome)
            return _join(
                " ".join(filter(None, [action, entity])),
                outcome,
                _sec(entry.duration_s, ru=True) if entry.duration_s is not None else None,
                _error(entry, ru=True),
            )
        case EntryKind.FUNNEL:
            stage = entry.funnel_stage or "?"
            return f"▸ {FUNNEL_STAGES_RU.get(stage, stage)}"
        case EntryKind.ERROR:
            where = f"сообщение {entry.turn_index} не обработано" if entry.turn_index is not None else "сбой"
            return _join(where, entry.error_type, entry.text)
        case _:
            return _join(entry.event_name, entry.text)


def _tokens_word(n: int) -> str:
    """1 токен, 24 токена, 11 токенов."""
    if n % 10 == 1 and n % 100 != 11:
        return "токен"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "токена"
    return "токенов"


def _describe(entry: ReplayEntry) -> str:
    match entry.kind:
        case EntryKind.START:
            return _join(
                entry.channel,
                entry.client and f"client {entry.client}",
                entry.scenario_variant and f"variant {entry.scenario_variant}",
            )
        case EntryKind.CLIENT:
            return _text(entry.text)
        case EntryKind.BOT:
            turn = None
            if entry.turn_index is not None and entry.duration_s is not None:
                turn = f"turn {entry.turn_index} in {_sec(entry.duration_s)}"
                if entry.sla_breached:
                    turn += f", over the {semconv.SLA_SECONDS:g} s SLA"
            kind = f"[{entry.message_kind}] " if entry.message_kind else ""
            return _join(kind + _text(entry.text), turn)
        case EntryKind.INTENT:
            confidence = None if entry.confidence is None else f"{entry.confidence:.2f}"
            if entry.confidence is not None and entry.confidence < semconv.LOW_CONFIDENCE:
                confidence = f"{confidence} (low)"
            return " ".join(filter(None, [entry.intent or "?", confidence]))
        case EntryKind.LLM:
            tokens = None
            if entry.input_tokens is not None or entry.output_tokens is not None:
                tokens = f"{_n(entry.input_tokens or 0)} → {_n(entry.output_tokens or 0)} tokens"
            return _join(
                entry.model or "?",
                _sec(entry.duration_s) if entry.duration_s is not None else None,
                tokens,
                _error(entry),
            )
        case EntryKind.CRM:
            action = " ".join(filter(None, [entry.crm_system, entry.crm_action or "?"]))
            entity = f"#{entry.crm_entity_id}" if entry.crm_entity_id else None
            return _join(
                " ".join(filter(None, [action, entity])),
                entry.crm_outcome,
                _sec(entry.duration_s) if entry.duration_s is not None else None,
                _error(entry),
            )
        case EntryKind.FUNNEL:
            return f"▸ {entry.funnel_stage}"
        case EntryKind.ERROR:
            where = f"turn {entry.turn_index} failed" if entry.turn_index is not None else "failed"
            return _join(where, entry.error_type, entry.text)
        case _:
            return _join(entry.event_name, entry.text)


def _join(*parts: str | None) -> str:
    return " · ".join(p for p in parts if p)


def _error(entry: ReplayEntry, *, ru: bool = False) -> str | None:
    return f"{'ошибка' if ru else 'error'}: {entry.error_type}" if entry.error_type else None


def _text(text: str | None, *, ru: bool = False) -> str:
    return f"«{text}»" if text else (NOT_CAPTURED_RU if ru else NOT_CAPTURED)


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _pct(ratio: float | None) -> str:
    return NONE if ratio is None else f"{ratio * 100:.1f} %"


def _sec(seconds: float | None, *, ru: bool = False) -> str:
    if seconds is None:
        return NONE
    return f"{seconds:.2f} с".replace(".", ",") if ru else f"{seconds:.2f} s"


# Public spellings for other renderings (the audit report) that must print the same numbers.
format_percent = _pct
format_count = _n
format_seconds = _sec
