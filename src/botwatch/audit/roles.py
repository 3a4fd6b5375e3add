"""Who reads: the owner sees everything of their business; a manager sees no client's words and no client's id.

A manager's export, replay, sessions and weekly report carry counts, timings, intents,
funnel stages, CRM outcomes and links (conversation and trace ids) only: no
client message text, no bot reply text (it quotes the client), no masked phone
or client hash (``ph_…``), no free text of errors and notes.  ``--role`` picks
the view; ``BOTWATCH_ROLE=manager`` in a manager's environment fixes it, and
``--role owner`` is then refused.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable, Iterator, Sequence

from botwatch import env as botwatch_env
from botwatch.audit.audit_errors import UsageError
from botwatch.audit.export import Row
from botwatch.audit.report import ReportData
from botwatch.journal.replay import ReplayEntry

ENV_ROLE = botwatch_env.ROLE.name
OWNER, MANAGER = "owner", "manager"
ROLES = (OWNER, MANAGER)
# Export columns a manager gets empty: the client's and the bot's words, the client's masked phone and hash.
MANAGER_HIDDEN_FIELDS = ("text", "bot_response", "client_phone")


def add_role_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role",
        choices=ROLES,
        default=None,
        help=f"owner (everything) or manager (no client text, no client hashes); ${ENV_ROLE}",
    )


def resolve_role(requested: str | None, env: dict[str, str] | None = None) -> str:
    """The role to apply: ``--role``, else $BOTWATCH_ROLE, else owner; a manager environment stays manager."""
    environment = botwatch_env.ROLE.choice(env)
    if environment == MANAGER and requested == OWNER:
        raise UsageError(f"{ENV_ROLE}=manager here: the owner's view is not available")
    return requested or environment or OWNER


def export_rows(rows: Iterable[Row], role: str) -> Iterator[Row]:
    """Export rows as ``role`` may see them."""
    if role == OWNER:
        yield from rows
        return
    for row in rows:
        yield {**row, **dict.fromkeys(MANAGER_HIDDEN_FIELDS)}


HIDDEN = {"ru": "текст скрыт для роли менеджера", "en": "text hidden for the manager role"}


def hidden_text(length: int, lang: str = "ru") -> str:
    """What a manager reads in place of a client's or the bot's words: only how long they were."""
    if lang == "en":
        return f"{HIDDEN['en']}, {length} characters"
    return f"{HIDDEN['ru']}, {length} {_characters_ru(length)}"


def _characters_ru(n: int) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return "символ"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "символа"
    return "символов"


def replay_entries(entries: Sequence[ReplayEntry], role: str, lang: str = "ru") -> list[ReplayEntry]:
    """A replay as ``role`` may see it: for a manager every text is its length, the client is not named."""
    if role == OWNER:
        return list(entries)
    shown = []
    for entry in entries:
        text = entry.text
        if text:
            text = hidden_text(len(text), lang)
        shown.append(dataclasses.replace(entry, text=text, client=None))
    return shown


def report_data(data: ReportData, role: str) -> ReportData:
    """The week as ``role`` may read it: a manager's quotes no conversation (numbers, steps and links stay)."""
    if role == OWNER:
        return data
    return dataclasses.replace(data, examples={})
