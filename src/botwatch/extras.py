"""Optional features: each lives behind a pip extra, and says which one when it is missing.

The core install (``pip install botwatch``) is the SDK, the journal and every
read command; charts, the webhook gateway, Redis, the stack launcher and the
Prometheus endpoint need more, installed with ``pip install 'botwatch[NAME]'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.partition(".")[0]
        raise MissingExtra(
            f"{feature} needs the '{extra}' extra ({top} is not installed): pip install 'botwatch[{extra}]'"
        ) from error
