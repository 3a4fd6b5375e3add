"""Input checks at the API boundary: clear ``ValueError`` or a safe value, never a crash later.

Names (channel, intent, action, CRM ids, ...) are checked by one function,
``name_problem``, used by the SDK (``clean_name``) and by the webhook
gateway's event model alike, so whatever the gateway accepts the SDK records.
"""

from __future__ import annotations

import math
import re

from botwatch.masking import cut

MAX_NAME_LENGTH = 128
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
SURROGATE_PROBLEM = "contains an unpaired UTF-16 surrogate (such as \\ud800); send valid Unicode"


def has_surrogate(value: str) -> bool:
    """A lone UTF-16 surrogate (``"\\ud800"`` in JSON): no exporter can encode it."""
    return not value.isascii() and _SURROGATE.search(value) is not None


def printable(value: str) -> str:
    """``value`` safe to serialise and show: lone surrogates as ``\\udXXX`` escapes."""
    return value if value.isascii() else value.encode("utf-8", "backslashreplace").decode("utf-8")


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name (checked after ``str.strip()``), or None."""
    if has_surrogate(value):
        return SURROGATE_PROBLEM
    if not value:
        return "must not be empty"
    if _CONTROL.search(value):
        return "must not contain control characters (such as \\x1c)"
    return None


def strip_name(value: str) -> str:
    """The one whitespace rule for names: Python's ``str.strip()`` (pydantic's strip differs)."""
    return value.strip()


def clean_text(value: object, *, limit: int, what: str) -> str:
    """Any text made exportable: decoded, valid UTF-8, at most ``limit`` characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    if not value.isascii():
        # Lone surrogates (from bad decoding upstream) cannot be encoded by any exporter.
        value = value.encode("utf-8", "replace").decode("utf-8")
    # Never cut a phone, e-mail or secret in half: the cut moves before it (masked on export).
    return cut(value, limit)


def clean_name(value: object, what: str) -> str:
    """An identifier-like value (intent, model, channel, action): non-empty text, no control characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    text = strip_name(value)
    problem = name_problem(text)
    if problem:
        raise ValueError(f"{what} {problem}")
    return cut(text, MAX_NAME_LENGTH)


def clean_optional_name(value: object, what: str) -> str | None:
    return None if value is None else clean_name(value, what)


def clean_confidence(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"confidence must be a number in [0, 1], got {type(value).__name__}")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {value!r}")
    return number


def clean_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def clean_amount(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise ValueError(f"{what} must be a finite, non-negative number, got {value!r}")
    return number
