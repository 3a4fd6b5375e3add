"""The three simulated businesses: what they sell, who works there, how their bots talk."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Service:
    nominative: str  # "маникюр с покрытием", "стрижка"
    accusative: str  # "записаться на ..."
    price: int  # roubles
    minutes: int


@dataclass(frozen=True, slots=True)
class Business:
    key: str
    name: str
    address: str
    services: tuple[Service, ...]
    staff: tuple[str, ...]
    staff_word: str  # "мастер", "врач", "барбер"
    admin: str  # who takes escalated complaints
    pay_host: str  # fictional payment-link host
    channels: tuple[tuple[str, int], ...]  # channel, weight
    female_clients: float  # share of female clients
    prompt_tokens: int  # system prompt + price list, in gpt-4o-mini tokens
    weight: int


SALON = Business(
    key="salon",
    name="Салон красоты «Лаванда»",
    address="ул. Малая Садовая, 12",
    services=(
        Service("маникюр с покрытием", "маникюр с покрытием", 2200, 90),
        Service("педикюр", "педикюр", 2800, 90),
        Service("женская стрижка", "стрижку", 2500, 60),
        Service("окрашивание в один тон", "окрашивание", 5500, 150),
        Service("коррекция и окрашивание бровей", "брови", 1400, 45),
        Service("наращивание ресниц", "наращивание ресниц", 3200, 120),
    ),
    staff=("Алина", "Екатерина", "Марина", "Диана"),
    staff_word="мастер",
    admin="Ольга",
    pay_host="pay.lavanda-salon.ru",
    channels=(("whatsapp", 40), ("instagram", 30), ("telegram", 20), ("web", 10)),
    female_clients=0.93,
    prompt_tokens=640,
    weight=45,
)

CLINIC = Business(
    key="clinic",
    name="Клиника «Медлайн Плюс»",
    address="пр. Мира, 48, 2 этаж",
    services=(
        Service("приём терапевта", "приём к терапевту", 2500, 30),
        Service("УЗИ брюшной полости", "УЗИ брюшной полости", 3200, 30),
        Service("консультация гинеколога", "консультацию гинеколога", 3000, 40),
        Service("приём невролога", "приём к неврологу", 2900, 30),
        Service("общий анализ крови", "анализ крови", 650, 15),
        Service("приём стоматолога-терапевта", "приём к стоматологу", 2000, 45),
    ),
    staff=("Смирнова Ольга Викторовна", "Ахмедов Руслан Маратович", "Ким Елена Сергеевна"),
    staff_word="врач",
    admin="Наталья",
    pay_host="pay.medline-plus.ru",
    channels=(("whatsapp", 35), ("web", 35), ("telegram", 25), ("instagram", 5)),
    female_clients=0.65,
    prompt_tokens=820,
    weight=30,
)

BARBERSHOP = Business(
    key="barbershop",
    name="Барбершоп «Бородач»",
    address="ул. Рубинштейна, 7",
    services=(
        Service("мужская стрижка", "стрижку", 1800, 60),
        Service("стрижка и борода", "стрижку с бородой", 2700, 90),
        Service("оформление бороды", "бороду", 1200, 30),
        Service("детская стрижка", "детскую стрижку", 1300, 45),
        Service("бритьё опасной бритвой", "бритьё опасной бритвой", 1600, 45),
    ),
    staff=("Артём", "Дамир", "Саша", "Гоша"),
    staff_word="барбер",
    admin="Илья",
    pay_host="pay.borodach.ru",
    channels=(("telegram", 40), ("instagram", 30), ("whatsapp", 25), ("web", 5)),
    female_clients=0.06,
    prompt_tokens=560,
    weight=25,
)

BUSINESSES = (SALON, CLINIC, BARBERSHOP)
