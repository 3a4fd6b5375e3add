"""E-mail addresses in a folded string, IDN domains included (``.рф``, ``.москва``, ``xn--p1ai``)."""

from __future__ import annotations

import re

from botwatch.masking.normalise import INVISIBLE

_EMAIL = re.compile(
    r"(?<![\w.+\-\x7f])[\w.+\-\x7f]+@[\w\-\x7f]+(?:\.[\w\-\x7f]+)*\.(?:[xX][nN]--[\w\-]+|[^\W\d_]{2,24})(?![\w\-])"
)


def emails(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, address)`` of every e-mail address in the folded ``text`` (invisible characters dropped)."""
    if "@" not in text:
        return []
    return [(m.start(), m.end(), m.group().replace(INVISIBLE, "")) for m in _EMAIL.finditer(text)]
