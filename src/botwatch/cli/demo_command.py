"""``botwatch demo``: simulated salon, clinic and barbershop bots, traced for real.

Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` the telemetry goes into the embedded
journal and the run ends with the KPIs read back from it; with the variable
set it goes to that collector and the summary comes from the simulator's
own tally.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import botwatch
from botwatch import env
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_OK, EXIT_USAGE, add_journal_option, fail, open_journal
from botwatch.demo.faults import NO_FAULTS, Faults, FaultSyntaxError, parse_faults
from botwatch.demo.runner import DemoResult, Progress, run_demo
from botwatch.journal import format_kpi_table

_BAR = 28


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=SUMMARIES["demo"],
        description=(
            "Simulate Russian-speaking bots of a beauty salon, a clinic and a barbershop talking to clients "
            "over WhatsApp, Telegram, Instagram and a site chat, traced through botwatch. Telemetry goes to "
            "the embedded journal, or to OTEL_EXPORTER_OTLP_ENDPOINT when it is set."
        ),
        epilog=(
            "faults: comma-separated NAME=RATE[@START-END], NAME one of slow_llm, low_confidence, crm_errors; "
            "e.g. --faults slow_llm=0.3,crm_errors=0.5@10s-60s"
        ),
    )
    parser.add_argument("--conversations", "-n", type=int, default=200, help="how many conversations (200)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="live traffic: conversations per second in real time (default: "
        "as fast as possible, back-dated over the last 7 days)",
    )
    parser.add_argument("--faults", default="", help="fault injection, see below (none)")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed; the same seed gives the same run (default: a new one each run, printed, so "
        "running the demo again adds new conversations instead of repeating the same ones). A seed the "
        "journal already holds is refused: its conversations would count twice",
    )
    parser.add_argument("--service-name", default="botwatch-demo", help="service.name of the simulated bots")
    add_journal_option(parser)
    parser.set_defaults(run=run)


class ProgressLine:
    """One line rewritten in place on a terminal; a line every few seconds in a log."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._total = total
        self._tty = stream.isatty()
        self._last_print = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        final = progress.done == progress.total
        if not self._tty and not final and now - self._last_print < 5:
            return
        self._last_print = now
        tally = progress.tally
        share = progress.done / progress.total if progress.total else 1.0
        filled = int(share * _BAR)
        remaining = (progress.total - progress.done) / progress.per_second if progress.per_second else 0.0
        line = (
            f"[{'#' * filled}{'.' * (_BAR - filled)}] {progress.done}/{progress.total} conversations "
            f"· {tally.turns} turns · {progress.per_second:.1f}/s · over 3 s {tally.sla_breach_share:.0%} "
            f"· leads failed {tally.lead_failures} · ETA {remaining:.0f} s"
        )
        if self._tty:
            self._stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


def run(args: argparse.Namespace) -> int:
    if args.conversations < 1:
        return fail("--conversations must be at least 1", EXIT_USAGE)
    if args.rate is not None and args.rate <= 0:
        return fail("--rate must be a positive number of conversations per second", EXIT_USAGE)
    try:
        faults = parse_faults(args.faults) if args.faults else NO_FAULTS
    except FaultSyntaxError as error:
        return fail(f"--faults: {error}", EXIT_USAGE)
    if args.journal is not None:
        os.environ[env.JOURNAL.name] = str(args.journal)
    seed = args.seed if args.seed is not None else secrets.randbelow(100_000)
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        while (holder := journal_with_seed(seed)) is not None and args.seed is None:
            seed = secrets.randbelow(100_000)  # a new run never repeats an earlier one's conversations
        if holder is not None:
            return fail(
                f"the journal {holder} already holds the demo with seed {seed}; running it again would count "
                "every conversation twice. Run without --seed for new conversations, or give another --journal.",
                EXIT_USAGE,
            )
    telemetry = botwatch.init(service_name=args.service_name)
    live = "live, real time" if args.rate else "back-dated over the last 7 days"
    print(
        f"botwatch demo: {args.conversations} conversations, seed {seed} (the same run in another journal: "
        f"--seed {seed}), {live}"
    )
    print(f"  faults: {describe(faults)}")
    print(f"  telemetry → {telemetry.destination}")
    result = run_demo(args.conversations, args.rate, faults, seed, ProgressLine(sys.stdout, args.conversations))
    botwatch.shutdown()
    print(summary(result))
    if telemetry.settings.otlp_endpoint:
        print("\nKPIs as the simulator planned them (the collector's backends hold the telemetry):")
        print(format_tally(result))
        return EXIT_OK
    covered_days = (time.time_ns() - (result.earliest_ns or time.time_ns())) / 86400e9
    window = timedelta(days=max(1, math.ceil(covered_days)))  # whole days that hold the whole run
    with open_journal(None) as journal:
        print()
        print(format_kpi_table(journal.kpi(window)))
    print(f"\nReplay one: botwatch replay {result.last_id}   ·   KPIs any time: botwatch kpi --since 7d")
    return EXIT_OK


def journal_with_seed(seed: int) -> Path | None:
    """The journal (where the demo would write) if it already holds the demo run with ``seed``."""
    from botwatch.demo.script import conversation_id
    from botwatch.journal import Journal, journal_path

    path = journal_path(None)
    if not path.exists():
        return None
    with Journal(path) as journal:
        return path if journal.session(conversation_id(seed, 0)) is not None else None


def describe(faults: Faults) -> str:
    text = str(faults)
    return "none" if faults == NO_FAULTS or not text else text


def summary(result: DemoResult) -> str:
    tally = result.tally
    span = ""
    if result.earliest_ns and result.latest_ns:
        first = datetime.fromtimestamp(result.earliest_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        last = datetime.fromtimestamp(result.latest_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        span = f"\n  conversations dated {first} → {last} UTC"
    return (
        f"Done in {result.elapsed_s:.1f} s: {tally.conversations} conversations, {tally.turns} turns, "
        f"{tally.llm_calls} LLM calls, {tally.crm_calls} CRM calls.{span}"
    )


def format_tally(result: DemoResult) -> str:
    tally = result.tally
    rows = [
        ("Conversion chat → booking", f"{tally.booking_conversion:.1%}"),
        ("Turns over 3 s", f"{tally.sla_breach_share:.1%}"),
        ("Turn time p50 / p95", f"{tally.turn_seconds(0.5):.2f} s / {tally.turn_seconds(0.95):.2f} s"),
        ("Intents below 0.6 confidence", f"{tally.low_confidence_share:.1%}"),
        ("Lead creation failures", f"{tally.lead_failures} of {tally.lead_attempts}"),
        ("Tokens in / out", f"{tally.input_tokens} / {tally.output_tokens}"),
    ]
    return "\n".join(f"  {name:<32}{value:>20}" for name, value in rows)
