"""Where a bridged log line was written, as the ``code.*`` semantic conventions name it.

``code.function.name`` is fully qualified (``package.module.Class.method``).
Neither loguru nor ``logging`` records the class, so while the line is being
handled (both call their sinks in the logging thread) the caller's frame is
looked up on the stack and its ``co_qualname`` used; when it is gone (loguru
with ``enqueue=True``) the name is ``module.function``.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from botwatch import semconv

_MAX_DEPTH = 40  # frames between the logging call and our handler: ~10 for logging, ~5 for loguru
_MODULES_BY_PATH: dict[str, str] = {}
_CACHE_LIMIT = 10_000


def module_of(path: str) -> str | None:
    """The dotted name of the imported module whose file is ``path`` (cached)."""
    known = _MODULES_BY_PATH.get(path)
    if known is not None:
        return known or None
    found = ""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == path:
            found = name
            break
    if len(_MODULES_BY_PATH) < _CACHE_LIMIT:
        _MODULES_BY_PATH[path] = found
    return found or None


def _caller(path: str, line: int) -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_DEPTH):
        if frame is None:
            return None
        if frame.f_lineno == line and frame.f_code.co_filename == path:
            return frame
        frame = frame.f_back
    return None


def code_attributes(module: str | None, function: str | None, line: int | None, path: str | None) -> dict[str, Any]:
    """``code.function.name``, ``code.line.number``, ``code.file.path`` of one log line.

    ``module`` is the dotted module name when the logging library knows it
    (loguru does), else it is looked up from ``path``.
    """
    where: dict[str, Any] = {}
    if path and line:
        module = module or module_of(path)
        frame = _caller(path, line)
        if frame is not None:
            function = frame.f_code.co_qualname
    if function:
        qualified = function != "<module>" and module
        where[semconv.CODE_FUNCTION_NAME] = f"{module}.{function}" if qualified else function
    if line:
        where[semconv.CODE_LINE_NUMBER] = line
    if path:
        where[semconv.CODE_FILE_PATH] = path
    return where
