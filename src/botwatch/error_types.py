"""``error.type`` values: an exception's fully qualified class name, the same everywhere.

botwatch's own spans, the OpenAI instrumentation (whose helper library hands
over the class itself, which the SDK turns into ``"<class 'openai.RateLimitError'>"``)
and the metrics all say ``openai.RateLimitError``; builtins stay short
(``TimeoutError``), as ``Span.record_exception`` writes ``exception.type``.
"""

from __future__ import annotations

import re

_CLASS_REPR = re.compile(r"<class '([\w.]+)'>")


def class_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__", None) else f"{module}.{cls.__qualname__}"


def error_type(value: object) -> str:
    """``value`` (an exception, its class, ``"<class '...'>"`` or a code) as an ``error.type`` value."""
    if isinstance(value, BaseException):
        return class_name(type(value))
    if isinstance(value, type):
        return class_name(value)
    text = str(value)
    matched = _CLASS_REPR.fullmatch(text)
    return matched.group(1) if matched else text
