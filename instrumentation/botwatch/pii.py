"""Personal data never reaches telemetry in the clear.

Phone numbers (every way Russians write them, plus international ``+``
numbers) and e-mail addresses are replaced by a masked form a person can
still recognise and a keyed hash that links the same client across
conversations without revealing who it is::

    "+7 (912) 345-67-89"  ->  "+7 *** ***-67-89 (ph_3f2a9c1d7e44b0a1)"
    "ivan@mail.ru"        ->  "i***@m***.ru (em_9b1e04c2d5a3f6e7)"

The replacement is idempotent: a masked text passes through unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# A Russian number: +7 / 7 / 8 prefix, then 10 digits, or a bare mobile
# number starting with 9; any of space, dash, dot and parentheses between
# the groups.  International numbers are any "+" followed by 10-15 digits.
_SEP = r"[\s\-.()]{0,3}"
_RU_PHONE = (
    r"(?:\+\s?7|(?<!\d)[78])" + _SEP + r"\(?\d{3}\)?" + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}(?!\d)"
)
_RU_MOBILE = r"(?<!\d)\(?9\d{2}\)?" + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}(?!\d)"
_INTL_PHONE = r"\+\s?\d(?:" + _SEP + r"\d){9,14}(?!\d)"
# A word character glued to the left means an identifier (order_89123456789,
# or our own hash "ph_..."), not a phone number.
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z_])(?:" + _RU_PHONE + "|" + _INTL_PHONE + "|" + _RU_MOBILE + ")")
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}\b")
# A cheap superset of both: an "@", or ten digits with at most four other characters
# between neighbours (the widest gap a phone above allows is "7 (" + ")" + separators).
_SUSPECT = re.compile(r"@|\d(?:\D{0,4}\d){9}")


_NOT_DIGIT = re.compile(r"\D")
_SCALARS = frozenset({int, float, bool, type(None)})


def phone_digits(phone: str) -> str:
    """Digits of a phone number in one canonical form (Russian 8/9 prefixes to 7...)."""
    digits = _NOT_DIGIT.sub("", phone)
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
    """Masks phones and e-mails with a keyed hash; one per deployment secret."""

    secret: bytes
    _cache: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # A client writes many messages; hash each phone or address once.
        self._digest = functools.lru_cache(maxsize=4096)(self._hmac)

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

    def _phone(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        return f"{mask_phone(raw)} ({self.client_id(phone=raw)})"

    def _email(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        return f"{mask_email(raw)} ({self.client_id(email=raw)})"

    def text(self, value: str) -> str:
        """``value`` with every phone and e-mail replaced; cheap when there is none."""
        if not _SUSPECT.search(value):
            return value
        if len(value) <= 64:
            cached = self._cache.get(value)
            if cached is not None:
                return cached
        result = _EMAIL_RE.sub(self._email, value)
        result = _PHONE_RE.sub(self._phone, result)
        if len(value) <= 64 and len(self._cache) < 4096:
            self._cache[value] = result
        return result

    def contains_pii(self, value: str) -> bool:
        return bool(_SUSPECT.search(value)) and bool(_EMAIL_RE.search(value) or _PHONE_RE.search(value))

    @staticmethod
    def any_suspect(values: Iterable[object]) -> bool:
        """Whether any of ``values`` may hold a phone or e-mail: one regex pass over all their strings.

        The strings are joined with NUL, which the check treats as a separator,
        so a join can only add false alarms (then the caller looks value by value).
        """
        texts: list[str] = []
        for value in values:
            kind = type(value)
            if kind is str:
                texts.append(value)  # type: ignore[arg-type]
            elif kind not in _SCALARS and Redactor.suspect(value):
                return True
        return _SUSPECT.search("\x00".join(texts)) is not None

    @staticmethod
    def suspect(value: object) -> bool:
        """Whether ``value`` (a string, or a list or mapping of them) may hold a phone or e-mail."""
        if isinstance(value, str):
            return _SUSPECT.search(value) is not None
        if isinstance(value, Mapping):
            return any(Redactor.suspect(k) or Redactor.suspect(v) for k, v in value.items())
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return any(Redactor.suspect(v) for v in value)
        return False
