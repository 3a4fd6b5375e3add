"""Insights benchmark: ``botwatch insights`` over a 1 000 000-event journal, against ``kpi`` on the same window.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/insights.py [--events 1000000] [--rounds 3]

Builds the synthetic journal of benchmarks/journal.py (spans + log records
over 30 days), then times, in the same run and over the whole window:
the baseline ``Journal.kpi`` (indexed SQL aggregates), and insights
(reading every conversation's facts, ranking losses, measuring switches,
comparing variants).  Prints the median of the rounds, the ratio, the peak
Python memory, and the verdict against the target (< 5 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from journal import build_journal

from botwatch.journal import Journal
from botwatch.journal.impact import compare_variants, measure_changes
from botwatch.journal.insights import rank_losses

TARGET_S = 5.0


def insights_once(path: Path, since: datetime, until: datetime) -> tuple[float, int, int]:
    started = time.perf_counter()
    with Journal(path) as journal:
        facts = journal.facts(since, until)
    found = rank_losses(facts, since, until)
    measure_changes(facts)
    compare_variants(facts)
    return time.perf_counter() - started, found.conversations, found.comparisons


def kpi_once(path: Path, since: datetime, until: datetime) -> float:
    started = time.perf_counter()
    with Journal(path) as journal:
        journal.kpi(until - since, until)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botwatch-insights-bench-") as tmp:
        path = Path(tmp) / "journal.sqlite"
        build_journal(path, args.events)
        until = datetime.now(UTC) + timedelta(days=1)
        since = until - timedelta(days=32)
        print(f"[3/3] {args.rounds} rounds over the whole journal (30 days)", flush=True)
        kpi_times, insight_times = [], []
        for number in range(1, args.rounds + 1):
            kpi_times.append(kpi_once(path, since, until))
            if number == 1:
                tracemalloc.start()
            elapsed, conversations, comparisons = insights_once(path, since, until)
            if number == 1:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            insight_times.append(elapsed)
            print(f"      round {number}: kpi {kpi_times[-1]:.2f} s, insights {elapsed:.2f} s", flush=True)
        kpi_s, insights_s = statistics.median(kpi_times), statistics.median(insight_times)
        print()
        print(f"events                 {args.events:,}   conversations {conversations:,}   comparisons {comparisons}")
        print(f"kpi (baseline)         {kpi_s:.2f} s")
        print(f"insights               {insights_s:.2f} s   ({insights_s / kpi_s:.2f}x kpi)")
        print(f"peak Python memory     {peak / 2**20:.0f} MiB (first round, under tracemalloc)")
        verdict = "met" if insights_s < TARGET_S else "NOT met"
        print(f"target < {TARGET_S:.0f} s          {verdict}")
        return 0 if insights_s < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
