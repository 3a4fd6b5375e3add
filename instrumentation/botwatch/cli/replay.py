"""``botwatch replay <id>``: one conversation as a transcript, in time order."""

from __future__ import annotations

import argparse

from botwatch.cli.common import EXIT_NOT_FOUND, EXIT_OK, add_journal_option, fail, open_journal
from botwatch.journal import format_replay


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="a conversation as a transcript: messages, intents, LLM calls, CRM actions, funnel",
        description="Print one conversation in time order, personal data masked.",
    )
    parser.add_argument("conversation_id", help="the conversation id (gen_ai.conversation.id)")
    add_journal_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_journal(args.journal) as journal:
        entries = journal.replay(args.conversation_id)
        if not entries:
            recent = [c.conversation_id for c in journal.conversations(limit=3)]
            hint = f"; recent ones: {', '.join(recent)}" if recent else ""
            return fail(f"no conversation {args.conversation_id!r} in {journal.path}{hint}", EXIT_NOT_FOUND)
    print(format_replay(entries))
    return EXIT_OK
