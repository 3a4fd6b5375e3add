"""Input checks at the API boundary: clear ``ValueError`` or a safe value, never a crash later."""

from __future__ import annotations

import math

MAX_NAME_LENGTH = 128


def clean_text(value: object, *, limit: int, what: str) -> str:
    """Any text made exportable: decoded, valid UTF-8, at most ``limit`` characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    if not value.isascii():
        # Lone surrogates (from bad decoding upstream) cannot be encoded by any exporter.
        value = value.encode("utf-8", "replace").decode("utf-8")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def clean_name(value: object, what: str) -> str:
    """An identifier-like value (intent, model, channel, action): non-empty text."""
    text = clean_text(value, limit=MAX_NAME_LENGTH, what=what).strip()
    if not text:
        raise ValueError(f"{what} must not be empty")
    return text


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
