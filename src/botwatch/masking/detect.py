"""Where a string holds personal data or a secret, in its own offsets; masking and safe cutting."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from botwatch.masking.emails import emails
from botwatch.masking.normalise import fold
from botwatch.masking.phones import phones
from botwatch.masking.secrets import HINT, may_hold_secret, secrets

Kind = Literal["secret", "email", "phone"]
Finding = tuple[int, int, Kind, str]  # start, end (offsets in the original string), kind, value

# A cheap superset of what the detectors find, one pass: an "@" in any spelling,
# a secret's hint, or ten digits in any script with at most 40 other characters
# between neighbours (the widest a phone gets: separators written as HTML
# entities).  The possessive \D{0,40}+ never backtracks: a miss costs one scan.
# NUL is no separator (the record maskers join strings with it, and digits of two strings must not add up).
_SUSPECT = re.compile(r"[@\uff20\ufe6b]|%40|&commat;|" + HINT + r"|\d(?:[^\d\x00]{0,40}+\d){9}")


def suspect(text: str) -> bool:
    """False means ``text`` holds no phone, e-mail or secret: it passes as it is."""
    return _SUSPECT.search(text) is not None


def find(text: str) -> list[Finding]:
    """Every secret, e-mail and phone in ``text``, sorted, not overlapping (a secret wins over an
    e-mail, an e-mail over a phone)."""
    return _find(text) if suspect(text) else []


def _find(text: str) -> list[Finding]:
    folded, where = fold(text)
    spans: list[tuple[int, int, Kind, str]] = []
    if may_hold_secret(folded):
        spans += [(a, b, "secret", "") for a, b in secrets(folded)]
    spans += [(a, b, "email", address) for a, b, address in emails(folded)]
    spans += [(a, b, "phone", digits) for a, b, digits in phones(folded)]
    if not spans:
        return []
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for start, end, kind, value in spans:  # in order of priority
        if any(start < b and a < end for a, b in taken):
            continue
        taken.append((start, end))
        found.append((where[start], where[end], kind, value) if where else (start, end, kind, value))
    found.sort()
    return found


def mask(text: str, replace: Callable[[Kind, str], str]) -> str:
    """``text`` (already found :func:`suspect`) with each finding replaced by ``replace(kind, value)``."""
    found = _find(text)
    if not found:
        return text
    out: list[str] = []
    last = 0
    for start, end, kind, value in found:
        out.append(text[last:start])
        out.append(replace(kind, value))
        last = end
    out.append(text[last:])
    return "".join(out)


# A phone or e-mail crossing a cut is searched this far on both sides of it.
_REACH = 400


def cut(text: str, limit: int, tail: str = "…") -> str:
    """``text`` at most ``limit`` characters, ending in ``tail`` when cut; never inside a phone,
    e-mail or secret (the cut moves to before it), so no part of one stays readable."""
    if len(text) <= limit:
        return text
    end = max(0, limit - len(tail))
    low = max(0, end - _REACH)
    for start, stop, _kind, _value in find(text[low : end + _REACH]):
        if low + start < end < low + stop:
            end = low + start
            break
    return text[:end] + tail


def mask_secrets(text: str) -> str:
    """``text`` with only its secrets replaced by ``***`` (for lines that stay in the process, e.g. a console)."""
    if not may_hold_secret(text):
        return text
    out: list[str] = []
    last = 0
    for start, end in secrets(text):
        out += [text[last:start], "***"]
        last = end
    return "".join(out) + text[last:] if out else text
