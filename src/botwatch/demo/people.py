"""Simulated clients: names, phone numbers in the many ways Russians type them, e-mails."""

from __future__ import annotations

import random
from dataclasses import dataclass

_FEMALE = (
    ("Анна", "anna"),
    ("Мария", "maria"),
    ("Елена", "elena"),
    ("Ольга", "olga"),
    ("Наталья", "natalia"),
    ("Екатерина", "ekaterina"),
    ("Татьяна", "tanya"),
    ("Ирина", "irina"),
    ("Светлана", "sveta"),
    ("Юлия", "yulia"),
    ("Дарья", "dasha"),
    ("Алина", "alina"),
    ("Ксения", "ksenia"),
    ("Виктория", "vika"),
    ("Полина", "polina"),
)
_MALE = (
    ("Александр", "alex"),
    ("Дмитрий", "dmitry"),
    ("Максим", "maxim"),
    ("Сергей", "sergey"),
    ("Андрей", "andrey"),
    ("Алексей", "aleksey"),
    ("Артём", "artem"),
    ("Илья", "ilya"),
    ("Кирилл", "kirill"),
    ("Михаил", "misha"),
    ("Никита", "nikita"),
    ("Иван", "ivan"),
    ("Роман", "roman"),
    ("Егор", "egor"),
    ("Павел", "pavel"),
)
_SURNAMES = ("ivanov", "petrov", "smirnov", "kuznetsov", "popov", "sokolov", "lebedev", "novikov", "morozov", "volkov")
_DOMAINS = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "ya.ru")
_PHONE_FORMATS = (
    "+7 {a} {b}-{c}-{d}",
    "8{a}{b}{c}{d}",
    "8 ({a}) {b}-{c}-{d}",
    "+7{a}{b}{c}{d}",
    "8-{a}-{b}-{c}-{d}",
    "+7 ({a}) {b} {c} {d}",
    "{a}{b}{c}{d}",
    "8 {a} {b} {c} {d}",
    "+7({a}){b}{c}{d}",
)


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    female: bool
    phone: str  # canonical +7XXXXXXXXXX
    phone_typed: str  # as the client types it in a message
    email: str


def make_client(rng: random.Random, female_share: float) -> Client:
    female = rng.random() < female_share
    name, latin = rng.choice(_FEMALE if female else _MALE)
    digits = "9" + "".join(str(rng.randrange(10)) for _ in range(9))
    fmt = rng.choice(_PHONE_FORMATS)
    typed = fmt.format(a=digits[:3], b=digits[3:6], c=digits[6:8], d=digits[8:])
    surname = rng.choice(_SURNAMES) + ("a" if female else "")
    style = rng.randrange(3)
    if style == 0:
        local = f"{latin}.{surname}"
    elif style == 1:
        local = f"{surname}{rng.randrange(70, 100) if rng.random() < 0.5 else rng.randrange(1, 30)}"
    else:
        local = f"{latin[0]}{surname}"
    email = f"{local}@{rng.choice(_DOMAINS)}"
    return Client(name=name, female=female, phone="+7" + digits, phone_typed=typed, email=email)
