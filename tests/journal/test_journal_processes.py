"""The journal under several writer processes, and a writer killed with SIGKILL mid-write."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from botwatch import semconv as sc
from botwatch.journal import Journal, JournalSettings, JournalSpanExporter
from botwatch.journal.exporters import JournalLogExporter

SPANS_PER_WRITER = 3000
BATCH = 400
KEEP = JournalSettings(retention=timedelta(days=36_500))
spawn = multiprocessing.get_context("spawn")


def write_through_sdk(path: str, writer: str, start: multiprocessing.synchronize.Event) -> None:
    """A bot process: the real SDK pipeline with batching in the background."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            JournalSpanExporter(path, settings=KEEP), max_queue_size=SPANS_PER_WRITER, max_export_batch_size=100
        )
    )
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            JournalLogExporter(path, settings=KEEP), max_queue_size=SPANS_PER_WRITER, max_export_batch_size=100
        )
    )
    tracer, logger = tracer_provider.get_tracer("bot"), logger_provider.get_logger("bot")
    start.wait()
    for i in range(SPANS_PER_WRITER):
        attrs = {sc.GEN_AI_CONVERSATION_ID: f"{writer}-{i // 10}", sc.TURN_INDEX: i % 10}
        with tracer.start_as_current_span(sc.SPAN_TURN, attributes=attrs):
            logger.emit(body=f"{writer} {i}", event_name=sc.EVENT_MESSAGE_RECEIVED, attributes=attrs)
        if i % 500 == 0:
            time.sleep(0.01)  # let the other writer interleave
    tracer_provider.shutdown()
    logger_provider.shutdown()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.sqlite")
    start = spawn.Event()
    writers = [spawn.Process(target=write_through_sdk, args=(path, name, start)) for name in ("a", "b")]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    with Journal(path) as journal:
        assert journal.counts()["spans"] == 2 * SPANS_PER_WRITER
        assert journal.counts()["logs"] == 2 * SPANS_PER_WRITER
        assert [e.text for e in journal.replay("a-7")] == [f"a {i}" for i in range(70, 80)]
    db = sqlite3.connect(path)
    per_writer = dict(db.execute("SELECT substr(conversation_id, 1, 1), COUNT(*) FROM spans GROUP BY 1"))
    assert per_writer == {"a": SPANS_PER_WRITER, "b": SPANS_PER_WRITER}


def write_batches_forever(path: str) -> None:
    """Export ever-new batches straight through the exporter; each batch carries its number."""
    exporter = JournalSpanExporter(path, settings=KEEP)
    tracer = TracerProvider().get_tracer("bot")
    for batch in range(1_000_000):
        spans: list[ReadableSpan] = []
        for i in range(BATCH):
            span = tracer.start_span(
                sc.SPAN_TURN,
                attributes={sc.GEN_AI_CONVERSATION_ID: f"k{batch}", sc.TURN_INDEX: i, "pad": "z" * 300},
            )
            span.add_event(sc.BOOKING_CREATED, {sc.FUNNEL_STAGE: sc.BOOKING_CREATED})
            span.end()
            assert isinstance(span, ReadableSpan)
            spans.append(span)
        exporter.export(spans)


@pytest.mark.slow
def test_kill_9_mid_write_leaves_a_consistent_journal(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.sqlite")
    for round_ in range(3):
        writer = spawn.Process(target=write_batches_forever, args=(path,))
        writer.start()
        deadline = time.monotonic() + 60
        target = (round_ + 1) * 3 * BATCH
        while time.monotonic() < deadline:
            time.sleep(0.05 + 0.037 * round_)  # land at different points of a transaction
            try:
                with sqlite3.connect(path, timeout=10) as probe:
                    if probe.execute("SELECT COUNT(*) FROM spans").fetchone()[0] >= target:
                        break
            except sqlite3.OperationalError:
                continue  # not created yet
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(10)
        assert writer.exitcode == -signal.SIGKILL

        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        sizes = db.execute(
            "SELECT conversation_id, COUNT(*) FROM spans WHERE conversation_id LIKE 'k%' GROUP BY conversation_id"
        ).fetchall()
        # A batch is one transaction: it is in the journal whole, or not at all.
        assert sizes and all(count == BATCH * (round_ + 1) or count % BATCH == 0 for _, count in sizes)
        funnel, spans = db.execute("SELECT (SELECT COUNT(*) FROM funnel), (SELECT COUNT(*) FROM spans)").fetchone()
        assert funnel == spans  # every span's funnel event committed with it
        orphans = db.execute("SELECT COUNT(*) FROM funnel WHERE span_row NOT IN (SELECT id FROM spans)").fetchone()
        assert orphans == (0,)
        db.close()
        with Journal(path) as journal:
            assert journal.counts()["spans"] == spans
            assert journal.kpi(timedelta(days=1)).turns == spans
