"""Where the stack's binaries are, and what to do when one is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing(reason: str) -> NoReturn:
    """Skip locally; in CI (CI=true) a missing component is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the stack must be complete)", pytrace=False)
    pytest.skip(reason)


def cache_dir() -> Path:
    return Path(os.environ.get("BOTWATCH_CACHE") or Path.home() / ".cache" / "botwatch")


def _first_executable(override: str, *candidates: str | Path | None) -> Path | None:
    """The binary named by the environment variable ``override`` if set (and only it), else the first candidate."""
    if os.environ.get(override):
        candidates = (os.environ[override],)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def collector_binary() -> Path:
    found = _first_executable(
        "BOTWATCH_OTELCOL_BIN",
        REPO / "collector" / "dist" / "otelcol-botwatch",
    )
    if found is None:
        missing("collector/dist/otelcol-botwatch (or $BOTWATCH_OTELCOL_BIN) not built: run collector/build.sh")
    return found


def prometheus_binary() -> Path:
    found = _first_executable(
        "BOTWATCH_PROMETHEUS_BIN",
        shutil.which("prometheus"),
        "/usr/bin/prometheus",
    )
    if found is None:
        missing("prometheus not found: apt-get install prometheus (or set BOTWATCH_PROMETHEUS_BIN)")
    return found


def alertmanager_binary() -> Path:
    found = _first_executable(
        "BOTWATCH_ALERTMANAGER_BIN",
        cache_dir() / "bin" / "alertmanager",
        shutil.which("alertmanager"),
    )
    if found is None:
        where = cache_dir() / "bin" / "alertmanager"
        missing(f"{where} (or $BOTWATCH_ALERTMANAGER_BIN) not found: run alerts/build-alertmanager.sh")
    return found
