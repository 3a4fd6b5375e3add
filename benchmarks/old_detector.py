"""The phone/e-mail detector botwatch had before issue 15, frozen here for the benchmarks only.

``benchmarks/otlp_encoding.py`` times it against the current one
(:mod:`botwatch.masking`) in the same run (``benchmarks/sdk_overhead.py``
compares whole commits instead: ``--baseline-ref``).  It is a
copy of the old regular expressions and the old ``Redactor.text`` (a format
list, no normalisation, no secrets); nothing in the package uses it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from botwatch.pii import Redactor, mask_email, mask_phone

_SEP = r"[\s\-.()]{0,3}"
_RU_PHONE = (
    r"(?:\+\s?7|(?<!\d)[78])" + _SEP + r"\(?\d{3}\)?" + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}(?!\d)"
)
_RU_MOBILE = r"(?<!\d)\(?9\d{2}\)?" + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}(?!\d)"
_INTL_PHONE = r"\+\s?\d(?:" + _SEP + r"\d){9,14}(?!\d)"
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z_])(?:" + _RU_PHONE + "|" + _INTL_PHONE + "|" + _RU_MOBILE + ")")
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}\b")
_SUSPECT = re.compile(r"@|\d(?:\D{0,4}\d){9}")


def old_text(redactor: Redactor, value: str) -> str:
    """What ``Redactor.text`` did before issue 15."""
    if not _SUSPECT.search(value):
        return value
    cache: dict[str, str] = redactor._cache
    if len(value) <= 64:
        cached = cache.get(value)
        if cached is not None:
            return cached

    def phone(match: re.Match[str]) -> str:
        return f"{mask_phone(match.group(0))} ({redactor.client_id(phone=match.group(0))})"

    def email(match: re.Match[str]) -> str:
        return f"{mask_email(match.group(0))} ({redactor.client_id(email=match.group(0))})"

    result = _PHONE_RE.sub(phone, _EMAIL_RE.sub(email, value))
    if len(value) <= 64 and len(cache) < 4096:
        cache[value] = result
    return result


def old_contains_pii(redactor: Redactor, value: str) -> bool:
    return bool(_SUSPECT.search(value)) and bool(_EMAIL_RE.search(value) or _PHONE_RE.search(value))


@contextlib.contextmanager
def old_detector() -> Iterator[None]:
    """Every ``Redactor`` made inside uses the old detector (for ``text``, the label guard and the exporters)."""
    saved: dict[str, Any] = {"text": Redactor.text, "contains_pii": Redactor.contains_pii}
    Redactor.text = old_text  # type: ignore[method-assign,assignment]
    Redactor.contains_pii = old_contains_pii  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Redactor.text = saved["text"]  # type: ignore[method-assign]
        Redactor.contains_pii = saved["contains_pii"]  # type: ignore[method-assign]
