"""The embedded journal: botwatch's telemetry in one local SQLite file.

Write side: three standard OpenTelemetry SDK exporters (spans, log records,
metric snapshots) that any number of processes may point at the same file.
Read side: :class:`Journal`, answering ``botwatch kpi`` and ``botwatch replay``
with indexed queries that stream rows instead of loading the journal.
"""

from botwatch.journal.exporters import (
    JournalLogExporter,
    JournalMetricExporter,
    JournalSpanExporter,
)
from botwatch.journal.format import format_kpi_table, format_replay, kpi_to_json
from botwatch.journal.journal_error import JournalError
from botwatch.journal.journal_settings import (
    JournalSettings,
    default_journal_path,
    journal_path,
)
from botwatch.journal.kpi import Kpi
from botwatch.journal.reader import ConversationSummary, Journal
from botwatch.journal.replay import EntryKind, ReplayEntry
from botwatch.journal.retention import PruneResult, prune

__all__ = [
    "ConversationSummary",
    "EntryKind",
    "Journal",
    "JournalError",
    "JournalLogExporter",
    "JournalMetricExporter",
    "JournalSettings",
    "JournalSpanExporter",
    "Kpi",
    "PruneResult",
    "ReplayEntry",
    "default_journal_path",
    "format_kpi_table",
    "format_replay",
    "journal_path",
    "kpi_to_json",
    "prune",
]
