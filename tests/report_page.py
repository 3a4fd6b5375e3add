"""The numbers of a ``botwatch report`` page: each data-kpi element's text, and that text as a number."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Numbers(HTMLParser):
    """Text of every element with data-kpi / data-kpi-previous, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.current: dict[str, list[str]] = {}
        self.previous: dict[str, list[str]] = {}
        self.body: dict[str, str] = {}
        self.text: list[str] = []
        self._open: list[tuple[dict[str, list[str]], str] | None] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = {k: v or "" for k, v in a.items()}
        if tag in ("style", "script", "title"):
            self._skip += 1
        if tag in ("img", "meta", "br"):
            return
        key = a.get("data-kpi") or a.get("data-kpi-previous")
        target = self.current if a.get("data-kpi") else self.previous
        self._open.append((target, key) if key else None)
        if key:
            target.setdefault(key, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._skip -= 1
        if tag not in ("img", "meta", "br") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)
        for item in self._open:
            if item:
                target, key = item
                target[key][-1] += data


def parse(page: str) -> Numbers:
    numbers = Numbers()
    numbers.feed(page)
    return numbers


def as_number(text: str) -> float | None:
    """'41,0 %' -> 0.41, '1 234' -> 1234, 'нет данных' -> None; anything else fails the test."""
    text = text.replace("\u00a0", " ").strip()
    if text in ("нет данных", "no data"):
        return None
    match = re.fullmatch(r"(-?[\d ]+(?:[.,]\d+)?)( %)?", text)
    assert match, f"not a number: {text!r}"
    value = float(match[1].replace(" ", "").replace(",", "."))
    return value / 100 if match[2] else value
