"""The short Telegram message that goes with the report file: the headline numbers, where clients are lost
(the top 1–3 steps of ``insights``, one line each, in the owner's words) and what to do.

Telegram HTML (``parse_mode=HTML``): only ``<b>`` tags, every value escaped,
within the 4096-character limit (the "what to do" lines are cut first, then the problem steps).
"""

from __future__ import annotations

import html
from typing import Any

from botwatch.audit import report_measures as rm
from botwatch.audit.report import ReportData
from botwatch.audit.report_html import todo
from botwatch.audit.report_text import percent, step_name, t, title
from botwatch.audit.report_text import period as report_period
from botwatch.journal.insights import SEGMENTS_RU

LIMIT = 4096
TODO_LINES = 3
PROBLEM_LINES = 3
SEGMENTS_EN = {"variant": "scenario variant", "model": "model", "bot": "bot", "channel": "channel"}


def summary(data: ReportData, lang: str = "ru") -> str:
    actions = todo(data, lang)[:TODO_LINES]
    problems = [problem_line(lang, f) for f in data.findings[:PROBLEM_LINES]]
    text = ""
    for p in range(len(problems), -1, -1):  # the "what to do" lines go first if it would not fit, then steps
        for n in range(len(actions), -1, -1):
            text = _compose(data, lang, actions[:n], problems[:p])
            if len(text) <= LIMIT:
                return text
    return text  # the headline numbers alone: always far below the limit


def problem_line(lang: str, finding: Any) -> str:
    """One step where clients are lost, in plain words: «Вопрос о цене (вариант сценария B): теряется 62,0 %
    клиентов, в остальных случаях 18,0 %»."""
    step = step_name(finding.step, lang)
    where, _, which = finding.segment.partition("=")
    if not finding.against_history and which:
        segment = (SEGMENTS_RU if lang == "ru" else SEGMENTS_EN).get(where, where)
        step = f"{step} ({segment} {which})"
    line = t(
        lang,
        "finding_title",
        step=step,
        rate=percent(lang, finding.loss_rate),
        rest=percent(lang, finding.rest_rate),
    )
    if finding.against_history:
        line = line.replace(*(_REST_NOW[lang]))
    return line[:1].upper() + line[1:]


_REST_NOW = {  # a step compared with its own weeks before, not with other segments
    "ru": ("в остальных случаях", "в прошлые недели"),
    "en": ("elsewhere", "in the weeks before"),
}


def _compose(data: ReportData, lang: str, actions: list[str], problems: list[str]) -> str:
    def e(text: str) -> str:
        return html.escape(text, quote=False)  # text, never an attribute: ' and " stay as they are

    period = report_period(lang, data.days[0].day, data.days[-1].day)
    lines = [f"<b>{e(title(lang, len(data.days)))}</b> ({e(period)})", ""]
    for m in rm.MEASURES:
        value = rm.shown(lang, m, data.current)
        change, _ = rm.compare(lang, m, data.current, data.previous, len(data.days))
        ok = rm.on_target(m, data.current, data.targets)
        mark = "" if ok is None else (" ✅" if ok else " ⚠️")
        lines.append(f"{e(rm.title(lang, m, data.targets))}: <b>{e(value)}</b>{mark} · {e(change)}")
    if problems:
        lines += ["", f"<b>{e(t(lang, 'losses'))}</b>"] + [f"{n}. {e(p)}" for n, p in enumerate(problems, 1)]
    if actions:
        lines += ["", f"<b>{e(t(lang, 'todo'))}</b>"] + [f"{n}. {e(a)}" for n, a in enumerate(actions, 1)]
    lines += ["", e(t(lang, "summary_more"))]
    return "\n".join(lines)
