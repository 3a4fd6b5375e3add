"""The report's words, Russian (the default) and English, and how numbers are written in each.

Owner words, not SRE words: обращения (conversations), записи (bookings),
неявки (no-shows), «ответ дольше 3 секунд» (turns over the SLA), «бот не
понял клиента» (intent confidence below the floor).
"""

from __future__ import annotations

from datetime import date

from botwatch.journal.format import long_date_ru
from botwatch.journal.insights import step_name
from botwatch.journal.intent_names import intent_name

__all__ = ["LANGS", "TEXT", "intent_name", "step_name", "t"]  # intent_name/step_name: the owner's words for ids

LANGS = ("ru", "en")
NBSP = "\u00a0"

_WEEKDAYS_RU = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")

TEXT: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Бот за неделю",
        "title_period": "Бот за {days}",
        "bots": "Боты",
        "today": "сегодня",
        "conversations": "Обращения",
        "conversations_detail": "клиентов написали боту",
        "conversion": "Записи",
        "conversion_detail": "{booked} из {all} обращений закончились записью",
        "closed": "Бот справился сам",
        "closed_detail": "{closed} из {all} обращений без администратора; передано администратору: {escalated}",
        "no_shows": "Неявки",
        "no_shows_detail": "{no_shows} из {visits} клиентов, которых ждали в эти дни, не пришли",
        "no_shows_reminded": "после напоминания {reminded}, без напоминания {unreminded}",
        "sla": "Ответ дольше {seconds} секунд",
        "sla_detail": "{late} из {turns} ответов",
        "confidence": "Бот не понял клиента",
        "confidence_detail": "{low} из {turns} сообщений (уверенность ниже {floor})",
        "leads": "Заявки не дошли до CRM",
        "leads_detail": "{failed} из {all} заявок",
        "moves": "Переносы и жалобы",
        "moves_detail": "переносов записи: {rescheduled}, жалоб: {complaints}",
        "target_ok": "в норме (цель — не больше {target})",
        "target_bad": "хуже цели (не больше {target})",
        "no_data": "нет данных",
        "no_previous": "нет данных за прошлую неделю",
        "vs_same": "как на прошлой неделе ({before})",
        "vs": "{diff} к прошлой неделе (было {before})",
        "no_previous_period": "нет данных за прошлый период",
        "vs_same_period": "как в прошлом периоде ({before})",
        "vs_period": "{diff} к прошлому периоду (было {before})",
        "pp": "п.п.",
        "chart_conversations": "Обращения и записи по дням",
        "chart_sla": "Ответ дольше {seconds} с, % по дням",
        "chart_confidence": "Бот не понял клиента, % по дням",
        "legend_conversations": "обращения",
        "legend_bookings": "записи",
        "legend_target": "цель",
        "losses": "Где теряются клиенты",
        "losses_none": "На этой неделе ни один шаг не теряет клиентов заметно чаще остальных.",
        "losses_unavailable": "Разбор по шагам строится по журналу бота; для этого источника его нет.",
        "finding_title": "{step}: теряется {rate} клиентов, в остальных случаях {rest}",
        "loss_counts": "{lost} из {reached} обращений",
        "reason_escalated": "передано администратору",
        "reason_slow_reply": "долгий ответ",
        "reason_low_confidence": "бот не понял",
        "reason_left": "клиент ушёл",
        "example": "Пример разговора",
        "client": "Клиент",
        "bot": "Бот",
        "changes": "Что изменилось",
        "changes_none": "На этой неделе модель, сценарий и версия бота не менялись.",
        "todo": "Что сделать",
        "todo_none": "Всё в норме — ничего делать не нужно.",
        "todo_sla": "Бот отвечает медленно ({value} ответов дольше {seconds} с): проверьте модель и нагрузку.",
        "todo_confidence": "Бот часто не понимает клиентов ({value}): добавьте примеры фраз в сценарий.",
        "todo_leads": "Заявки не доходят до CRM ({value}): проверьте подключение к CRM.",
        "todo_reminders": "Без напоминания не приходят чаще ({unreminded} против {reminded}): напоминайте всем.",
        "todo_finding": "Разберите сценарий: {step} — там теряется {rate} клиентов.",
        "todo_change": "Верните прежнюю {attribute} ({before}): после смены конверсия упала.",
        "footer": "Период: {since} — {until}, время {tz}.",
        "summary_line": "{name}: {value}",
        "summary_more": "Подробности — в файле отчёта.",
    },
    "en": {
        "title": "The bot this week",
        "title_period": "The bot over {days}",
        "bots": "Bots",
        "today": "today",
        "conversations": "Conversations",
        "conversations_detail": "clients wrote to the bot",
        "conversion": "Bookings",
        "conversion_detail": "{booked} of {all} conversations ended in a booking",
        "closed": "Handled by the bot alone",
        "closed_detail": "{closed} of {all} conversations without staff; handed to staff: {escalated}",
        "no_shows": "No-shows",
        "no_shows_detail": "{no_shows} of {visits} clients expected on these days did not come",
        "no_shows_reminded": "after a reminder {reminded}, without one {unreminded}",
        "sla": "Replies slower than {seconds} seconds",
        "sla_detail": "{late} of {turns} replies",
        "confidence": "The bot did not understand",
        "confidence_detail": "{low} of {turns} messages (confidence below {floor})",
        "leads": "Leads that did not reach the CRM",
        "leads_detail": "{failed} of {all} leads",
        "moves": "Reschedules and complaints",
        "moves_detail": "bookings moved: {rescheduled}, complaints: {complaints}",
        "target_ok": "on target (at most {target})",
        "target_bad": "worse than the target (at most {target})",
        "no_data": "no data",
        "no_previous": "no data for the previous week",
        "vs_same": "same as the previous week ({before})",
        "vs": "{diff} vs the previous week (was {before})",
        "no_previous_period": "no data for the previous period",
        "vs_same_period": "same as the previous period ({before})",
        "vs_period": "{diff} vs the previous period (was {before})",
        "pp": "pp",
        "chart_conversations": "Conversations and bookings per day",
        "chart_sla": "Replies slower than {seconds} s, % per day",
        "chart_confidence": "Not understood, % per day",
        "legend_conversations": "conversations",
        "legend_bookings": "bookings",
        "legend_target": "target",
        "losses": "Where clients are lost",
        "losses_none": "This week no step loses clients noticeably more often than the rest.",
        "losses_unavailable": "The step analysis reads the bot's journal; this source has none.",
        "finding_title": "{step}: {rate} of clients lost against {rest} elsewhere",
        "loss_counts": "{lost} of {reached} conversations",
        "reason_escalated": "handed to staff",
        "reason_slow_reply": "slow reply",
        "reason_low_confidence": "not understood",
        "reason_left": "client left",
        "example": "Example conversation",
        "client": "Client",
        "bot": "Bot",
        "changes": "What changed",
        "changes_none": "The model, scenario and bot version did not change this week.",
        "todo": "What to do",
        "todo_none": "All on target — nothing to do.",
        "todo_sla": "The bot is slow ({value} of replies over {seconds} s): check the model and the load.",
        "todo_confidence": "The bot often does not understand ({value}): add example phrases to the scenario.",
        "todo_leads": "Leads do not reach the CRM ({value}): check the CRM connection.",
        "todo_reminders": "Clients without a reminder miss more often ({unreminded} vs {reminded}): remind everyone.",
        "todo_finding": "Look at the scenario: {step} — {rate} of clients are lost there.",
        "todo_change": "Roll the {attribute} back to {before}: conversion fell after the switch.",
        "footer": "Period: {since} — {until}, {tz} time.",
        "summary_line": "{name}: {value}",
        "summary_more": "Details are in the report file.",
    },
}


def t(lang: str, key: str, **values: object) -> str:
    text = TEXT[lang][key]
    return text.format(**values) if values else text


def percent(lang: str, ratio: float | None) -> str:
    """41.0 % / 41,0 %: one decimal, as ``botwatch kpi`` prints it; "no data" for none."""
    if ratio is None:
        return t(lang, "no_data")
    text = f"{ratio * 100:.1f}{NBSP}%"
    return text.replace(".", ",") if lang == "ru" else text


def count(n: int) -> str:
    return f"{n:,}".replace(",", NBSP)


def number(lang: str, value: float) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "ru" else text


def points(lang: str, diff_pp: float) -> str:
    text = f"{diff_pp:+.1f}"
    return f"{text.replace('.', ',') if lang == 'ru' else text}{NBSP}{t(lang, 'pp')}"


def day_label(lang: str, day: date) -> str:
    """Two short lines under a bar: weekday, day of the month."""
    weekday = _WEEKDAYS_RU[day.weekday()] if lang == "ru" else f"{day:%a}"
    return f"{weekday}\n{day.day}"


def long_date(lang: str, day: date) -> str:
    if lang == "ru":
        return long_date_ru(day)
    return f"{day.day} {day:%B %Y}"


def period(lang: str, first: date, last: date) -> str:
    """30 ноября — 6 декабря 2026; the first year only when it differs."""
    start = long_date(lang, first)
    if first.year == last.year:
        start = start.removesuffix(f" {first.year}")
    return f"{start} — {long_date(lang, last)}"


def days_word(lang: str, n: int) -> str:
    """28 дней, 21 день, 3 дня / 28 days."""
    if lang != "ru":
        return f"{n} day" + ("" if n == 1 else "s")
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} день"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} дня"
    return f"{n} дней"


def span_key(key: str, days: int) -> str:
    """The week's wording for 7 days, the period's otherwise: no "previous week" for a 28-day report."""
    return key if days == 7 else f"{key}_period"


def title(lang: str, days: int) -> str:
    return t(lang, span_key("title", days), days=days_word(lang, days))
