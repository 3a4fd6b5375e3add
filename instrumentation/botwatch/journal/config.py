"""Where the journal lives and how long it keeps things, from the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ENV_PATH = "BOTWATCH_JOURNAL"
ENV_RETENTION_DAYS = "BOTWATCH_RETENTION_DAYS"
ENV_METRICS_RETENTION_DAYS = "BOTWATCH_METRICS_RETENTION_DAYS"
ENV_MAX_MB = "BOTWATCH_JOURNAL_MAX_MB"

_logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90.0
DEFAULT_METRICS_RETENTION_DAYS = 365.0
DEFAULT_MAX_MB = 1024.0


def default_journal_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "botwatch" / "journal.sqlite"


def journal_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The explicit path, else ``$BOTWATCH_JOURNAL``, else the per-user default."""
    chosen = path if path is not None else os.environ.get(ENV_PATH) or default_journal_path()
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class JournalSettings:
    """Retention: content (spans, logs) by age, metric snapshots by age, everything by size."""

    retention: timedelta = timedelta(days=DEFAULT_RETENTION_DAYS)
    metrics_retention: timedelta = timedelta(days=DEFAULT_METRICS_RETENTION_DAYS)
    max_bytes: int = int(DEFAULT_MAX_MB * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JournalSettings:
        env = os.environ if environ is None else environ
        return cls(
            retention=timedelta(days=_positive(env, ENV_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            metrics_retention=timedelta(
                days=_positive(env, ENV_METRICS_RETENTION_DAYS, DEFAULT_METRICS_RETENTION_DAYS)
            ),
            max_bytes=int(_positive(env, ENV_MAX_MB, DEFAULT_MAX_MB) * 1024 * 1024),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        # A typo in an env var must not stop the bot; say so and keep the default.
        _logger.warning("botwatch: ignoring %s=%r (want a number > 0); using %s", name, raw, default)
        return default
    return value
