"""Phones and e-mails in every family issue 15 names, composed (not listed), and a scanner for leaks.

A phone is composed from: the subscriber digits (mobile ``9xx``, or a
landline with a 3-5 digit area code), a prefix (``+7``, ``8``, ``7``, ``%2B7``,
full-width ``＋7``, none), a grouping of the ten digits, a separator (every
kind of space, dash and invisible character, ``.``, ``/``, ``_``, HTML
entities, URL escapes), optional parentheses around the area code and a
digit script (ASCII, full-width, Arabic-Indic, Persian).  ``glued`` puts it
inside an id (``wa_79123456789``).  E-mails: ASCII or Cyrillic domains on
``.ru .com .рф .рус .москва .xn--p1ai``, any case, ``@`` written as ``＠``,
``%40`` or ``&#64;``.

:func:`leaks` finds what an export must not hold: any 7 consecutive digits
of the number (read after decoding escapes, folding digits and dropping
separators, with this module's own code, not botwatch's) or the e-mail's
local part.
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from urllib.parse import unquote

from hypothesis import strategies as st

SEPARATORS = (
    " ", "-", " - ", "\u2013", "\u2014", "\u2212", "\u2011", "\u2012", "\u00a0", "\u2009", "\u202f", "\u3000",
    ".", "/", "_", "&nbsp;", "&#8209;", "&#x2011;", "%20", "%E2%80%91", "\u200b", "\u00ad", "\ufeff", "\u200d", "",
)  # fmt: skip
GROUPINGS = ((3, 3, 2, 2), (3, 2, 2, 3), (4, 3, 3), (3, 4, 3), (3, 3, 4), (4, 2, 2, 2), (5, 1, 2, 2), (3, 7), (10,))
PREFIXES = ("+7", "8", "7", "%2B7", "\uff0b7", "+7 ", "8 ", "")
SCRIPTS = ("0123456789", "０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹")
GLUE = ("wa_", "client", "order_", "tg-", "id", "lead/")
AREA_LENGTHS = (3, 4, 5)


@st.composite
def subscriber(draw: st.DrawFn) -> str:
    """Ten digits: a mobile number (9xx...) or a landline with a 3-5 digit area code (3xx, 4xx, 8xx)."""
    first = "9" if draw(st.booleans()) else draw(st.sampled_from("348"))
    # Nine different digits: any seven in a row are then distinctive enough to search exported bytes for
    # (seven zeros, where shrinking would go, occur in any float or timestamp).
    return first + "".join(draw(st.permutations("0123456789"))[:9])


def written(ten: str, prefix: str, grouping: tuple[int, ...], sep: str, paren: bool, script: str) -> str:
    """The ten digits ``ten`` written the way the other arguments say."""
    ten = ten.translate({ord(c): script[int(c)] for c in "0123456789"})  # not the digits of "&#8209;"
    groups, at = [], 0
    for size in grouping:
        groups.append(ten[at : at + size])
        at += size
    text = groups[0] if not paren else f"({groups[0]})"
    rest = sep.join(groups[1:])
    return prefix + text + (sep if rest else "") + rest


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(how it is written, its canonical 11 digits 7XXXXXXXXXX)."""
    ten = draw(subscriber())
    prefix = draw(st.sampled_from(PREFIXES))
    paren = draw(st.booleans())
    if not prefix and ten[0] != "9":
        paren = True  # a landline without a prefix is recognisable only by its parenthesised area code
    grouping = draw(st.sampled_from(GROUPINGS))
    if paren and ten[0] != "9":
        area = draw(st.sampled_from(AREA_LENGTHS))
        grouping = (area, *draw(st.sampled_from(((3, 2, 2), (2, 2, 3), (3, 4), (2, 2, 2, 1), (7,), (1, 2, 2, 2)))))
        grouping = _fit(grouping)
    text = written(ten, prefix, grouping, draw(st.sampled_from(SEPARATORS)), paren, draw(st.sampled_from(SCRIPTS)))
    if draw(st.integers(0, 4)) == 0:
        glued = prefix.strip() or ("" if ten[0] == "9" else "8")
        text = draw(st.sampled_from(GLUE)) + written(ten, glued, (10,), "", False, "0123456789")
    return text, "7" + ten


def _fit(grouping: tuple[int, ...]) -> tuple[int, ...]:
    """``grouping`` trimmed or extended to sum to ten."""
    out, total = [], 0
    for size in grouping:
        size = min(size, 10 - total)
        if size:
            out.append(size)
            total += size
    if total < 10:
        out.append(10 - total)
    return tuple(out)


LOCAL = st.from_regex(r"[a-z][a-z0-9._]{3,9}[0-9][a-z]", fullmatch=True)
DOMAINS = ("mail", "yandex", "salon-krasoty", "почта", "салон", "клиника-здоровье")
TLDS = ("ru", "com", "рф", "рус", "москва", "xn--p1ai")
ATS = ("@", "\uff20", "%40", "&#64;")


@st.composite
def emails(draw: st.DrawFn) -> tuple[str, str]:
    """(how it is written, its local part in lower case)."""
    local = draw(LOCAL)
    address = f"{local}{draw(st.sampled_from(ATS))}{draw(st.sampled_from(DOMAINS))}.{draw(st.sampled_from(TLDS))}"
    if draw(st.booleans()):
        address = address.upper()
    return address, local


# -- leak scanning (independent of botwatch.masking) --------------------------------------------------------------
_DROP = re.compile(r"[\s\-/_.()+\u00ad\u200b-\u200f\u2010-\u2015\u2060\u2212\ufeff\u2011\u2012]")


def _readable(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    text = unquote(html.unescape(text))
    text = "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in text)
    return _DROP.sub("", unicodedata.normalize("NFKC", text))


# Unix times in seconds, ms, µs or ns (created timestamps of /metrics, times in the journal's JSON) are
# digits too: one of them is not a phone, even when seven of its digits happen to be the number's.
_NOW = re.compile(r"(?<!\d)" + str(int(time.time()))[:4] + r"\d{6,15}(?!\d)")


def leaks(data: bytes, canonical: str, local: str | None = None) -> list[str]:
    """What of the phone (any 7 consecutive digits, with a 7 or 8 prefix) or e-mail local part ``data`` holds."""
    text = _NOW.sub("|", _readable(data))
    found = []
    for number in {canonical, "8" + canonical[1:]}:
        found += [number[i : i + 7] for i in range(len(number) - 6) if number[i : i + 7] in text]
    if local and _DROP.sub("", local.lower()) in text.lower():
        found.append(local)
    return sorted(set(found))
