"""Client text made safe to print on a terminal: what the CLI shows of messages, ids and names.

Any client of a bot controls the text botwatch records, so a transcript printed
raw could clear the screen (``ESC [2J``), write the clipboard (OSC 52), show a
link that points elsewhere (OSC 8) or reverse what follows (bidi overrides).
:func:`printable` removes escape sequences (7- and 8-bit forms), C0/C1 controls
and bidi embeddings/overrides/isolates; a line break becomes ``↵`` so one
message stays one line of a transcript or table.  :func:`json_line` keeps JSON
lossless: the same characters are written as ``\\uXXXX`` escapes instead.
"""

from __future__ import annotations

import json
import re

NEWLINE_MARK = "↵"

_ESCAPE_SEQUENCE = re.compile(
    # CSI (ESC [ or 8-bit CSI): parameters, intermediates, final byte (or cut short)
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    # OSC, DCS, SOS, PM, APC (7- or 8-bit): everything up to the terminator BEL / ST, or the end
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|\Z)"
    # any other escape: ESC, intermediates, final byte (or a lone ESC)
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL,
)
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw but a terminal or bidi renderer acts on.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` without escape sequences, controls or bidi overrides; tabs become spaces.

    Line breaks become ``↵`` unless ``keep_newlines`` (a multi-line block the
    caller built itself), in which case every break is a plain ``\\n``.
    """
    clean = _ESCAPE_SEQUENCE.sub("", str(text))
    clean = _LINE_BREAK.sub("\n" if keep_newlines else NEWLINE_MARK, clean)
    return _INVISIBLE.sub("", clean.replace("\t", " "))


def json_line(value: object) -> str:
    """One line of JSON (non-ASCII kept readable) with every control and bidi character escaped."""
    raw = json.dumps(value, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", raw)
