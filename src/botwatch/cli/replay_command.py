"""``botwatch replay <id>``: one conversation as a transcript, in time order, from the journal or the stack.

Russian labels by default (``--lang en`` or ``BOTWATCH_LANG=en`` for English); times in the business's
zone, as the report writes them: ``--tz``, else ``BOTWATCH_TIMEZONE``, else Europe/Moscow (``--tz UTC`` for UTC).
"""

from __future__ import annotations

import argparse
from datetime import timedelta, tzinfo

from botwatch import env
from botwatch.audit.audit_errors import NotFound, UsageError
from botwatch.audit.roles import add_role_option, replay_entries, resolve_role
from botwatch.audit.source import SourceOptions
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import EXIT_NOT_FOUND, EXIT_OK, add_tenant_option, fail, open_journal, parse_duration
from botwatch.cli.source_options import add_source_options, audit_errors, human, source_from
from botwatch.journal import ReplayEntry, format_replay

ENV_LANG = env.LANG.name


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help=SUMMARIES["replay"],
        description="Print one conversation in time order, personal data masked.",
    )
    parser.add_argument("conversation_id", help="the conversation id (gen_ai.conversation.id)")
    parser.add_argument(
        "--since",
        type=parse_duration,
        default=timedelta(days=30),
        help="stack only: how far back to look for the conversation (30d)",
    )
    parser.add_argument(
        "--lang",
        choices=("ru", "en"),
        default=env.LANG.choice(default="ru"),
        help=f"language of the labels: ru (default) or en (${ENV_LANG})",
    )
    parser.add_argument(
        "--tz",
        default=None,
        metavar="ZONE",
        help="time zone of the times shown, an IANA name such as Asia/Yekaterinburg or UTC "
        "($BOTWATCH_TIMEZONE, else Europe/Moscow)",
    )
    add_source_options(parser)
    add_tenant_option(parser)
    add_role_option(parser)
    parser.set_defaults(run=run)


def _timezone(name: str | None) -> tzinfo:
    from botwatch.integrations.business_settings import business_timezone

    try:
        return business_timezone(name)
    except ValueError as error:
        raise UsageError(str(error).replace("timezone=", "--tz ")) from error


def _render(entries: list[ReplayEntry], args: argparse.Namespace) -> str:
    return format_replay(replay_entries(entries, args.role, args.lang), tz=args.zone, lang=args.lang)


@audit_errors
def run(args: argparse.Namespace) -> int:
    args.role = resolve_role(args.role)  # a refused role stops here, before reading anything
    args.zone = _timezone(args.tz)  # so does an unknown time zone
    if SourceOptions.resolve(args.source).kind == "journal":
        return _from_journal(args)
    return _from_source(args)


def _from_journal(args: argparse.Namespace) -> int:
    with open_journal(args.journal, args.tenant) as journal:
        entries = journal.replay(args.conversation_id)
        if not entries:
            recent = [c.conversation_id for c in journal.conversations(limit=3)]
            hint = f"; recent ones: {', '.join(recent)}" if recent else ""
            scope = f" for tenant {args.tenant}" if args.tenant else ""
            return fail(f"no conversation {args.conversation_id!r}{scope} in {journal.path}{hint}", EXIT_NOT_FOUND)
    print(_render(entries, args))
    return EXIT_OK


@audit_errors
def _from_source(args: argparse.Namespace) -> int:
    source = source_from(args, lookback=args.since)
    try:
        entries = source.replay(args.conversation_id)
    finally:
        source.close()
    if not entries:
        raise NotFound(
            f"no conversation {args.conversation_id!r} in the last {human(args.since)} ({source.description})"
        )
    print(_render(entries, args))
    return EXIT_OK
