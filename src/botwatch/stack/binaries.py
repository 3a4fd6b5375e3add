"""Where the stack's configs and binaries are, and how to get a missing binary.

Each ``*_binary()`` returns the path or None; an environment variable
(``BOTWATCH_<NAME>_BIN``) names the only candidate when set.  ``HOW_TO_GET``
says, per component, what to run when it is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from botwatch import env


def _find_repo() -> Path:
    """The botwatch checkout holding collector/, deploy/ and alerts/ ($BOTWATCH_REPO wins)."""
    configured = env.REPO.path()
    if configured is not None:
        return configured.resolve()
    here = Path(__file__).resolve()
    for candidate in (*here.parents, *Path.cwd().resolve().parents, Path.cwd().resolve()):
        if (candidate / "deploy" / "prometheus.yml").is_file() and (candidate / "collector").is_dir():
            return candidate
    return here.parents[3]  # src/botwatch/stack/ -> the checkout, even if incomplete


REPO = _find_repo()
VERSIONS_FILE = REPO / "deploy" / "versions.env"
CONFIG_ALERTMANAGER = REPO / "alerts" / "alertmanager.yml"


def cache_dir() -> Path:
    return env.CACHE.path() or Path.home() / ".cache" / "botwatch"


def pinned_version(component: str, default: str | None = None) -> str | None:
    """``<COMPONENT>_VERSION`` from deploy/versions.env."""
    key = f"{component.upper()}_VERSION="
    try:
        for line in VERSIONS_FILE.read_text().splitlines():
            if line.startswith(key):
                return line[len(key) :].strip().strip('"').removeprefix("v") or default
    except FileNotFoundError:
        pass
    return default


def _first_executable(override: env.Var, *candidates: str | Path | None) -> Path | None:
    """The binary named by the environment variable ``override`` if set (and only it), else the first candidate."""
    if override.is_set():
        candidates = (override.text(),)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def collector_binary() -> Path | None:
    return _first_executable(env.OTELCOL_BIN, REPO / "collector" / "dist" / "otelcol-botwatch")


def prometheus_binary() -> Path | None:
    return _first_executable(env.PROMETHEUS_BIN, shutil.which("prometheus"), "/usr/bin/prometheus")


def alertmanager_binary() -> Path | None:
    return _first_executable(env.ALERTMANAGER_BIN, cache_dir() / "bin" / "alertmanager", shutil.which("alertmanager"))


HOW_TO_GET = {
    "collector": "run collector/build.sh (builds collector/dist/otelcol-botwatch), or set BOTWATCH_OTELCOL_BIN",
    "prometheus": "apt-get install prometheus, or set BOTWATCH_PROMETHEUS_BIN",
    "alertmanager": "run alerts/build-alertmanager.sh (Go; the pinned version), or set BOTWATCH_ALERTMANAGER_BIN",
    # AGPL: run as their official images in docker compose only, never fetched or built here.
    "loki": "not run natively (AGPL; runs as its image in docker compose); logs go to the journal",
    "tempo": "not run natively (AGPL; runs as its image in docker compose); traces go to the journal",
    "grafana": "not run natively (AGPL; runs as its image in docker compose)",
}
