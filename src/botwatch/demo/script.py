"""Stage 1 of planning: the script of one conversation, from the seed alone.

``script_conversation(seed, number)`` draws everything from one RNG seeded
with the pair, so any conversation can be regenerated without the others.
Times are nanoseconds from midnight (Moscow time) of the day the chat starts;
``placement`` moves them onto the calendar.  No faults are applied here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from botwatch import semconv

from . import classifier as intents
from . import phrases as ph
from . import simulated_bitrix24
from .businesses import BUSINESSES, Business, Service
from .dialogue import Dialogue, seconds
from .llm import GPT_4O_MINI, YANDEXGPT_LITE
from .people import Client, make_client
from .plan import NS_PER_S, ConversationPlan

MINUTE_NS = 60 * NS_PER_S
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS

# share of chats starting in each hour of the day, Moscow time
_HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.2, 0.3, 1, 3, 6, 9, 10, 10, 10, 9, 9, 9, 9, 9, 10, 11, 11, 9, 6, 3)
_SCENARIOS = {
    "booking": 34,
    "price": 22,
    "info": 14,
    "reschedule": 9,
    "payment": 8,
    "cancel": 7,
    "complaint": 6,
}
_FIRST_SLOT_MIN, _LAST_SLOT_MIN = 10 * 60, 20 * 60
T = TypeVar("T")


def conversation_id(seed: int, number: int) -> str:
    return f"demo-{seed}-{number}"


def script_conversation(seed: int, number: int) -> ConversationPlan:
    rng = random.Random(f"botwatch-demo/{seed}/{number}")
    business = _weighted(rng, [(b, b.weight) for b in BUSINESSES])
    channel = _weighted(rng, list(business.channels))
    variant = rng.choice("AB")
    model = YANDEXGPT_LITE if rng.random() < (0.7 if business.key == "clinic" else 0.3) else GPT_4O_MINI
    client = make_client(rng, business.female_clients)
    hour = _weighted(rng, list(enumerate(_HOUR_WEIGHTS)))
    start = hour * HOUR_NS + rng.randrange(60) * MINUTE_NS + rng.randrange(60) * NS_PER_S
    scenarios = dict(_SCENARIOS, payment=3) if business.key == "barbershop" else _SCENARIOS
    scenario = _weighted(rng, list(scenarios.items()))
    dialogue = Dialogue(rng, model, business.prompt_tokens, start)
    scene = Scene(rng, number, business, channel, client, variant, dialogue)
    _FLOWS[scenario](scene)
    session_id = {
        # "_" before the digits: the SDK's PII scrubber reads a glued identifier as no phone number
        "telegram": f"tg_{rng.randrange(10**8, 10**10)}",
        "whatsapp": f"wa_{rng.getrandbits(48):012x}",
        "instagram": f"ig_{rng.randrange(10**14, 10**16)}",
    }.get(channel, f"web_{rng.getrandbits(64):016x}")
    return ConversationPlan(
        id=conversation_id(seed, number),
        number=number,
        business=business.key,
        scenario=scenario,
        channel=channel,
        variant=variant,
        model=model.name,
        session_id=session_id,
        client_phone=client.phone if channel == "whatsapp" else None,
        client_email=client.email if channel == "web" or scene.email_given else None,
        sessions=scene.dialogue.sessions(),
    )


class Scene:
    """One client, one business, one dialogue; the flows below write into it."""

    def __init__(
        self,
        rng: random.Random,
        number: int,
        business: Business,
        channel: str,
        client: Client,
        variant: str,
        dialogue: Dialogue,
    ) -> None:
        self.rng = rng
        self.number = number
        self.business = business
        self.whatsapp = channel == "whatsapp"  # the channel already knows the phone
        self.client = client
        self.variant = variant
        self.dialogue = dialogue
        self.service: Service = rng.choice(business.services)
        self.staff = rng.choice(business.staff)
        self.email_given = False

    # --- text ---------------------------------------------------------------------
    def fields(self, **extra: object) -> dict[str, object]:
        b, s = self.business, self.service
        fields: dict[str, object] = {
            "business": b.name,
            "address": b.address,
            "service": s.accusative,
            "service_nom": s.nominative,
            "Service": ph.capitalize(s.nominative),
            "price": f"{s.price:,}".replace(",", " "),
            "minutes": s.minutes,
            "staff": self.staff,
            "staff_word": b.staff_word,
            "admin": b.admin,
            "pay_host": b.pay_host,
            "name": self.client.name,
            "phone": self.client.phone_typed,
            "email": self.client.email,
            "booked": "записана" if self.client.female else "записан",
            "sick": "Заболела" if self.client.female else "Заболел",
        }
        fields.update(extra)
        return fields

    def client_text(self, templates: tuple[str, ...], **extra: object) -> str:
        return ph.client_says(self.rng, templates, **self.fields(**extra))

    def bot_text(self, templates: tuple[str, ...], **extra: object) -> str:
        return ph.say(self.rng, templates, **self.fields(**extra))

    def contact(self) -> str:
        """The client's name and phone (and sometimes e-mail), as typed."""
        if self.whatsapp and self.rng.random() < 0.7:
            return self.client_text(ph.NAME_ONLY)
        if self.rng.random() < 0.15:
            self.email_given = True
            return self.client_text(ph.CONTACT_EMAIL)
        return self.client_text(ph.CONTACT)

    # --- turns ----------------------------------------------------------------------
    def turn(
        self,
        text: str,
        intent: str,
        reply: str,
        *,
        crm: Sequence[tuple[str, str]] = (),
        funnel: Sequence[str] = (),
        delay_ns: int | None = None,
    ) -> None:
        if self.dialogue.turn_index == 0 and not reply.startswith(("Здравствуйте", "Добрый")):
            reply = "Здравствуйте! " + reply
        self.dialogue.client(text, intent, reply, crm=crm, funnel=funnel, delay_ns=delay_ns)

    # --- calendar -------------------------------------------------------------------
    def wanted_day(self) -> int:
        return _weighted(self.rng, [(0, 20), (1, 50), (2, 30)])

    def offer(self, day: int, part: tuple[str, float, float]) -> tuple[int, list[int], str]:
        """Free slots (minutes after midnight) on ``day`` or the next day that has any, and a 'busy' note."""
        earliest_ns = self.dialogue.now + 3 * HOUR_NS
        _, low, high = part
        for offered in range(day, day + 4):
            first = max(int(low * 60), _FIRST_SLOT_MIN)
            last = min(int(high * 60), _LAST_SLOT_MIN)
            grid = [m for m in range(first, last + 1, 30) if offered * DAY_NS + m * MINUTE_NS >= earliest_ns]
            if grid:
                free = sorted(self.rng.sample(grid, min(3, len(grid))))
                note = "" if offered == day else ph.BOT_BUSY_PREFIX.format(wanted=_day_word(day))
                return offered, free, note
            part = ("", 10.0, 20.0)
        raise AssertionError("no free slot in four days")

    def slot_fields(self, day: int, slots: list[int]) -> dict[str, object]:
        words = [_clock(m) for m in slots]
        return {"day": _day_word(day), "Day": ph.capitalize(_day_word(day)), "slots": ph.slot_list(words)}

    # --- what happens after a booking -------------------------------------------------
    def follow_up(self, day: int, slot_min: int) -> None:
        rng, d = self.rng, self.dialogue
        slot_ns = day * DAY_NS + slot_min * MINUTE_NS
        slot = _clock(slot_min)
        reminded = confirmed = False
        if slot_ns - DAY_NS >= d.now + HOUR_NS:
            remind_at, remind_day = slot_ns - DAY_NS, "завтра"
        elif slot_ns - 2 * HOUR_NS >= d.now + 30 * MINUTE_NS:
            remind_at, remind_day = slot_ns - 2 * HOUR_NS, "сегодня"
        else:
            remind_at, remind_day = 0, ""
        if remind_day:
            reminded = True
            d.resume_at(remind_at)
            d.send("reminder", self.bot_text(ph.REMINDER, day=remind_day, slot=slot))
            d.funnel(semconv.REMINDER_SENT)
            answer = rng.random()
            delay = d.later_ns(15 * 60, 90 * 60)
            deal = (simulated_bitrix24.DEAL_UPDATE, simulated_bitrix24.deal_id(self.number))
            if answer < 0.62:
                confirmed = True
                text, reply = self.client_text(ph.CONFIRM), self.bot_text(ph.BOT_CONFIRMED)
                self.turn(text, intents.BOOKING, reply, crm=[deal], funnel=[semconv.BOOKING_CONFIRMED], delay_ns=delay)
            elif answer < 0.68:
                text, reply = self.client_text(ph.DECLINE_REMINDER), self.bot_text(ph.BOT_CANCELLED_AFTER_REMINDER)
                self.turn(text, intents.CANCEL, reply, crm=[deal], funnel=[semconv.CANCELLED], delay_ns=delay)
                return
        came = rng.random() < (0.93 if confirmed else 0.75 if reminded else 0.85)
        if came:
            d.resume_at(slot_ns + self.service.minutes * MINUTE_NS + rng.randrange(0, 15) * MINUTE_NS)
            d.funnel(semconv.VISIT_COMPLETED)
            if rng.random() < 0.96:
                d.funnel(semconv.PAID, delay_ns=rng.randrange(60, 240) * NS_PER_S)
            if rng.random() < 0.4:
                d.send("feedback", self.bot_text(ph.FEEDBACK), delay_ns=rng.randrange(90, 180) * MINUTE_NS)
        else:
            d.resume_at(slot_ns + rng.randrange(15, 31) * MINUTE_NS)
            d.funnel(semconv.NO_SHOW)
            if rng.random() < 0.6:
                d.send("no_show", self.bot_text(ph.NO_SHOW, slot=slot), delay_ns=rng.randrange(1, 10) * MINUTE_NS)


# --- flows -------------------------------------------------------------------------------
def booking(s: Scene, opening: tuple[str, ...] = ph.BOOK_REQUEST, *, priced: bool = False) -> None:
    rng = s.rng
    day = s.wanted_day()
    template, part = ph.pick_with_part(rng, opening)
    request = s.client_text(template, day=_day_word(day), part=part[0])
    lead = [(simulated_bitrix24.LEAD_CREATE, simulated_bitrix24.lead_id(s.number))]
    deal = [(simulated_bitrix24.DEAL_CREATE, simulated_bitrix24.deal_id(s.number))]
    if s.variant == "A":
        ask = ph.BOT_ASK_NAME if s.whatsapp else ph.BOT_ASK_CONTACT
        s.turn(request, intents.BOOKING, s.bot_text(ask))
        if rng.random() < 0.18:
            return
        contact = s.contact()
        day, slots, note = s.offer(day, part)
        s.turn(
            contact,
            intents.BOOKING,
            note + s.bot_text(ph.BOT_SLOTS, **s.slot_fields(day, slots)),
            crm=lead,
            funnel=[semconv.LEAD_CREATED],
        )
        if rng.random() < 0.10:
            s.turn(s.client_text(ph.DECLINE_TIME), intents.OTHER, s.bot_text(ph.BOT_LATER))
            return
        slot = rng.choice(slots)
        s.turn(
            s.client_text(ph.PICK_SLOT, slot=_clock(slot)),
            intents.BOOKING,
            _booked(s, day, slot),
            crm=deal,
            funnel=[semconv.BOOKING_CREATED],
        )
    else:
        day, slots, note = s.offer(day, part)
        contact_ask = "ваше имя" if s.whatsapp else "имя и телефон"
        offer = ph.BOT_SLOTS_CONTACT if priced else ph.BOT_SLOTS_PRICE
        reply = note + s.bot_text(offer, contact_ask=contact_ask, **s.slot_fields(day, slots))
        s.turn(request, intents.BOOKING, reply)
        if rng.random() < 0.12:
            return
        slot = rng.choice(slots)
        contact = s.contact()
        text = s.client_text(ph.PICK_SLOT_CONTACT, slot=_clock(slot), contact=contact)
        check = s.bot_text(ph.BOT_CHECK, slot=_clock(slot), **s.slot_fields(day, slots))
        s.turn(text, intents.BOOKING, check, crm=lead, funnel=[semconv.LEAD_CREATED])
        if rng.random() < 0.04:
            return
        s.turn(
            s.client_text(ph.YES), intents.BOOKING, _booked(s, day, slot), crm=deal, funnel=[semconv.BOOKING_CREATED]
        )
    s.follow_up(day, slot)


def price(s: Scene) -> None:
    s.turn(s.client_text(ph.PRICE_QUESTION), intents.PRICE, s.bot_text(ph.BOT_PRICE))
    if s.rng.random() < (0.45 if s.variant == "A" else 0.55):
        booking(s, ph.BOOK_AGREE, priced=True)
    else:
        s.turn(s.client_text(ph.THINK_ABOUT_IT), intents.OTHER, s.bot_text(ph.BOT_BYE))


def info(s: Scene) -> None:
    rng = s.rng
    if rng.random() < 0.4:
        s.turn(s.client_text(ph.GREETING), intents.GREETING, s.bot_text(ph.BOT_GREETING))
        if rng.random() < 0.7:
            booking(s, ph.BOOK_FOLLOW_ON)
            return
    question, answer = rng.choice(ph.INFO_COMMON + ph.INFO_BY_BUSINESS[s.business.key])
    s.turn(s.client_text((question,)), intents.OTHER, s.bot_text((answer,)))
    if rng.random() < 0.3:
        booking(s, ph.BOOK_FOLLOW_ON)


def reschedule(s: Scene) -> None:
    rng = s.rng
    old_day = rng.choice((0, 1))
    old_slot = _clock(rng.randrange(_FIRST_SLOT_MIN, _LAST_SLOT_MIN + 1, 30))
    day = min(old_day + rng.choice((1, 2)), 2)
    template, part = ph.pick_with_part(rng, ph.RESCHEDULE)
    _move(s, s.client_text(template, day=_day_word(day), part=part[0], old_slot=old_slot), day, part)


def cancel(s: Scene) -> None:
    rng = s.rng
    old_day = rng.choice((0, 1))
    old_slot = _clock(rng.randrange(_FIRST_SLOT_MIN, _LAST_SLOT_MIN + 1, 30))
    s.turn(
        s.client_text(ph.CANCEL, old_day=_day_word(old_day), old_slot=old_slot),
        intents.CANCEL,
        s.bot_text(ph.BOT_OFFER_MOVE, Day=ph.capitalize(_day_word(old_day + 1))),
    )
    if rng.random() < 0.35:
        day = old_day + 1
        template, part = ph.pick_with_part(rng, ph.MOVE_INSTEAD)
        _move(s, s.client_text(template, day=_day_word(day), part=part[0]), day, part)
        return
    deal = [(simulated_bitrix24.DEAL_UPDATE, simulated_bitrix24.deal_id(s.number))]
    s.turn(
        s.client_text(ph.CANCEL_CONFIRM),
        intents.CANCEL,
        s.bot_text(ph.BOT_CANCELLED),
        crm=deal,
        funnel=[semconv.CANCELLED],
    )


def complaint(s: Scene) -> None:
    comment = [(simulated_bitrix24.COMMENT_ADD, simulated_bitrix24.deal_id(s.number))]
    text = s.client_text(ph.COMPLAINTS[s.business.key])
    s.turn(
        text, intents.COMPLAINT, s.bot_text(ph.BOT_ESCALATE), crm=comment, funnel=[semconv.COMPLAINT, semconv.ESCALATED]
    )
    if s.rng.random() < 0.5:
        s.turn(s.client_text(ph.COMPLAINT_FOLLOW), intents.OTHER, s.bot_text(ph.BOT_ESCALATED_AGAIN))


def payment(s: Scene) -> None:
    rng, d = s.rng, s.dialogue
    code = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
    s.turn(s.client_text(ph.PAYMENT), intents.PAYMENT, s.bot_text(ph.BOT_PAY_LINK, code=code))
    if rng.random() < 0.8:
        d.funnel(semconv.PAID, delay_ns=d.later_ns(4 * 60, 30 * 60))
        d.send("receipt", s.bot_text(ph.RECEIPT, code=code), delay_ns=seconds(rng.uniform(2, 10)))


def _move(s: Scene, request: str, day: int, part: tuple[str, float, float]) -> None:
    day, slots, note = s.offer(day, part)
    s.turn(request, intents.RESCHEDULE, note + s.bot_text(ph.BOT_RESCHEDULE_SLOTS, **s.slot_fields(day, slots)))
    slot = s.rng.choice(slots)
    deal = [(simulated_bitrix24.DEAL_UPDATE, simulated_bitrix24.deal_id(s.number))]
    reply = s.bot_text(ph.BOT_RESCHEDULED, slot=_clock(slot), **s.slot_fields(day, slots))
    s.turn(
        s.client_text(ph.PICK_SLOT, slot=_clock(slot)),
        intents.RESCHEDULE,
        reply,
        crm=deal,
        funnel=[semconv.RESCHEDULED],
    )
    s.follow_up(day, slot)


def _booked(s: Scene, day: int, slot: int) -> str:
    templates = ph.BOT_BOOKED_CLINIC if s.business.key == "clinic" else ph.BOT_BOOKED
    return s.bot_text(templates, slot=_clock(slot), **s.slot_fields(day, [slot]))


_FLOWS: dict[str, Callable[[Scene], None]] = {
    "booking": booking,
    "price": price,
    "info": info,
    "reschedule": reschedule,
    "payment": payment,
    "cancel": cancel,
    "complaint": complaint,
}


def _weighted(rng: random.Random, options: list[tuple[T, int | float]]) -> T:
    values = [value for value, _ in options]
    return rng.choices(values, weights=[weight for _, weight in options])[0]


def _day_word(day: int) -> str:
    return ph.DAY_WORDS[day] if day < len(ph.DAY_WORDS) else f"через {day} дня"


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"
