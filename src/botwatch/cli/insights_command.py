"""``botwatch insights``: where clients are lost, and what the last model, release or scenario change did."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botwatch import env
from botwatch.audit.audit_errors import SourceError, UsageError
from botwatch.cli.commands import SUMMARIES
from botwatch.cli.common import (
    EXIT_DATA,
    EXIT_OK,
    EXIT_USAGE,
    add_journal_option,
    add_tenant_option,
    fail,
    open_journal,
    parse_duration,
)
from botwatch.journal.facts import ConversationFacts
from botwatch.journal.impact import (
    ChangeImpact,
    Side,
    VariantComparison,
    compare_variants,
    measure_changes,
    russian_date,
)
from botwatch.journal.insights import REASONS_RU, Finding, Insights, rank_losses, read_history
from botwatch.terminal import printable

ENV_LANG = env.LANG.name
REASONS_EN = {
    "escalated": "handed to a human",
    "slow_reply": "reply over 3 s",
    "low_confidence": "bot did not understand",
    "left": "client left",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "insights",
        help=SUMMARIES["insights"],
        description=(
            "Rank the scenario steps where conversations end without a booking far more often in one variant, "
            "model, bot or channel than in the rest (with confidence intervals and examples), and measure what "
            "each switch of model, release or scenario version did to conversion. Reads the journal: the bot's "
            "own, or with --source stack the journal a native stack (botwatch stack up) writes, or a docker "
            "compose stack's Tempo (--tempo-url), whose conversation traces it fetches one by one."
        ),
    )
    where = parser.add_argument_group("where to read")
    where.add_argument(
        "--source",
        choices=("journal", "stack"),
        default=None,
        help="journal (default) or stack: a native stack's journal, or Tempo with --tempo-url ($BOTWATCH_SOURCE)",
    )
    where.add_argument("--tempo-url", default=None, help="compose stack: Tempo base URL ($BOTWATCH_TEMPO_URL)")
    where.add_argument("--loki-url", default=None, help="compose stack: Loki base URL ($BOTWATCH_LOKI_URL)")
    where.add_argument(
        "--prometheus-url", default=None, help="compose stack: Prometheus base URL ($BOTWATCH_PROMETHEUS_URL)"
    )
    where.add_argument("--service", default=None, help="stack: only this bot's service.name ($BOTWATCH_AUDIT_SERVICE)")
    parser.add_argument("--since", type=parse_duration, default=timedelta(days=7), help="period, e.g. 24h, 7d (7d)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--lang", choices=("ru", "en"), default=env.LANG.choice(default="ru"), help="ru (default) or en"
    )
    parser.add_argument("--top", type=int, default=5, help="findings to show (5)")
    parser.add_argument(
        "--min-effect", type=float, default=0.2, help="smallest loss-rate gap that counts, 0..1 (0.2 = 20 points)"
    )
    parser.add_argument("--alpha", type=float, default=0.01, help="significance after Bonferroni correction (0.01)")
    parser.add_argument("--min-reached", type=int, default=30, help="conversations each side of a comparison (30)")
    parser.add_argument(
        "--history",
        type=int,
        default=4,
        help="compare each step also with itself over this many periods before (4; 0: off)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_journal_option(parser)
    add_tenant_option(parser)
    parser.set_defaults(run=run)


NO_STACK = (
    "insights reads a journal or Tempo: give --tempo-url (or $BOTWATCH_TEMPO_URL, with the Loki and Prometheus "
    "URLs) for a docker compose stack, start the native stack (botwatch stack up), whose journal --source stack "
    "reads, or run it where the bot writes its journal (--journal)"
)


def journal_to_read(source: str | None, journal: Path | None) -> tuple[Path | None, str | None]:
    """The journal ``--source`` names, and a line saying where it came from; UsageError when there is none.

    ``stack`` is the journal the native stack's receiver writes (its traces and logs land there); a compose
    stack keeps them in Tempo (see :func:`facts_from_tempo`).
    """
    kind = source or env.SOURCE.choice(default="journal")
    if kind != "stack":
        return journal, None
    from botwatch.audit.backends import native_stack

    path = native_stack().get("journal", {}).get("journal")
    if not path:
        raise UsageError(f"--source stack: no native stack is running here. {NO_STACK}")
    if journal is not None and journal != Path(path):
        raise UsageError(f"--source stack reads the native stack's journal {path}; leave out --journal {journal}")
    return Path(path), f"the native stack's journal {path}"


def facts_from_tempo(
    args: argparse.Namespace, since: datetime, until: datetime, progress: Callable[[str], None]
) -> tuple[list[ConversationFacts], list[ConversationFacts] | None]:
    """A compose stack: every conversation trace of the window (and of the ``--history`` periods before) fetched
    from Tempo into a scratch journal, then the same facts as on a journal.  Traces only: the outcomes insights
    needs (funnel stages, lead creations, turns) are span events and span attributes."""
    from botwatch.audit.backends import open_source
    from botwatch.audit.source import SourceOptions
    from botwatch.audit.stack_source import SEARCH_LIMIT, StackSource

    options = SourceOptions.resolve("stack", None, args.loki_url, args.tempo_url, args.prometheus_url, args.service)
    source = open_source(replace(options, tenant=args.tenant))
    assert isinstance(source, StackSource)
    try:
        first = since - (until - since) * max(args.history, 0)
        staged, capped = source.stage_window(first, until, progress)
        if capped:
            print(
                f"botwatch insights: Tempo returned its limit ({SEARCH_LIMIT}) in {capped} hour(s); "
                "conversations of those hours may be missing",
                file=sys.stderr,
            )
        facts = staged.facts(since, until, progress)
        return facts, read_history(staged, since, until, args.history)
    finally:
        source.close()


def _wants_tempo(args: argparse.Namespace) -> bool:
    kind = args.source or env.SOURCE.choice(default="journal")
    return kind == "stack" and bool(args.tempo_url or env.TEMPO_URL.raw())


def run(args: argparse.Namespace) -> int:
    until = datetime.now(UTC)
    since = until - args.since
    started = time.monotonic()

    def progress(step: str) -> None:
        if not args.quiet:
            print(f"botwatch insights: {step} … {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)

    try:
        if _wants_tempo(args):
            facts, history = facts_from_tempo(args, since, until, progress)
        else:
            path, origin = journal_to_read(args.source, args.journal)
            if origin and not args.quiet:
                print(f"botwatch insights: reading {origin}", file=sys.stderr, flush=True)
            with open_journal(path, args.tenant) as journal:
                facts = journal.facts(since, until, progress)
                progress(f"the {args.history} periods before, for each step's own average")
                history = read_history(journal, since, until, args.history)
    except (UsageError, env.ConfigError) as error:
        return fail(str(error), EXIT_USAGE)
    except SourceError as error:
        return fail(str(error), EXIT_DATA)
    insights = rank_losses(
        facts,
        since,
        until,
        min_reached=args.min_reached,
        min_effect=args.min_effect,
        alpha=args.alpha,
        history=history,
    )
    changes = measure_changes(facts, min_side=args.min_reached)
    variants = compare_variants(facts, min_side=args.min_reached)
    progress("done")
    if args.json:
        print(json.dumps(to_json(insights, changes, variants, args.top), ensure_ascii=False, indent=2))
    else:
        print(
            printable(
                format_text(insights, changes, variants, args.top, args.lang, (args.min_effect, args.alpha)),
                keep_newlines=True,
            )
        )
    return EXIT_OK


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _side_json(side: Side) -> dict[str, Any]:
    """One side of a switch: conversion, reply time, understanding and lead failures, as kpi --json rounds them."""
    return {
        "conversations": side.conversations,
        "conversion": _r(side.conversion, 4),
        "turn_p50_s": side.reply_p50_s,
        "sla_breach_share": _r(side.slow_share, 4),
        "low_confidence_share": _r(side.low_confidence_share, 4),
        "lead_failure_rate": _r(side.lead_failure_rate, 4),
    }


def to_json(
    insights: Insights, changes: list[ChangeImpact], variants: list[VariantComparison], top: int
) -> dict[str, Any]:
    return {
        "since": insights.since.isoformat(),
        "until": insights.until.isoformat(),
        "conversations": insights.conversations,
        "lost": insights.lost,
        "average_loss": _r(insights.average_loss),
        "comparisons": insights.comparisons,
        "findings": [
            {
                "step": f.step,
                "segment": f.segment,
                "reached": f.reached,
                "lost": f.lost,
                "loss_rate": _r(f.loss_rate),
                "ci": [_r(f.ci_low), _r(f.ci_high)],
                "rest_reached": f.rest_reached,
                "rest_lost": f.rest_lost,
                "rest_rate": _r(f.rest_rate),
                "rest_ci": [_r(f.rest_ci_low), _r(f.rest_ci_high)],
                "p_value": float(f"{f.p_value:.3g}"),
                "reasons": f.reasons,
                "examples": list(f.examples),
            }
            for f in insights.findings[:top]
        ],
        "changes": [
            {
                "attribute": c.attribute,
                "before": c.before,
                "after": c.after,
                "changed_at": c.changed_at.isoformat(),
                "conversations_before": c.side_before.conversations,
                "conversations_after": c.side_after.conversations,
                "conversion_before": _r(c.conversion_before),
                "conversion_after": _r(c.conversion_after),
                "p_value": float(f"{c.p_value:.3g}"),
                "significant": c.significant,
                "min_sample": c.min_sample,
                "measures_before": _side_json(c.side_before),
                "measures_after": _side_json(c.side_after),
            }
            for c in changes
        ],
        "variants": [
            {
                "variant": v.variant,
                "conversion": _r(v.side.conversion),
                "conversations": v.side.conversations,
                "compared_with": v.other,
                "p_value": float(f"{v.p_value:.3g}"),
            }
            for v in variants
        ],
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _finding_lines(number: int, f: Finding, lang: str) -> list[str]:
    reasons = REASONS_RU if lang == "ru" else REASONS_EN
    why = ", ".join(f"{reasons[r]} {n}" for r, n in sorted(f.reasons.items(), key=lambda i: -i[1]) if n)
    p = f"={f.p_value:.2g}" if f.p_value >= 1e-4 else "<0.0001"  # "p=0.003" or "p<0.0001", never "p=<"
    ci = f"{_pct(f.loss_rate)} ({_pct(f.ci_low)}–{_pct(f.ci_high)})"
    rest = f"{_pct(f.rest_rate)} ({_pct(f.rest_ci_low)}–{_pct(f.rest_ci_high)})"
    if lang == "ru":
        return [
            f"{number}. {f.title_ru}",
            f"   {ci} против {rest} · p{p.replace('.', ',')}",
            f"   почему: {why}",
            f"   примеры: {', '.join(f.examples)}  → botwatch replay {f.examples[0]}" if f.examples else "",
        ]
    return [
        f"{number}. {f.title_en}",
        f"   {ci} against {rest} · p{p}",
        f"   why: {why}",
        f"   examples: {', '.join(f.examples)}  → botwatch replay {f.examples[0]}" if f.examples else "",
    ]


def _measures_line(change: ChangeImpact, ru: bool) -> str:
    """Reply time, slow replies, not understood and lost leads, before → after."""
    a, b = change.side_before, change.side_after

    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}".replace(".", "," if ru else ".") + (" с" if ru else " s")

    names = (
        ("ответ (медиана)", "ответ дольше 3 с", "бот не понял клиента", "заявки не дошли до CRM")
        if ru
        else ("median reply", "replies over 3 s", "not understood", "leads lost on the way to the CRM")
    )
    parts = [
        f"{names[0]} {seconds(a.reply_p50_s)} → {seconds(b.reply_p50_s)}",
        f"{names[1]} {_pct(a.slow_share)} → {_pct(b.slow_share)}",
        f"{names[2]} {_pct(a.low_confidence_share)} → {_pct(b.low_confidence_share)}",
        f"{names[3]} {_pct(a.lead_failure_rate)} → {_pct(b.lead_failure_rate)}",
    ]
    return "  " + " · ".join(parts)


def format_text(
    insights: Insights,
    changes: list[ChangeImpact],
    variants: list[VariantComparison],
    top: int,
    lang: str,
    thresholds: tuple[float, float] = (0.2, 0.01),
) -> str:
    ru = lang == "ru"
    gap, alpha = f"{thresholds[0] * 100:g}", f"{thresholds[1]:g}"
    period = (
        f"{russian_date(insights.since)} – {russian_date(insights.until)}"
        if ru
        else f"{insights.since:%d %b} – {insights.until:%d %b}"
    )
    if ru:
        lines = [
            f"Где теряются клиенты · {period} · {insights.conversations} разговоров, "
            f"без записи {_pct(insights.average_loss)}",
            f"(сравнений: {insights.comparisons}; показаны отличия от остальных больше чем на {gap} п.п., "
            f"p<{alpha.replace('.', ',')})",
            "",
        ]
    else:
        lines = [
            f"Where clients are lost · {period} · {insights.conversations} conversations, "
            f"{_pct(insights.average_loss)} without a booking",
            f"({insights.comparisons} comparisons; shown: gaps over {gap} points against the rest, p<{alpha})",
            "",
        ]
    if not insights.findings:
        lines.append(
            "Проблемных шагов не найдено: отличия в пределах шума." if ru else "No problem step: within noise."
        )
    for number, finding in enumerate(insights.findings[:top], 1):
        lines += [line for line in _finding_lines(number, finding, lang) if line]
    lines += ["", "Что изменилось" if ru else "What changed"]
    if not changes:
        lines.append(
            "Смен модели, версии бота или сценария не было." if ru else "No model, release or scenario switch."
        )
    for change in changes:
        lines += [f"• {change.sentence_ru if ru else change.sentence_en}", _measures_line(change, ru)]
    if variants:
        parts = [f"{v.variant} {_pct(v.side.conversion)}" for v in variants]
        label = "Варианты сценария (конверсия)" if ru else "Scenario variants (conversion)"
        best_p = min(v.p_value for v in variants)
        verdict = (
            ("разница значима" if best_p < 0.05 else "разница в пределах шума")
            if ru
            else ("significant" if best_p < 0.05 else "within noise")
        )
        lines.append(f"{label}: {' · '.join(parts)} ({verdict})")
    return "\n".join(lines)
