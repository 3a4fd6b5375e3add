"""Embedded journal benchmark: write throughput, replay and kpi latency, bounded memory.

    PYTHONPATH=src .venv/bin/python benchmarks/journal.py [--events 1000000] [--turns 3000]

1. Sustained turns/s through the real SDK pipeline (BatchSpanProcessor and
   BatchLogRecordProcessor) into the journal vs the same telemetry into no-op
   exporters, in the same run; prints the ratio.
2. Builds a synthetic journal of N events (spans + log records, 30 days) by
   bulk insert, then in a fresh process measures ``replay`` of single
   conversations (target < 200 ms), ``kpi`` over the last 7 days (target < 2 s)
   and peak memory while streaming every conversation id.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from botwatch import semconv as sc
from botwatch.journal import (
    Journal,
    JournalLogExporter,
    JournalSettings,
    JournalSpanExporter,
    format_kpi_table,
    format_replay,
)
from botwatch.journal.rows import LOG_COLUMNS, SPAN_COLUMNS, insert_sql, to_json
from botwatch.journal.schema import connect

S = 1_000_000_000
REPLAY_TARGET_MS = 200
KPI_TARGET_S = 2.0
KEEP = JournalSettings(retention=timedelta(days=36_500))


def say(message: str) -> None:
    print(message, flush=True)


# --- 1. throughput ---------------------------------------------------------------------------------------------


class NoOpSpanExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class NoOpLogExporter(LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def run_turns(span_exporter: SpanExporter, log_exporter: LogRecordExporter, turns: int) -> float:
    """Emit ``turns`` turns as the SDK does; seconds until all of it is exported."""
    queue = turns * 4 + 1024  # big enough that nothing is dropped: we measure sustained export
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, max_queue_size=queue))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter, max_queue_size=queue))
    tracer, logger = tracer_provider.get_tracer("bench"), logger_provider.get_logger("bench")
    started = time.perf_counter()
    for i in range(turns):
        cid = f"bench-{i // 5}"
        base: dict[str, Any] = {sc.GEN_AI_CONVERSATION_ID: cid, sc.CHANNEL: "whatsapp"}
        turn_attrs = {**base, sc.TURN_INDEX: i % 5, sc.INTENT: "booking", sc.INTENT_CONFIDENCE: 0.8}
        with tracer.start_as_current_span(sc.SPAN_TURN, kind=trace.SpanKind.SERVER, attributes=turn_attrs) as turn:
            log_attrs: dict[str, Any] = {**base, sc.TURN_INDEX: i % 5}
            logger.emit(body="Хочу записаться на стрижку", event_name=sc.EVENT_MESSAGE_RECEIVED, attributes=log_attrs)
            logger.emit(event_name=sc.EVENT_INTENT, attributes={**log_attrs, sc.INTENT: "booking"})
            with tracer.start_as_current_span(
                sc.chat_span_name("gpt-4o-mini"),
                kind=trace.SpanKind.CLIENT,
                attributes={
                    **base,
                    sc.GEN_AI_OPERATION_NAME: sc.GEN_AI_OPERATION_CHAT,
                    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    sc.GEN_AI_USAGE_INPUT_TOKENS: 120,
                    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
                },
            ):
                pass
            with tracer.start_as_current_span(
                sc.crm_span_name("lead.create"),
                kind=trace.SpanKind.CLIENT,
                attributes={**base, sc.CRM_ACTION: "lead.create", sc.CRM_OUTCOME: sc.CRM_OUTCOME_SUCCESS},
            ):
                pass
            turn.add_event(sc.LEAD_CREATED, {sc.FUNNEL_STAGE: sc.LEAD_CREATED})
            logger.emit(body="Записал на 15:00", event_name=sc.EVENT_BOT_REPLIED, attributes=log_attrs)
    tracer_provider.force_flush()
    logger_provider.force_flush()
    elapsed = time.perf_counter() - started
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return elapsed


def throughput(workdir: Path, turns: int) -> dict[str, float]:
    say(f"[1/3] throughput: {turns} turns (3 spans + 3 log records each) through the SDK pipeline")
    run_turns(NoOpSpanExporter(), NoOpLogExporter(), min(turns, 200))  # warm up imports and caches
    noop_s = run_turns(NoOpSpanExporter(), NoOpLogExporter(), turns)
    path = workdir / "throughput.sqlite"
    journal_s = run_turns(JournalSpanExporter(path, settings=KEEP), JournalLogExporter(path, settings=KEEP), turns)
    with Journal(path) as journal:
        counts = journal.counts()
    assert counts["spans"] == 3 * turns and counts["logs"] == 3 * turns, counts
    result = {"noop_turns_per_s": turns / noop_s, "journal_turns_per_s": turns / journal_s}
    result["ratio"] = result["journal_turns_per_s"] / result["noop_turns_per_s"]
    say(f"      no-op exporters : {result['noop_turns_per_s']:9.0f} turns/s")
    say(f"      journal         : {result['journal_turns_per_s']:9.0f} turns/s (nothing dropped: {counts})")
    say(f"      ratio journal / no-op = {result['ratio']:.2f}")
    return result


# --- 2. a big synthetic journal --------------------------------------------------------------------------------

INTENTS = ("booking", "price", "reschedule", "greeting", "complaint", "cancel")
CHANNELS = ("whatsapp", "telegram", "instagram", "web")
MODELS = ("gpt-4o-mini", "gpt-4o", "yandexgpt-lite")


def synthetic_conversation(
    rng: random.Random, n: int, start_ns: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[int, str]]]:
    """Rows for one conversation: spans (with funnel marks) and log records, as the exporters write them."""
    cid = f"conv-{n:07d}"
    trace_id = f"{rng.getrandbits(128):032x}"
    channel = rng.choice(CHANNELS)
    spans: list[tuple[Any, ...]] = []
    logs: list[tuple[Any, ...]] = []
    funnel: list[tuple[int, str]] = []  # (time, stage), attached to the conversation span for simplicity
    root = f"{rng.getrandbits(64):016x}"
    base_attrs = {sc.GEN_AI_CONVERSATION_ID: cid, sc.CHANNEL: channel}

    def span(name: str, family: str, kind: str, t0: int, dur: int, **cols: Any) -> None:
        values = dict.fromkeys(SPAN_COLUMNS)
        values.update(
            trace_id=trace_id,
            span_id=f"{rng.getrandbits(64):016x}",
            parent_span_id=None if family == "conversation" else root,
            name=name,
            family=family,
            kind=kind,
            start_ns=t0,
            end_ns=t0 + dur,
            duration_ns=dur,
            status="UNSET",
            conversation_id=cid,
            channel=channel,
            attributes=to_json({**base_attrs, **cols.pop("attrs", {})}),
            resource_id=1,
            scope="botwatch",
        )
        values.update(cols)
        spans.append(tuple(values[c] for c in SPAN_COLUMNS))

    def log(event: str, t: int, body: str | None = None, turn: int | None = None, **attrs: Any) -> None:
        all_attrs = {**base_attrs, **attrs}
        logs.append((t, t, trace_id, root, 9, None, event, body, cid, channel, turn, to_json(all_attrs), 1, "botwatch"))

    span(sc.SPAN_CONVERSATION, "conversation", "INTERNAL", start_ns, 1_000_000)
    funnel.append((start_ns, sc.CONVERSATION_STARTED))
    t = start_ns
    booked = False
    for turn in range(1, rng.randint(2, 5) + 1):
        t += rng.randint(5, 120) * S
        intent, confidence = rng.choice(INTENTS), round(rng.uniform(0.3, 0.99), 2)
        model = rng.choice(MODELS)
        llm = int(rng.lognormvariate(0.0, 0.6) * S)
        dur = llm + rng.randint(50, 400) * 1_000_000
        span(
            sc.SPAN_TURN,
            "turn",
            "SERVER",
            t,
            dur,
            turn_index=turn,
            intent=intent,
            confidence=confidence,
            sla_breached=int(dur > sc.SLA_SECONDS * S),
            model=model,
        )
        log(sc.EVENT_MESSAGE_RECEIVED, t, "Здравствуйте, хочу записаться на стрижку в субботу", turn)
        log(sc.EVENT_INTENT, t + 50_000_000, None, turn, **{sc.INTENT: intent, sc.INTENT_CONFIDENCE: confidence})
        span(
            sc.chat_span_name(model),
            "chat",
            "CLIENT",
            t + 60_000_000,
            llm,
            model=model,
            input_tokens=rng.randint(200, 1500),
            output_tokens=rng.randint(20, 300),
        )
        if intent == "booking" and not booked:
            ok = rng.random() > 0.05
            span(
                sc.crm_span_name("lead.create"),
                "crm",
                "CLIENT",
                t + llm,
                150_000_000,
                crm_action="lead.create",
                crm_entity_id=str(n),
                crm_outcome=sc.CRM_OUTCOME_SUCCESS if ok else sc.CRM_OUTCOME_ERROR,
            )
            log(sc.EVENT_CRM_ACTION, t + llm, None, turn, **{sc.CRM_ACTION: "lead.create"})
            if ok:
                booked = True
                funnel += [(t + llm + 1, sc.LEAD_CREATED), (t + llm + 2, sc.BOOKING_CREATED)]
        log(sc.EVENT_BOT_REPLIED, t + dur, "Записала вас на субботу, 15:00. Мастер Анна.", turn)
        t += dur
    if booked:
        funnel.append((t + 86_400 * S, rng.choice((sc.VISIT_COMPLETED, sc.VISIT_COMPLETED, sc.NO_SHOW))))
    elif rng.random() < 0.1:
        funnel.append((t + 1, sc.ESCALATED))
    return spans, logs, funnel


def build_journal(path: Path, events: int, days: int = 30) -> int:
    say(f"[2/3] building a synthetic journal of {events:,} events over {days} days: {path}")
    conn = connect(path, create=True)
    conn.execute("PRAGMA synchronous = OFF")  # bulk load only; the exporters keep NORMAL
    conn.execute("INSERT OR IGNORE INTO resources (id, attributes) VALUES (1, ?)", (to_json({"service.name": "b"}),))
    rng = random.Random(7)
    end_ns = time.time_ns()
    span_sql, log_sql = insert_sql("spans", SPAN_COLUMNS), insert_sql("logs", LOG_COLUMNS)
    funnel_sql = "INSERT INTO funnel (time_ns, stage, conversation_id, channel, span_row) VALUES (?, ?, ?, ?, ?)"
    written, conversations, started = 0, 0, time.perf_counter()
    step = max(events // 10, 1)
    while written < events:
        conn.execute("BEGIN")
        batch_end = min(events, written + 50_000)
        while written < batch_end:
            start = end_ns - rng.randint(0, days * 86_400) * S
            spans, logs, funnel = synthetic_conversation(rng, conversations, start)
            root_row = conn.execute(span_sql, spans[0]).lastrowid
            conn.executemany(span_sql, spans[1:])
            conn.executemany(log_sql, logs)
            conn.executemany(funnel_sql, [(t, stage, spans[0][11], spans[0][12], root_row) for t, stage in funnel])
            written += len(spans) + len(logs)
            conversations += 1
        conn.execute("COMMIT")
        if written // step != (written - 50_000) // step or written >= events:
            say(f"      {written:>9,} events, {conversations:,} conversations, {time.perf_counter() - started:.1f} s")
    conn.execute("ANALYZE")
    conn.close()
    say(f"      file size {path.stat().st_size / 1e6:.0f} MB")
    return conversations


# --- 3. queries, in a fresh process ----------------------------------------------------------------------------


def measure_queries(path: str, conversations: int, out: multiprocessing.queues.Queue[dict[str, Any]]) -> None:
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = random.Random(11)
    tracemalloc.start()
    with Journal(path) as journal:
        replay_ms = []
        entries = []
        for n in rng.sample(range(conversations), 25):
            t0 = time.perf_counter()
            entries = journal.replay(f"conv-{n:07d}")
            format_replay(entries)
            replay_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        kpi = journal.kpi(timedelta(days=7))
        kpi_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        streamed = sum(1 for _ in journal.conversations(limit=None))
        stream_s = time.perf_counter() - t0
    _, python_peak = tracemalloc.get_traced_memory()
    out.put(
        {
            "replay_ms_median": statistics.median(replay_ms),
            "replay_ms_max": max(replay_ms),
            "replay_entries": len(entries),
            "kpi_s": kpi_s,
            "kpi_table": format_kpi_table(kpi),
            "kpi_turns": kpi.turns,
            "streamed_conversations": streamed,
            "stream_s": stream_s,
            "python_peak_mb": python_peak / 1e6,
            "rss_start_mb": rss_start / 1024,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "sample_replay": format_replay(entries),
        }
    )


def queries(path: Path, conversations: int) -> dict[str, Any]:
    say("[3/3] queries in a fresh process: replay of 25 random conversations, kpi over 7 days, stream all ids")
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.queues.Queue[dict[str, Any]] = context.Queue()
    process = context.Process(target=measure_queries, args=(str(path), conversations, out))
    process.start()
    result = out.get(timeout=600)
    process.join()
    ok_replay = result["replay_ms_max"] < REPLAY_TARGET_MS
    ok_kpi = result["kpi_s"] < KPI_TARGET_S
    say(
        f"      replay: median {result['replay_ms_median']:.1f} ms, max {result['replay_ms_max']:.1f} ms "
        f"(target < {REPLAY_TARGET_MS} ms: {'PASS' if ok_replay else 'FAIL'})"
    )
    say(
        f"      kpi 7 days: {result['kpi_s'] * 1000:.0f} ms over {result['kpi_turns']:,} turns "
        f"(target < {KPI_TARGET_S:g} s: {'PASS' if ok_kpi else 'FAIL'})"
    )
    say(f"      streamed {result['streamed_conversations']:,} conversation ids in {result['stream_s'] * 1000:.0f} ms")
    say(
        f"      memory: python heap peak {result['python_peak_mb']:.1f} MB, process RSS peak "
        f"{result['rss_peak_mb']:.0f} MB (after imports {result['rss_start_mb']:.0f} MB); "
        f"journal file {path.stat().st_size / 1e6:.0f} MB"
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events (spans + log records) to build")
    parser.add_argument("--turns", type=int, default=3000, help="turns for the throughput run")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one, removed after)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON at the end")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="botwatch-bench-") as tmp:
        workdir = args.dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        say(f"botwatch journal benchmark · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · python {sys.version.split()[0]}")
        numbers: dict[str, Any] = {"throughput": throughput(workdir, args.turns)}
        big = workdir / "million.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{big}{suffix}").unlink(missing_ok=True)
        conversations = build_journal(big, args.events)
        numbers["queries"] = queries(big, conversations)
        say("\nKPI table on the synthetic journal:\n" + numbers["queries"].pop("kpi_table"))
        say("\nA replay:\n" + numbers["queries"].pop("sample_replay"))
        if args.json:
            print(json.dumps(numbers, indent=2))
        q = numbers["queries"]
        return 0 if q["replay_ms_max"] < REPLAY_TARGET_MS and q["kpi_s"] < KPI_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
