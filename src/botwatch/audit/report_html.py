"""The owner's report as one self-contained HTML page, one column, readable on a 360 px phone.

Each number ``botwatch kpi --json`` also prints sits in an element with
``data-kpi="<key>"`` (the previous week's in ``data-kpi-previous``), so a
test can hold every number on the page against ``kpi --json``.
"""

from __future__ import annotations

import html
from typing import Any

from botwatch.audit import charts
from botwatch.audit import report_measures as rm
from botwatch.audit.report import ReportData, values
from botwatch.audit.report_text import day_label, percent, t, title
from botwatch.audit.report_text import period as report_period

e = html.escape

STYLE = """
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 680px;
       padding: 12px; color: #1f2933; font-size: 16px; line-height: 1.4; overflow-wrap: anywhere; }
h1 { font-size: 1.5em; margin: .2em 0; } h2 { font-size: 1.15em; margin: .3em 0; }
section, .card { border-top: 1px solid #d9e2ec; padding: .6em 0; }
.value { font-size: 2em; font-weight: bold; }
.detail, .period, footer { color: #52606d; }
.good, .ok { color: #2f8132; } .bad { color: #c0392b; } .flat { color: #52606d; }
img { width: 100%; max-width: 520px; height: auto; display: block; }
.dialogue { background: #f5f7fa; padding: .6em; border-radius: 6px; font-size: .95em; }
.dialogue p { margin: .2em 0; }
ul { padding-left: 1.2em; } li { margin: .3em 0; }
"""


def render(data: ReportData, lang: str = "ru") -> str:
    period = report_period(lang, data.days[0].day, data.days[-1].day)
    bots = ", ".join(data.current.services)
    parts = [
        f"<header><h1>{e(title(lang, len(data.days)))}</h1><p class='period'>{e(period)}</p>",
        f"<p class='detail'>{e(t(lang, 'bots'))}: {e(bots)}</p>" if bots else "",
        "</header>",
        *(_card(data, lang, m) for m in rm.MEASURES),
        _moves(data, lang),
        _losses(data, lang),
        _changes(data, lang),
        _todo(data, lang),
        _footer(data, lang),
    ]
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title(lang, len(data.days)))}: {e(period)}</title><style>{STYLE}</style></head>"
        f'<body data-since="{data.since.isoformat()}" data-until="{data.until.isoformat()}">\n'
        + "\n".join(p for p in parts if p)
        + "\n</body></html>\n"
    )


def _keyed(parts: list[tuple[str, str | None]], attribute: str = "data-kpi") -> str:
    return "".join(f'<b {attribute}="{key}">{e(text)}</b>' if key else e(text) for text, key in parts)


def _card(data: ReportData, lang: str, m: rm.Measure) -> str:
    now, before = data.current, data.previous
    value = f'<span class="value" data-kpi="{m.key}">{e(rm.shown(lang, m, now))}</span>'
    target = ""
    ok, most = rm.on_target(m, now, data.targets), rm.target(m, data.targets)
    if ok is not None and most is not None:
        words = t(lang, "target_ok" if ok else "target_bad", target=percent(lang, most))
        target = f'<p class="target {"ok" if ok else "bad"}">{e(words)}</p>'
    change, css = rm.compare(lang, m, now, before, len(data.days))
    if not data.previous_empty and m.value(before) is not None:
        # The previous value closes the sentence ("… (было 38,0 %)"): key its last occurrence.
        shown = e(rm.shown(lang, m, before))
        head, _, tail = e(change).rpartition(shown)
        change = f'{head}<b data-kpi-previous="{m.key}">{shown}</b>{tail}'
    else:
        change = e(change)
    line = rm.detail(lang, m, now, data.targets) if m.value(now) is not None or m.key == "conversations" else []
    return (
        f'<div class="card" id="{m.key}"><h2>{e(rm.title(lang, m, data.targets))}</h2>{value}'
        f'<p class="detail">{_keyed(line)}</p>{target}'
        f'<p class="change {css}">{change}</p>{_chart(data, lang, m)}</div>'
    )


def _chart(data: ReportData, lang: str, m: rm.Measure) -> str:
    labels = [f"{t(lang, 'today')}\n{d.day.day}" if d.today else day_label(lang, d.day) for d in data.days]
    if m.key == "conversations":
        png = charts.count_chart(
            labels,
            [d.kpi.conversations for d in data.days],
            [d.kpi.conversations_booked for d in data.days],
            (t(lang, "legend_conversations"), t(lang, "legend_bookings")),
        )
        alt = t(lang, "chart_conversations")
    elif m.key in ("sla_breach_share", "low_confidence_share") and (most := rm.target(m, data.targets)) is not None:
        png = charts.share_chart(labels, values(data.days, m.value), most, t(lang, "legend_target"))
        seconds = f"{data.targets.sla_seconds:g}"
        alt = t(lang, "chart_sla" if m.key == "sla_breach_share" else "chart_confidence", seconds=seconds)
    else:
        return ""
    return f'<p class="detail">{e(alt)}</p><img alt="{e(alt)}" src="data:image/png;base64,{png}">'


def _moves(data: ReportData, lang: str) -> str:
    line = _keyed(rm.moves(lang, data.current))
    return f'<div class="card" id="moves"><h2>{e(t(lang, "moves"))}</h2><p>{line}</p></div>'


def _losses(data: ReportData, lang: str) -> str:
    head = f'<section id="losses"><h2>{e(t(lang, "losses"))}</h2>'
    if not data.analysed:
        return head + f'<p class="detail">{e(t(lang, "losses_unavailable"))}</p></section>'
    if not data.findings:
        return head + f"<p>{e(t(lang, 'losses_none'))}</p></section>"
    items = [_finding(data, lang, f) for f in data.findings]
    return head + "".join(items) + "</section>"


def _finding(data: ReportData, lang: str, f: Any) -> str:
    counts = t(lang, "loss_counts", lost=f.lost, reached=f.reached)
    reasons = ", ".join(f"{t(lang, 'reason_' + r)}: {n}" for r, n in f.reasons.items() if n and r in _REASONS)
    dialogue = ""
    example = data.examples.get(f.examples[0]) if f.examples else None
    if example is not None and example.lines:
        lines = "".join(f"<p><b>{e(t(lang, who))}:</b> {e(text)}</p>" for who, text in example.lines)
        dialogue = f'<p class="detail">{e(t(lang, "example"))}</p><div class="dialogue">{lines}</div>'
    return (
        f'<div class="finding"><h3 class="bad">{e(_heading(lang, f))}</h3>'
        f'<p class="detail">{e(counts)}{"; " + e(reasons) if reasons else ""}</p>{dialogue}</div>'
    )


def _step(lang: str, f: Any) -> str:
    """The step and segment of a finding: «вопрос о цене, вариант сценария B»."""
    return str(f.title_ru if lang == "ru" else f.title_en).split(":")[0]


def _heading(lang: str, f: Any) -> str:
    """The step, its loss rate and the rest's, written as every other share on the page (the counts follow)."""
    return t(
        lang, "finding_title", step=_step(lang, f), rate=percent(lang, f.loss_rate), rest=percent(lang, f.rest_rate)
    )


_ATTRIBUTE = {
    "ru": {"model": "модель", "release": "версию бота", "scenario_version": "версию сценария"},  # accusative
    "en": {"model": "model", "release": "bot release", "scenario_version": "scenario version"},
}
_REASONS = {"escalated", "slow_reply", "low_confidence", "left"}


def _changes(data: ReportData, lang: str) -> str:
    if not data.analysed:
        return ""
    head = f'<section id="changes"><h2>{e(t(lang, "changes"))}</h2>'
    if not data.changes:
        return head + f"<p>{e(t(lang, 'changes_none'))}</p></section>"
    items = "".join(
        f'<li class="{"bad" if c.worse else "flat"}">{e(c.sentence_ru if lang == "ru" else c.sentence_en)}</li>'
        for c in data.changes
    )
    return head + f"<ul>{items}</ul></section>"


def todo(data: ReportData, lang: str) -> list[str]:
    """What to do next, one line each, worst first."""
    k, out, targets = data.current, [], data.targets
    seconds = f"{targets.sla_seconds:g}"
    for c in data.changes:
        if c.worse:
            out.append(
                t(lang, "todo_change", attribute=_ATTRIBUTE[lang].get(c.attribute, c.attribute), before=c.before)
            )
    for f in data.findings[:1]:
        out.append(t(lang, "todo_finding", step=_step(lang, f), rate=percent(lang, f.loss_rate)))
    if k.sla_breach_share is not None and k.sla_breach_share > targets.sla_share:
        out.append(t(lang, "todo_sla", value=percent(lang, k.sla_breach_share), seconds=seconds))
    if k.low_confidence_share is not None and k.low_confidence_share > targets.low_confidence_share:
        out.append(t(lang, "todo_confidence", value=percent(lang, k.low_confidence_share)))
    if k.lead_failure_rate is not None and k.lead_failure_rate > targets.lead_failure_share:
        out.append(t(lang, "todo_leads", value=percent(lang, k.lead_failure_rate)))
    reminded, unreminded = k.no_show_rate_reminded, k.no_show_rate_unreminded
    if reminded is not None and unreminded is not None and unreminded > reminded:
        out.append(t(lang, "todo_reminders", reminded=percent(lang, reminded), unreminded=percent(lang, unreminded)))
    return out


def _todo(data: ReportData, lang: str) -> str:
    lines = todo(data, lang)
    body = (
        "<ol>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ol>"
        if lines
        else f"<p>{e(t(lang, 'todo_none'))}</p>"
    )
    return f'<section id="todo"><h2>{e(t(lang, "todo"))}</h2>{body}</section>'


def _footer(data: ReportData, lang: str) -> str:
    since, until = data.since.astimezone(data.tz), data.until.astimezone(data.tz)
    text = t(lang, "footer", since=f"{since:%d.%m.%Y %H:%M}", until=f"{until:%d.%m.%Y %H:%M}", tz=str(data.tz))
    return f"<footer><p>{e(text)}</p></footer>"
