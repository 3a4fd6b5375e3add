"""One reading of a string for every detector: escapes decoded, Unicode folded, offsets kept.

``fold(text)`` returns the folded string and, when its length differs from
``text``, the map from each folded index to the original index (one entry
more than the folded string has, for ends).  Folding is one character to
one character, so only decoded escapes change offsets:

* HTML entities (``&nbsp;``, ``&#8209;``, ``&#x2011;``, ``&commat;``) and URL
  escapes (``%20``, ``%2B``, ``%40``, ``%E2%80%91``) become the character
  they stand for;
* every Unicode decimal digit (full-width, Arabic-Indic, Devanagari...)
  becomes its ASCII digit, full-width ASCII (``＋``, ``＠``, ``Ａ``) its
  ASCII form;
* every dash (en/em, minus, non-breaking hyphen, figure dash...) becomes
  ``-``, every space (NBSP, thin, ideographic...) a space, every invisible
  format character (zero-width space and joiners, soft hyphen, BOM,
  direction marks) :data:`INVISIBLE`.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata

# What an invisible character reads as: a separator between digits, nothing inside an e-mail.
INVISIBLE = "\x7f"

_DASHES = (
    "\u058a\u05be\u1400\u1806\u2010-\u2015\u2043\u2212\u2e17\u2e1a\u2e3a\u2e3b\u2e40"
    "\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\u02d7\u2796"
)
_SPACES = "\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVISIBLES = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
_FULL_WIDTH = "\uff01-\uff5e\ufe62\ufe6b"


def _ranges(chars: str) -> str:
    """``chars`` (sorted) as a character-class body of ranges: the re module looks a range up at once."""
    out, start, last = [], -2, -2
    for code in map(ord, chars):
        if code != last + 1:
            if start >= 0:
                out.append(f"\\u{start:04x}-\\u{last:04x}")
            start = code
        last = code
    if start >= 0:
        out.append(f"\\u{start:04x}-\\u{last:04x}")
    return "".join(out)


@functools.cache
def _foldable() -> re.Pattern[str]:
    """Characters folding differs on; the rest is read as it is.

    Every decimal digit of the Basic Multilingual Plane other than 0-9 (Arabic-Indic,
    Devanagari, full-width...) is found once, by the re module, when first needed.  A
    class of BMP characters is one bitmap lookup per character; characters beyond
    (emoji, mathematical digits) go to :func:`_fold_char` one by one.
    """
    digits = _ranges("".join(re.findall(r"\d", "".join(map(chr, range(0x80, 0x10000))))))
    return re.compile(f"[{digits}{_DASHES}{_SPACES}{_INVISIBLES}{_FULL_WIDTH}]|[\\U00010000-\\U0010ffff]")


_ESCAPE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});|(?:%[0-9A-Fa-f]{2})+")
# UTF-8 sequence length by the lead byte's high nibble.
_UTF8_SIZE = {0xC: 2, 0xD: 2, 0xE: 3, 0xF: 4}
_folded: dict[str, str] = {"\ufe62": "+", "\ufe6b": "@"}


def _fold_char(char: str) -> str:
    out = _folded.get(char)
    if out is None:
        digit = unicodedata.decimal(char, None)
        if digit is not None:
            out = str(digit)
        elif "\uff01" <= char <= "\uff5e":
            out = chr(ord(char) - 0xFEE0)
        elif char.isspace():
            out = " "
        elif unicodedata.category(char) == "Pd" or char in "\u2212\u2043\u02d7\u2796":
            out = "-"
        elif unicodedata.category(char) == "Cf":
            out = INVISIBLE
        else:  # beyond the BMP and not a digit (an emoji): as it is
            out = char
        _folded[char] = out
    return out


def _fold_match(match: re.Match[str]) -> str:
    return _fold_char(match.group())


def _percent(raw: str, start: int, chars: list[str], where: list[int]) -> None:
    """``%XX`` escapes: one character per ASCII byte, one per UTF-8 sequence (offset of its first byte)."""
    data = bytes.fromhex(raw.replace("%", ""))
    index = 0
    while index < len(data):
        byte = data[index]
        size = _UTF8_SIZE.get(byte >> 4, 1)
        chunk = data[index : index + size]
        text = chunk.decode("utf-8", "replace")
        if len(text) != 1:  # a broken sequence: its bytes as they were written
            text, size = raw[3 * index : 3 * index + 3], 1
        chars.append(text)
        where.extend([start + 3 * index] * len(text))
        index += size


def decode_escapes(text: str) -> tuple[str, list[int] | None]:
    """``text`` with HTML entities and URL escapes decoded, and the offset map (None when nothing changed)."""
    if "%" not in text and "&" not in text:
        return text, None
    chars: list[str] = []  # pieces of the decoded text
    where: list[int] = []  # per decoded character: its offset in ``text``
    last = 0
    for match in _ESCAPE.finditer(text):
        raw = match.group()
        start = match.start()
        if raw[0] == "&":
            decoded = html.unescape(raw)
            if decoded == raw or len(decoded) != 1:
                continue
        chars.append(text[last:start])
        where.extend(range(last, start))
        if raw[0] == "&":
            chars.append(decoded)
            where.append(start)
        else:
            _percent(raw, start, chars, where)
        last = match.end()
    if not where:
        return text, None
    chars.append(text[last:])
    where.extend(range(last, len(text) + 1))
    return "".join(chars), where


def fold(text: str) -> tuple[str, list[int] | None]:
    """The folded reading of ``text`` and its offset map (None: the same offsets)."""
    decoded, where = decode_escapes(text)
    if not decoded.isascii():
        decoded = _foldable().sub(_fold_match, decoded)
    return decoded, where
