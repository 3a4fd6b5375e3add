"""Where the stack's binaries are, and what a test does when one is missing.

The lookup is botwatch.stack.binaries (shared with ``botwatch stack``); what is
test-only is the reaction: skip locally, fail with ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from botwatch.stack import binaries as _lookup
from botwatch.stack.binaries import HOW_TO_GET, REPO, cache_dir

__all__ = [
    "REPO",
    "alertmanager_binary",
    "cache_dir",
    "collector_binary",
    "in_ci",
    "missing",
    "prometheus_binary",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing(reason: str) -> NoReturn:
    """Skip locally; in CI (CI=true) a missing component is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the stack must be complete)", pytrace=False)
    pytest.skip(reason)


def _required(find: Callable[[], Path | None], what: str, component: str) -> Path:
    found = find()
    if found is None:
        missing(f"{what} not found: {HOW_TO_GET[component]}")
    return found


def collector_binary() -> Path:
    return _required(_lookup.collector_binary, "collector/dist/otelcol-botwatch", "collector")


def prometheus_binary() -> Path:
    return _required(_lookup.prometheus_binary, "prometheus", "prometheus")


def alertmanager_binary() -> Path:
    return _required(_lookup.alertmanager_binary, str(cache_dir() / "bin" / "alertmanager"), "alertmanager")
