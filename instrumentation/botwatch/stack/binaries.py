"""Where the stack's configs and binaries are, and how to get a missing binary.

Each ``*_binary()`` returns the path or None; an environment variable
(``BOTWATCH_<NAME>_BIN``) names the only candidate when set.  ``HOW_TO_GET``
says, per component, what to run when it is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def _find_repo() -> Path:
    """The botwatch checkout holding collector/, deploy/ and alerts/ ($BOTWATCH_REPO wins)."""
    if os.environ.get("BOTWATCH_REPO"):
        return Path(os.environ["BOTWATCH_REPO"]).resolve()
    here = Path(__file__).resolve()
    for candidate in (*here.parents, *Path.cwd().resolve().parents, Path.cwd().resolve()):
        if (candidate / "deploy" / "prometheus.yml").is_file() and (candidate / "collector").is_dir():
            return candidate
    return here.parents[3]  # instrumentation/botwatch/stack/ -> the checkout, even if incomplete


REPO = _find_repo()
VERSIONS_FILE = REPO / "deploy" / "versions.env"
CONFIG_LOKI = REPO / "deploy" / "loki.yaml"
CONFIG_ALERTMANAGER = REPO / "alerts" / "alertmanager.yml"
DEFAULT_LOKI_VERSION = "3.7.8"  # scripts/build-loki.sh uses the same default


def cache_dir() -> Path:
    return Path(os.environ.get("BOTWATCH_CACHE") or Path.home() / ".cache" / "botwatch")


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


def _first_executable(override: str, *candidates: str | Path | None) -> Path | None:
    """The binary named by the environment variable ``override`` if set (and only it), else the first candidate."""
    if os.environ.get(override):
        candidates = (os.environ[override],)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def collector_binary() -> Path | None:
    return _first_executable("BOTWATCH_OTELCOL_BIN", REPO / "collector" / "dist" / "otelcol-botwatch")


def prometheus_binary() -> Path | None:
    return _first_executable("BOTWATCH_PROMETHEUS_BIN", shutil.which("prometheus"), "/usr/bin/prometheus")


def alertmanager_binary() -> Path | None:
    return _first_executable(
        "BOTWATCH_ALERTMANAGER_BIN", cache_dir() / "bin" / "alertmanager", shutil.which("alertmanager")
    )


def loki_version() -> str:
    return pinned_version("LOKI", DEFAULT_LOKI_VERSION) or DEFAULT_LOKI_VERSION


def loki_binary() -> Path | None:
    return _first_executable("BOTWATCH_LOKI_BIN", cache_dir() / "bin" / f"loki-{loki_version()}")


def tempo_binary() -> Path | None:
    return _first_executable("BOTWATCH_TEMPO_BIN", shutil.which("tempo"))


def grafana_binary() -> Path | None:
    return _first_executable("BOTWATCH_GRAFANA_BIN", shutil.which("grafana"), shutil.which("grafana-server"))


HOW_TO_GET = {
    "collector": "run collector/build.sh (builds collector/dist/otelcol-botwatch), or set BOTWATCH_OTELCOL_BIN",
    "prometheus": "apt-get install prometheus, or set BOTWATCH_PROMETHEUS_BIN",
    "alertmanager": "run alerts/build-alertmanager.sh (Go; the pinned version), or set BOTWATCH_ALERTMANAGER_BIN",
    "loki": "run scripts/build-loki.sh (Go; about 5 minutes on 2 cores), or set BOTWATCH_LOKI_BIN",
    "tempo": "no native build (Tempo cannot be built from the Go module proxy); use docker compose",
    "grafana": "no native build (Grafana needs its frontend build); use docker compose",
}
