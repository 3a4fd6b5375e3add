"""The ``botwatch`` command: one entry point, a subcommand per job, ``--help`` everywhere."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from botwatch.cli import audit, demo, export, gateway, kpi, replay, report, sessions, stack
from botwatch.cli.common import EXIT_DATA, EXIT_USAGE, fail
from botwatch.journal import JournalError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="botwatch",
        description="Observability and audit for AI chat bots: traces, KPIs, replays, alerts.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (demo, kpi, replay, sessions, export, audit, report, gateway, stack):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except JournalError as error:
        return fail(str(error).removeprefix("botwatch "), EXIT_DATA)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # `botwatch replay ... | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
