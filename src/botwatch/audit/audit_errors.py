"""What the audit raises to the CLI: a source that cannot answer, or a thing that is not there."""

from __future__ import annotations


class SourceError(Exception):
    """The source (journal, Loki, Tempo, Prometheus, Telegram) is down, refuses or answers garbage."""


class NotFound(Exception):
    """An unknown conversation id, turn, or nothing in the time range."""


class UsageError(Exception):
    """Options that do not fit together (exit code 2)."""
