"""Personal data never reaches telemetry in the clear.

Phone numbers (every way Russians write them, plus international ``+``
numbers) and e-mail addresses are replaced by a masked form a person can
still recognise and a keyed hash that links the same client across
conversations without revealing who it is::

    "+7 (912) 345-67-89"  ->  "+7 *** ***-67-89 (ph_3f2a9c1d7e44b0a1)"
    "ivan@mail.ru"        ->  "i***@m***.ru (em_9b1e04c2d5a3f6e7)"

Secrets (webhook tokens, bot tokens, credentials) become ``***``.  What
is detected, and how, is :mod:`botwatch.masking`; this module adds the keyed
hash.  The replacement is idempotent: a masked text passes through unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from botwatch import masking
from botwatch.masking.detect import Kind
from botwatch.masking.table import RecordMasker, any_suspect, value_suspect

_NOT_DIGIT = re.compile(r"[^0-9]")


def phone_digits(phone: str) -> str:
    """Digits of a phone number in one canonical form (Russian 8/9 prefixes to 7...)."""
    if phone.isascii():
        digits = _NOT_DIGIT.sub("", phone)
    else:
        digits = "".join(char if char <= "9" else str(unicodedata.decimal(char)) for char in phone if char.isdecimal())
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits[0] == "9":
        digits = "7" + digits
    return digits


def mask_phone(phone: str) -> str:
    digits = phone_digits(phone)
    if len(digits) < 6:
        return "***"
    country = digits[:-10] if len(digits) > 10 else ""
    return f"+{country or '?'} *** ***-{digits[-4:-2]}-{digits[-2:]}"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}"


@dataclass
class Redactor:
    """Masks phones and e-mails with a keyed hash, and secrets; one per deployment secret."""

    secret: bytes = field(repr=False)
    _cache: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # A client writes many messages; hash each phone or address once.
        self._digest = functools.lru_cache(maxsize=4096)(self._hmac)
        # Spans, log records and metrics masked by this redactor's text (the generic export paths).
        self.records = RecordMasker(self.text)

    def _hmac(self, kind: str, value: str) -> str:
        mac = hmac.new(self.secret, f"{kind}:{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:16]

    def client_id(self, phone: str | None = None, email: str | None = None) -> str | None:
        """The keyed hash that links one client across conversations."""
        if phone:
            return "ph_" + self._digest("phone", phone_digits(phone))
        if email:
            return "em_" + self._digest("email", email.strip().lower())
        return None

    def _replace(self, kind: Kind, value: str) -> str:
        if kind == "phone":  # value: ASCII digits
            if len(value) == 10 or (len(value) == 11 and value[0] == "8"):  # a Russian number, 7 first
                value = "7" + value[-10:]
            country = value[:-10] or "?"
            return f"+{country} *** ***-{value[-4:-2]}-{value[-2:]} (ph_{self._digest('phone', value)})"
        if kind == "email":
            return f"{mask_email(value)} ({self.client_id(email=value)})"
        return "***"

    def text(self, value: str) -> str:
        """``value`` with every phone, e-mail and secret replaced; cheap when there is none."""
        if not masking.suspect(value):
            return value
        if len(value) <= 64:
            cached = self._cache.get(value)
            if cached is not None:
                return cached
        result = masking.mask(value, self._replace)
        if len(value) <= 64 and len(self._cache) < 4096:
            self._cache[value] = result
        return result

    def contains_pii(self, value: str) -> bool:
        """Whether ``value`` holds a phone, an e-mail or a secret."""
        return bool(masking.find(value))

    @staticmethod
    def any_suspect(values: Iterable[object]) -> bool:
        """Whether any of ``values`` may hold a phone, e-mail or secret (one pass, see ``masking.table``)."""
        return any_suspect(values)

    @staticmethod
    def suspect(value: object) -> bool:
        """Whether ``value`` (a string, or a list or mapping of them) may hold a phone, e-mail or secret."""
        return value_suspect(value)
