"""Audit: find, replay, export and review conversations, on the journal or the stack, and the weekly report.

Every command reads through a :class:`~botwatch.audit.source.Source`:
:class:`~botwatch.audit.journal_source.JournalSource` (the embedded SQLite
journal) or :class:`~botwatch.audit.stack_source.StackSource` (Loki
``query_range``, Tempo trace-by-id and TraceQL search, Prometheus).
"""

from botwatch.audit.audit_errors import NotFound, SourceError, UsageError
from botwatch.audit.backends import open_source
from botwatch.audit.source import Source, SourceOptions
from botwatch.journal.session_queries import LogLine, LowConfidenceTurn, SessionFilter, SessionSummary

__all__ = [
    "LogLine",
    "LowConfidenceTurn",
    "NotFound",
    "SessionFilter",
    "SessionSummary",
    "Source",
    "SourceError",
    "SourceOptions",
    "UsageError",
    "open_source",
]
