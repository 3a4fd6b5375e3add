"""Telegram's parsing of ``parse_mode: HTML`` and its length limits, for the local Bot API (``telegram_api``).

What api.telegram.org does with a message text (or caption) before it sends
it, as its answers show:

* HTML is parsed into plain text and entities.  Only Telegram's tags are
  allowed (``b``, ``strong``, ``i``, ``em``, ``u``, ``ins``, ``s``,
  ``strike``, ``del``, ``a``, ``code``, ``pre``, ``span``, ``tg-spoiler``,
  ``tg-emoji``, ``blockquote``); every start tag needs its end tag, in order.
  A failure is HTTP 400 ``Bad Request: can't parse entities: <reason>``
  with the reasons and byte offsets the server gives.
* ``&`` must begin ``&lt;``, ``&gt;``, ``&amp;``, ``&quot;`` or a numeric
  entity (the Bot API documentation's rule: "All <, > and & symbols that
  are not a part of a tag or an HTML entity must be replaced").  The server
  sometimes lets a bare ``&`` through; refusing it here keeps the senders to
  the documented contract.
* The text that remains may be at most 4096 characters (a caption 1024);
  longer is HTTP 400 ``Bad Request: message is too long`` (``message caption
  is too long``); empty is ``message text is empty``.  Characters are counted
  in UTF-16 code units, as Telegram's entity offsets are (an emoji outside the
  BMP counts 2: stricter than counting code points).

Other parse modes are not parsed: their raw text is what is counted.
"""

from __future__ import annotations

import re

MAX_TEXT = 4096
MAX_CAPTION = 1024
TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span", "tg-spoiler"}
    | {"tg-emoji", "blockquote"}
)
NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(?P<dec>[0-9]{1,7})|#[xX](?P<hex>[0-9a-fA-F]{1,6})|(?P<name>[a-zA-Z]+));")
_ATTRIBUTE = re.compile(r"""\s*(?P<name>[a-zA-Z_-]+)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>"']+))""")


class EntityError(ValueError):
    """The text cannot be sent; ``str()`` is the Bot API's ``description``."""


def _refuse(reason: str) -> EntityError:
    return EntityError(f"Bad Request: can't parse entities: {reason}")


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _entity(text: str, i: int) -> tuple[str, int]:
    """The character an entity at ``text[i] == "&"`` stands for, and the index after it."""
    match = _ENTITY.match(text, i)
    if match:
        if match["name"] is not None and match["name"] in NAMED:
            return NAMED[match["name"]], match.end()
        code = int(match["dec"]) if match["dec"] else int(match["hex"], 16) if match["hex"] else -1
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), match.end()
    raise _refuse(f"Unsupported HTML entity at byte offset {_offset(text, i)}")


def _start_tag(text: str, begin: int, open_tags: list[str]) -> int:
    i = begin + 1
    while i < len(text) and not text[i].isspace() and text[i] not in ">/":
        i += 1
    if i >= len(text):
        raise _refuse(f"Unclosed start tag at byte offset {_offset(text, begin)}")
    name = text[begin + 1 : i].lower()
    if name not in TAGS:
        raise _refuse(f'Unsupported start tag "{name}" at byte offset {_offset(text, begin)}')
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == ">":
            open_tags.append(name)
            return i + 1
        attribute = _ATTRIBUTE.match(text, i)
        if attribute is None:
            where = _offset(text, begin)
            if text.find(">", i) < 0:  # cut inside the tag or an attribute value
                raise _refuse(f"Unclosed start tag at byte offset {where}")
            raise _refuse(
                f'Expected equal sign in declaration of an attribute of the tag "{name}" at byte offset {where}'
            )
        for quoted in ("dq", "sq", "bare"):
            value = attribute[quoted]
            if value is not None and "&" in value:
                plain(value, "HTML")  # entities inside attribute values follow the same rule
        i = attribute.end()


def _end_tag(text: str, begin: int, open_tags: list[str]) -> int:
    if not open_tags:
        raise _refuse(f"Unexpected end tag at byte offset {_offset(text, begin)}")
    i = begin + 2
    while i < len(text) and not text[i].isspace() and text[i] != ">":
        i += 1
    name = text[begin + 2 : i].lower()
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text) or text[i] != ">":
        raise _refuse(f"Unclosed end tag at byte offset {_offset(text, begin)}")
    expected = open_tags.pop()
    if name and name != expected:
        raise _refuse(
            f'Unmatched end tag at byte offset {_offset(text, begin)}, expected "</{expected}>", found "</{name}>"'
        )
    return i + 1


def plain(text: str, parse_mode: object) -> str:
    """The text Telegram shows for ``text`` sent with ``parse_mode``; raises EntityError if it refuses it."""
    if parse_mode is None or str(parse_mode).upper() != "HTML":
        return text
    visible: list[str] = []
    open_tags: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            decoded, i = _entity(text, i)
            visible.append(decoded)
        elif char == "<":
            i = _end_tag(text, i, open_tags) if text.startswith("</", i) else _start_tag(text, i, open_tags)
        else:
            visible.append(char)
            i += 1
    if open_tags:
        raise _refuse(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(visible)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check(field: str, text: str, parse_mode: object) -> str:
    """The visible text of a ``text`` or ``caption`` Telegram would accept; EntityError with its description if not."""
    shown = plain(text, parse_mode)
    if field == "caption":
        if utf16_length(shown) > MAX_CAPTION:
            raise EntityError("Bad Request: message caption is too long")
        return shown
    if not shown.strip():
        raise EntityError("Bad Request: message text is empty")
    if utf16_length(shown) > MAX_TEXT:
        raise EntityError("Bad Request: message is too long")
    return shown
