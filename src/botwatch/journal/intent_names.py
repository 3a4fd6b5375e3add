"""Intent ids in the owner's words: ``price`` / ``price_question`` → «вопрос о цене».

The report, ``botwatch insights`` and the Telegram summary write what a
client asked about, not the classifier's id.  The table covers the demo's
intents (``botwatch.demo.classifier``) and the ones salon and clinic bots
commonly use; an id it does not know is shown as it is, in quotes
(«vip_upsell»), so nothing is hidden or guessed.  Ids are matched
case-insensitively, with ``-``, spaces and dots read as ``_``.
"""

from __future__ import annotations

_NAMES: dict[str, tuple[str, str]] = {
    # the demo's intents
    "booking": ("запись", "booking"),
    "reschedule": ("перенос записи", "rescheduling"),
    "price": ("вопрос о цене", "price question"),
    "complaint": ("жалоба", "complaint"),
    "cancel": ("отмена записи", "cancellation"),
    "greeting": ("приветствие", "greeting"),
    "payment": ("оплата", "payment"),
    "other": ("другой вопрос", "other question"),
    # common in salon, clinic and service bots
    "book": ("запись", "booking"),
    "appointment": ("запись", "booking"),
    "book_appointment": ("запись", "booking"),
    "booking_request": ("запись", "booking"),
    "rebook": ("перенос записи", "rescheduling"),
    "reschedule_booking": ("перенос записи", "rescheduling"),
    "cancel_booking": ("отмена записи", "cancellation"),
    "cancellation": ("отмена записи", "cancellation"),
    "price_question": ("вопрос о цене", "price question"),
    "prices": ("вопрос о цене", "price question"),
    "pricing": ("вопрос о цене", "price question"),
    "cost": ("вопрос о цене", "price question"),
    "services": ("вопрос об услугах", "services question"),
    "service_info": ("вопрос об услугах", "services question"),
    "availability": ("свободное время", "free slots"),
    "free_slots": ("свободное время", "free slots"),
    "schedule": ("часы работы", "opening hours"),
    "hours": ("часы работы", "opening hours"),
    "opening_hours": ("часы работы", "opening hours"),
    "working_hours": ("часы работы", "opening hours"),
    "address": ("адрес", "address"),
    "location": ("адрес", "address"),
    "directions": ("как добраться", "directions"),
    "contacts": ("контакты", "contacts"),
    "staff": ("вопрос о мастере", "staff question"),
    "master": ("вопрос о мастере", "staff question"),
    "doctor": ("вопрос о враче", "doctor question"),
    "confirm": ("подтверждение записи", "confirmation"),
    "confirmation": ("подтверждение записи", "confirmation"),
    "refusal": ("отказ", "refusal"),
    "decline": ("отказ", "refusal"),
    "pay": ("оплата", "payment"),
    "prepayment": ("предоплата", "prepayment"),
    "refund": ("возврат денег", "refund"),
    "discount": ("скидки и акции", "discounts"),
    "promo": ("скидки и акции", "discounts"),
    "gift_card": ("подарочный сертификат", "gift card"),
    "review": ("отзыв", "review"),
    "feedback": ("отзыв", "feedback"),
    "operator": ("просьба позвать администратора", "asked for staff"),
    "human": ("просьба позвать администратора", "asked for staff"),
    "handoff": ("просьба позвать администратора", "asked for staff"),
    "escalation": ("просьба позвать администратора", "asked for staff"),
    "hello": ("приветствие", "greeting"),
    "goodbye": ("прощание", "goodbye"),
    "thanks": ("благодарность", "thanks"),
    "smalltalk": ("разговор не по делу", "small talk"),
    "faq": ("частый вопрос", "common question"),
    "question": ("вопрос", "question"),
    "fallback": ("непонятный запрос", "not understood"),
    "unknown": ("непонятный запрос", "not understood"),
    "none": ("непонятный запрос", "not understood"),
}


def _key(intent: str) -> str:
    return intent.strip().lower().replace("-", "_").replace(" ", "_").replace(".", "_")


def known_intent(intent: str) -> bool:
    return _key(intent) in _NAMES


def intent_name(intent: str, lang: str = "ru") -> str:
    """What the client asked about, in ``lang`` (ru, the default, or en); an unknown id in quotes: «vip_upsell»."""
    found = _NAMES.get(_key(intent))
    if found is None:
        return f"«{intent}»" if lang == "ru" else f"'{intent}'"
    return found[0] if lang == "ru" else found[1]
