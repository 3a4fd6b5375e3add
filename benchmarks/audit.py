"""Audit benchmark: ``export`` vs a bare sqlite3 dump of the same rows, and ``sessions`` filters, on 1M events.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/audit.py [--events 1000000]

Builds the synthetic journal of benchmarks/journal.py (spans + log records
over 30 days), then in the same run:
1. ``botwatch export`` (CSV, to /dev/null) over the whole journal: source
   records/s, event rows/s, peak Python memory; against a bare ``sqlite3``
   loop writing the same log rows with ``csv.writer``; prints the ratio.
2. ``botwatch sessions`` with each filter (first page, newest first): time
   per query, target < 1 s.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from journal import build_journal

from botwatch.audit.export import EventRows
from botwatch.audit.journal_source import JournalSource
from botwatch.audit.writers import CsvWriter
from botwatch.journal.session_queries import SessionFilter

SESSIONS_TARGET_S = 1.0


def bare_dump(path: Path, since_ns: int, until_ns: int) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    rows = 0
    with open("/dev/null", "w", newline="") as out:
        writer = csv.writer(out)
        for row in conn.execute(
            "SELECT time_ns, event_name, body, conversation_id, channel, turn_index, attributes, trace_id "
            "FROM logs WHERE time_ns >= ? AND time_ns < ? ORDER BY time_ns",
            (since_ns, until_ns),
        ):
            writer.writerow(row)
            rows += 1
    conn.close()
    return rows, time.perf_counter() - started


def export(path: Path, since: datetime, until: datetime) -> dict[str, float]:
    tracemalloc.start()
    started = time.perf_counter()
    source = JournalSource(path)
    written = 0
    with open("/dev/null", "wb") as out:
        writer = CsvWriter(out)
        events = EventRows(source.log_lines(since, until), source.client_phone)
        for row in events:
            writer.write(row)
            written += 1
        writer.close()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    source.close()
    return {"records": events.records_read, "rows": written, "seconds": seconds, "peak_mb": peak / 1e6}


def sessions(path: Path, until: datetime) -> dict[str, float]:
    source = JournalSource(path)
    filters = {
        "no filter": SessionFilter(),
        "--channel whatsapp": SessionFilter(channel="whatsapp"),
        "--intent complaint": SessionFilter(intent="complaint"),
        "--low-confidence": SessionFilter(low_confidence=True),
        "--sla-breached": SessionFilter(sla_breached=True),
        "--crm-failed": SessionFilter(crm_failed=True),
        "--variant B (none match)": SessionFilter(variant="B"),
        "--channel web --crm-failed --sla-breached": SessionFilter(channel="web", crm_failed=True, sla_breached=True),
    }
    timings = {}
    for name, flt in filters.items():
        started = time.perf_counter()
        found = source.sessions(flt, until - timedelta(days=30), until, limit=20)
        timings[name] = time.perf_counter() - started
        print(f"      sessions {name:<45} {timings[name] * 1000:7.1f} ms  ({len(found)} on the first page)")
    source.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the journal (a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "audit-bench.sqlite"
        build_journal(path, args.events)
        until = datetime.now(UTC) + timedelta(days=2)  # the builder puts visits a day after the last turn
        since = until - timedelta(days=40)
        ns = lambda d: int(d.timestamp() * 1e9)  # noqa: E731
        print("[3/3] export vs bare sqlite3 dump, same rows, same run")
        bare_rows, bare_s = bare_dump(path, ns(since), ns(until))
        result = export(path, since, until)
        bare_rate = bare_rows / bare_s
        rate = result["records"] / result["seconds"]
        print(f"      bare sqlite3 + csv   {bare_rows:>9,} log rows  in {bare_s:6.2f} s = {bare_rate:>9,.0f} rows/s")
        print(
            f"      botwatch export      {int(result['records']):>9,} log rows → {int(result['rows']):,} event rows"
            f" in {result['seconds']:6.2f} s = {rate:>9,.0f} records/s,"
            f" {result['rows'] / result['seconds']:,.0f} event rows/s"
        )
        print(f"      peak Python memory of export: {result['peak_mb']:.1f} MB (tracemalloc)")
        print(f"      ratio export / bare dump (records/s): {rate / bare_rate:.2f}")
        print("      sessions filters, first page of 20, newest first (target < 1 s each):")
        timings = sessions(path, until)
        worst = max(timings.values())
        print(
            f"      worst sessions query: {worst * 1000:.0f} ms  {'OK' if worst < SESSIONS_TARGET_S else 'OVER TARGET'}"
        )
        return 0 if worst < SESSIONS_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
