"""Secrets kept out of HTTP libraries' own log lines, on every handler (the console too).

httpx logs ``HTTP Request: POST https://portal/rest/1/<token>/crm.lead.add.json``
at INFO, urllib3 the request line at DEBUG.  botwatch's HTTP clients (the
Bitrix24 client, the Telegram report sender) call :func:`hide_secrets_in_http_logs`,
so whatever handlers the bot configured, those lines carry ``***`` instead
of the token.  Exported log records are masked anyway (:mod:`botwatch.redacting`).
"""

from __future__ import annotations

import logging

from botwatch.masking.detect import mask_secrets

HTTP_LOGGERS = ("httpx", "httpcore", "urllib3.connectionpool")


class HideSecrets(logging.Filter):
    """Masks secrets in a record's message and arguments before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_masked(arg) for arg in record.args)
        return True


def _masked(arg: object) -> object:
    if isinstance(arg, (int, float)):
        return arg
    text = str(arg)
    masked = mask_secrets(text)
    return arg if masked == text else masked


_installed: set[str] = set()


def hide_secrets_in_http_logs() -> None:
    """Install :class:`HideSecrets` on the HTTP libraries' loggers (once per process)."""
    for name in HTTP_LOGGERS:
        if name not in _installed:
            _installed.add(name)
            logging.getLogger(name).addFilter(HideSecrets())
