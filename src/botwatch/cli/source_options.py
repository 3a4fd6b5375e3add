"""Command-line plumbing the audit commands share: the source options and error → exit code.

Part of the CLI (it maps audit errors to the CLI's exit codes); the audit library imports no CLI code.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from botwatch.audit.audit_errors import NotFound, SourceError, UsageError
from botwatch.audit.backends import open_source
from botwatch.audit.source import (
    ENV_LOKI,
    ENV_PROMETHEUS,
    ENV_SERVICE,
    ENV_SOURCE,
    ENV_TEMPO,
    SOURCES,
    Source,
    SourceOptions,
)
from botwatch.cli.common import EXIT_DATA, EXIT_NOT_FOUND, EXIT_USAGE, fail


def add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where to read")
    group.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help=f"journal (default) or stack (Loki, Tempo, Prometheus); ${ENV_SOURCE}",
    )
    group.add_argument(
        "--journal", type=Path, default=None, help="journal file (default: $BOTWATCH_JOURNAL or the per-user journal)"
    )
    group.add_argument("--loki-url", default=None, help=f"Loki base URL (${ENV_LOKI})")
    group.add_argument("--tempo-url", default=None, help=f"Tempo base URL (${ENV_TEMPO})")
    group.add_argument("--prometheus-url", default=None, help=f"Prometheus base URL (${ENV_PROMETHEUS})")
    group.add_argument("--service", default=None, help=f"stack: only this bot's service.name (${ENV_SERVICE})")


def source_from(args: argparse.Namespace, lookback: timedelta | None = None) -> Source:
    extra = {"lookback": lookback} if lookback is not None else {}
    options = SourceOptions.resolve(
        args.source,
        args.journal,
        args.loki_url,
        args.tempo_url,
        args.prometheus_url,
        args.service,
        tenant=getattr(args, "tenant", None),  # on the commands with --tenant (cli.common.add_tenant_option)
        **extra,
    )
    return open_source(options)


def audit_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Audit failures as one line on stderr and the documented exit code, never a traceback."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except NotFound as error:
            return fail(str(error), EXIT_NOT_FOUND)
        except UsageError as error:
            return fail(str(error), EXIT_USAGE)
        except SourceError as error:
            return fail(str(error), EXIT_DATA)

    return wrapped


def human(delta: timedelta) -> str:
    """``7 days``, ``12 hours``, ``30 minutes``."""
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:g} {unit}" + ("" if value == 1 else "s")
    return f"{seconds:g} seconds"
