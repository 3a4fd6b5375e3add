"""The short Telegram message that goes with the report file: the headline numbers and what to do.

Telegram HTML (``parse_mode=HTML``): only ``<b>`` tags, every value escaped,
well under the 4096-character limit (the "what to do" lines are cut first).
"""

from __future__ import annotations

import html

from botwatch.audit import report_measures as rm
from botwatch.audit.report import ReportData
from botwatch.audit.report_html import todo
from botwatch.audit.report_text import period as report_period
from botwatch.audit.report_text import t, title

LIMIT = 4096
TODO_LINES = 3


def summary(data: ReportData, lang: str = "ru") -> str:
    actions = todo(data, lang)[:TODO_LINES]
    for n in range(len(actions), -1, -1):  # the "what to do" lines go first if it would not fit
        text = _compose(data, lang, actions[:n])
        if len(text) <= LIMIT:
            break
    return text


def _compose(data: ReportData, lang: str, actions: list[str]) -> str:
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
    if actions:
        lines += ["", f"<b>{e(t(lang, 'todo'))}</b>"] + [f"{n}. {e(a)}" for n, a in enumerate(actions, 1)]
    lines += ["", e(t(lang, "summary_more"))]
    return "\n".join(lines)
