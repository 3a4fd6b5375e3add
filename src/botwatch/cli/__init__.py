"""The ``botwatch`` command: one entry point, a subcommand per job, ``--help`` everywhere.

Only the subcommand being run is imported (see :mod:`botwatch.cli.commands`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection, Sequence

from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_DATA, EXIT_USAGE, fail
from botwatch.env import ConfigError
from botwatch.extras import MissingExtra


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or with only those in ``load`` imported (the others only listed)."""
    parser = argparse.ArgumentParser(
        prog="botwatch",
        description="Observability and audit for AI chat bots: traces, KPIs, replays, alerts.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        if load is None or name in load:
            importlib.import_module(f"botwatch.cli.{name}_command").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def _command(argv: Sequence[str]) -> str:
    """The subcommand named in ``argv`` ("" if none: only the list of commands is needed)."""
    for word in argv:
        if word == "--":
            break
        if not word.startswith("-"):
            return word if word in SUMMARIES else ""
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    try:
        parser = build_parser({command})
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return EXIT_USAGE
        code: int = args.run(args)
    except MissingExtra as error:
        return fail(str(error).removeprefix("botwatch "), EXIT_USAGE)
    except ConfigError as error:  # a bad BOTWATCH_* value: one line naming it
        return fail(str(error), EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # `botwatch replay ... | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:
        if _loaded_instance(error, "botwatch.settings", "SecretError"):  # an empty or short secret: fix the setup
            return fail(str(error), EXIT_USAGE)
        if not _is_journal_error(error):
            raise
        return fail(str(error).removeprefix("botwatch "), EXIT_DATA)
    return code


def _loaded_instance(error: Exception, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(error, getattr(loaded, name))


def _is_journal_error(error: Exception) -> bool:
    # Only a command that opened a journal can raise one, and then its module is loaded.
    errors = sys.modules.get("botwatch.journal.journal_error")
    return errors is not None and isinstance(error, errors.JournalError)


if __name__ == "__main__":
    sys.exit(main())
