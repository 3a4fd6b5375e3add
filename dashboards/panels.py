"""Panel builders with the owner-facing defaults: units, colours, descriptions.

Every builder takes a plain-words ``description`` (shown under the (i) icon)
and typed targets; ``Grid`` places panels left to right, wrapping at 24
columns, so positions and ids are stable from build to build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attr
from grafanalib import core

from dashboards import datasources
from dashboards.targets import LokiTarget, PromTarget, Target, TempoTarget

GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"
PERCENT = "percentunit"  # values 0..1 shown as %
SECONDS = "s"
PER_MINUTE = "cpm"
PER_SECOND = "cps"
COUNT = "short"
USD = "currencyUSD"


def steps(*edges: tuple[float, str], base: str = GREEN) -> list[dict[str, Any]]:
    """Threshold steps: ``base`` below the first edge, each colour from its edge up."""
    return [{"color": base, "value": None}] + [{"color": color, "value": value} for value, color in edges]


def link(title: str, url: str) -> dict[str, Any]:
    return {"targetBlank": url.startswith("http"), "title": title, "url": url}


def alert_link(alert: str) -> dict[str, Any]:
    return link(f"Alert rule {alert}", f"/alerting/list?search={alert}")


def runbook_link(alert: str) -> dict[str, Any]:
    url = f"https://github.com/botwatch/botwatch/blob/main/alerts/RUNBOOK.md#{alert.lower()}"
    return link(f"What to do: {alert}", url)


def _refs(targets: Sequence[Target]) -> list[Target]:
    return [t.with_ref(chr(ord("A") + i)) for i, t in enumerate(targets)]


def _datasource(targets: Sequence[Target]) -> dict[str, str]:
    kinds = {type(t) for t in targets}
    if kinds == {LokiTarget}:
        return datasources.LOKI
    if kinds == {TempoTarget}:
        return datasources.TEMPO
    if kinds == {PromTarget}:
        return datasources.PROMETHEUS
    raise ValueError(f"one data source per panel, got {sorted(k.__name__ for k in kinds)}")


@attr.s
class Grid:
    """Lays panels out in reading order."""

    x: int = attr.ib(default=0)
    y: int = attr.ib(default=0)
    row_height: int = attr.ib(default=0)

    def place(self, w: int, h: int) -> core.GridPos:
        if self.x + w > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = core.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def new_row(self) -> core.GridPos:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = core.GridPos(h=1, w=24, x=0, y=self.y)
        self.y += 1
        return pos


def row(grid: Grid, title: str) -> core.RowPanel:
    return core.RowPanel(title=title, gridPos=grid.new_row(), collapsed=False)


def timeseries(
    grid: Grid,
    title: str,
    description: str,
    targets: Sequence[PromTarget | TempoTarget],
    unit: str,
    *,
    thresholds: list[dict[str, Any]] | None = None,
    threshold_style: str = "off",
    links: Sequence[dict[str, Any]] = (),
    stack: bool = False,
    bars: bool = False,
    w: int = 12,
    h: int = 8,
    max_value: int | None = None,
) -> core.TimeSeries:
    return core.TimeSeries(
        title=title,
        description=description,
        dataSource=_datasource(targets),
        targets=_refs(targets),
        unit=unit,
        thresholds=thresholds or steps(),
        thresholdsStyleMode=threshold_style,
        links=list(links),
        stacking={"group": "A", "mode": "normal"} if stack else {"group": "A", "mode": "none"},
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else (20 if stack else 10),
        legendDisplayMode="table" if len(targets) > 2 else "list",
        legendCalcs=["mean", "max", "lastNotNull"] if len(targets) > 2 else [],
        tooltipMode="multi",
        valueMin=0,
        valueMax=max_value,
        gridPos=grid.place(w, h),
        maxDataPoints=None,
    )


def stat(
    grid: Grid,
    title: str,
    description: str,
    targets: Sequence[PromTarget],
    unit: str,
    *,
    thresholds: list[dict[str, Any]] | None = None,
    links: Sequence[dict[str, Any]] = (),
    w: int = 4,
    h: int = 5,
    decimals: int | None = None,
) -> core.Stat:
    return core.Stat(
        title=title,
        description=description,
        dataSource=_datasource(targets),
        targets=_refs(targets),
        format=unit,
        decimals=decimals,
        thresholds=thresholds or steps(base=BLUE),
        links=list(links),
        colorMode="background" if thresholds else "value",
        graphMode="area",
        reduceCalc="lastNotNull",
        noValue="no data",
        gridPos=grid.place(w, h),
        maxDataPoints=None,
    )


def bars(
    grid: Grid,
    title: str,
    description: str,
    targets: Sequence[PromTarget],
    unit: str,
    *,
    thresholds: list[dict[str, Any]] | None = None,
    links: Sequence[dict[str, Any]] = (),
    w: int = 12,
    h: int = 8,
    max_value: float | None = None,
) -> core.BarGauge:
    return core.BarGauge(
        title=title,
        description=description,
        dataSource=_datasource(targets),
        targets=_refs(targets),
        format=unit,
        calc="lastNotNull",
        displayMode="basic",
        orientation="horizontal",
        min=0,
        max=max_value,
        thresholds=thresholds or steps(base=BLUE),
        links=list(links),
        gridPos=grid.place(w, h),
        maxDataPoints=None,
    )


def logs(
    grid: Grid, title: str, description: str, targets: Sequence[LokiTarget], *, w: int = 24, h: int = 12
) -> core.Logs:
    return core.Logs(
        title=title,
        description=description,
        dataSource=_datasource(targets),
        targets=_refs(targets),
        showTime=True,
        showLabels=False,
        wrapLogMessages=True,
        sortOrder="Ascending",
        enableLogDetails=True,
        gridPos=grid.place(w, h),
        maxDataPoints=None,
    )


def trace_table(
    grid: Grid, title: str, description: str, targets: Sequence[TempoTarget], *, w: int = 24, h: int = 10
) -> core.Table:
    """Traces or spans found by TraceQL; the trace id column opens the trace."""
    return core.Table(
        title=title,
        description=description,
        dataSource=_datasource(targets),
        targets=_refs(targets),
        gridPos=grid.place(w, h),
        maxDataPoints=None,
        span=None,
    )


def note(grid: Grid, title: str, markdown: str, *, w: int = 24, h: int = 3) -> core.Text:
    return core.Text(title=title, content=markdown, mode="markdown", gridPos=grid.place(w, h), maxDataPoints=None)
