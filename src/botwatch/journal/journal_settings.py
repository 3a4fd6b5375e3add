"""Where the journal lives and how long it keeps things, from the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from botwatch import env

ENV_PATH = env.JOURNAL.name
ENV_RETENTION_DAYS = env.RETENTION_DAYS.name
ENV_METRICS_RETENTION_DAYS = env.METRICS_RETENTION_DAYS.name
ENV_MAX_MB = env.JOURNAL_MAX_MB.name

_logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90.0
DEFAULT_METRICS_RETENTION_DAYS = 365.0
DEFAULT_MAX_MB = 1024.0


def default_journal_path() -> Path:
    return env.default_journal()


def journal_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The explicit path, else ``$BOTWATCH_JOURNAL``, else the per-user default."""
    return env.journal_path(path)


@dataclass(frozen=True)
class JournalSettings:
    """Retention: content (spans, logs) by age, metric snapshots by age, everything by size."""

    retention: timedelta = timedelta(days=DEFAULT_RETENTION_DAYS)
    metrics_retention: timedelta = timedelta(days=DEFAULT_METRICS_RETENTION_DAYS)
    max_bytes: int = int(DEFAULT_MAX_MB * 1024 * 1024)
    # Tenant id -> its own content retention (the tenants file's ``retention``); the others keep ``retention``.
    tenant_retention: Mapping[str, timedelta] = field(default_factory=dict, hash=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JournalSettings:
        """Retention from ``BOTWATCH_RETENTION_DAYS`` and the others; a bad value raises ``ConfigError``."""
        return cls(
            retention=timedelta(days=_positive(environ, env.RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            metrics_retention=timedelta(
                days=_positive(environ, env.METRICS_RETENTION_DAYS, DEFAULT_METRICS_RETENTION_DAYS)
            ),
            max_bytes=int(_positive(environ, env.JOURNAL_MAX_MB, DEFAULT_MAX_MB) * 1024 * 1024),
        )


def _positive(environ: Mapping[str, str] | None, var: env.Var, default: float) -> float:
    value = var.number(environ, default)
    assert value is not None
    return value
