"""Phone numbers in a folded string (see :mod:`botwatch.masking.normalise`).

A candidate is a run of digit groups joined by separators (spaces, dashes,
``/``, ``_``, ``.``, parentheses, invisible characters), optionally after a
``+``; how the digits are grouped does not matter.  Inside a candidate,
windows of whole groups are phones when their digits are:

* after ``+``: ``7`` and 10 more digits, or any other 10 to 15 digits;
* 11 digits ``7``/``8`` + an area or mobile code starting 3, 4, 8 or 9;
* 10 digits starting with 9 (a mobile number without its prefix), or a
  10-digit number whose area code is in parentheses (``(3412) 57-31-90``).

Digits glued to letters count (``client79123456789``), except inside a
hexadecimal id of 16, 32, 40 or 64 characters (trace and span ids, hashes);
hours before ``:`` never do, so a date and a time do not read as a phone;
nor do an order number after ``№`` or a price before ``₽``/``руб``.
"""

from __future__ import annotations

import re

_CANDIDATE = re.compile(r"(?:\+[ \x7f]{0,2})?[0-9]+(?:[\s\-/_.()\x7f]{1,4}[0-9]+)*")
_DIGITS = re.compile(r"[0-9]+")
# Where a phone can start: "+", a group starting 7, 8 or 9, or a group in parentheses.
_START = re.compile(r"\+|(?<![0-9])[789]|\((?=[0-9])")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset("0123456789abcdefABCDEF")
_HEX_ID_LENGTHS = frozenset({16, 32, 40, 64})
_MAX_DIGITS = 15
# A sum of money ends the run: "100 000 ₽", "2 500 руб."
_PRICE = re.compile(r"\s?(?:₽|руб|р\.|rub|RUB|\$|€|тыс)")


def _drop_price(text: str, groups: list[tuple[int, int]]) -> None:
    """The trailing groups that are a price written in thousands ("12 500 000 ₽"), removed."""
    while len(groups) > 1 and groups[-1][1] - groups[-1][0] == 3 and text[groups[-1][0] - 1] == " ":
        groups.pop()
    if groups and groups[-1][1] - groups[-1][0] <= 3:
        groups.pop()


def _valid(digits: str, plus: bool, parenthesised: bool) -> bool:
    size = len(digits)
    if plus:
        return size == 11 if digits[0] == "7" else 10 <= size <= _MAX_DIGITS
    if size == 11:
        return digits[0] in "78" and digits[1] in "3489"
    return size == 10 and (digits[0] == "9" or (parenthesised and digits[0] in "348"))


def _in_hex_id(text: str, start: int, end: int) -> bool:
    """Whether the digits text[start:end] are part of a hexadecimal id glued around them."""
    if not ((start and text[start - 1] in _ALNUM) or (end < len(text) and text[end] in _ALNUM)):
        return False
    while start and text[start - 1] in _ALNUM:
        start -= 1
    while end < len(text) and text[end] in _ALNUM:
        end += 1
    return end - start in _HEX_ID_LENGTHS and all(char in _HEX for char in text[start:end])


def _windows(text: str, start: int, groups: list[tuple[int, int]], plus: bool) -> list[tuple[int, int, str]]:
    digits = [text[a:b] for a, b in groups]
    whole = "".join(digits)
    first = groups[0][0]
    parenthesised = first > 0 and text[first - 1] == "("
    if 10 <= len(whole) <= 11 and _valid(whole, plus, parenthesised):
        return [(start if plus else first - parenthesised, groups[-1][1], whole)]  # the common case
    found = []
    index = 0
    while index < len(groups):
        signed = plus and index == 0
        parenthesised = groups[index][0] > 0 and text[groups[index][0] - 1] == "("
        joined, best = "", -1
        for last in range(index, len(groups)):
            joined += digits[last]
            if len(joined) > _MAX_DIGITS:
                break
            if _valid(joined, signed, parenthesised):
                best = last
        if best < 0:
            index += 1
            continue
        first = start if signed else groups[index][0] - parenthesised
        found.append((first, groups[best][1], "".join(digits[index : best + 1])))
        index = best + 1
    return found


def phones(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` of every phone number in the folded ``text``."""
    if not _START.search(text):
        return []  # ids with timestamps, dates, prices: no group a phone can start with
    found: list[tuple[int, int, str]] = []
    for match in _CANDIDATE.finditer(text):
        start, end = match.span()
        if end - start < 10:
            continue
        groups = [m.span() for m in _DIGITS.finditer(text, start, end)]
        plus = text[start] == "+"
        if end + 1 < len(text) and text[end] == ":" and text[end + 1].isdigit():
            groups.pop()  # hours of a time
        elif _PRICE.match(text, end):
            _drop_price(text, groups)
        if groups and start and ("№" in text[max(0, start - 2) : start] or "#" in text[max(0, start - 2) : start]):
            groups.pop(0)  # "№ 123456": an order number
            plus = False
        if groups and _in_hex_id(text, *groups[-1]):
            groups.pop()
        if groups and _in_hex_id(text, *groups[0]):
            groups.pop(0)
            plus = False
        if groups:
            found += _windows(text, start, groups, plus)
    return found
