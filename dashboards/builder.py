"""Assemble and check one dashboard.

A panel whose PromQL names a metric or label the catalog does not know stops
the build with the dashboard and panel named, before any JSON is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafanalib import core

from dashboards import promql
from dashboards.targets import PromTarget

SCHEMA_VERSION = 41  # Grafana 12.0/12.1; checked against GRAFANA_VERSION in tests/dashboards/test_dashboards_static.py
TAGS = ["botwatch"]


class DashboardError(ValueError):
    """A panel that cannot be built; the message names the dashboard and the panel."""


def check_panel(dashboard_uid: str, panel: Any) -> None:
    for target in getattr(panel, "targets", []) or []:
        if isinstance(target, PromTarget):
            found = promql.problems(target.expr)
            if found:
                raise DashboardError(
                    f"dashboard {dashboard_uid!r}, panel {panel.title!r}: "
                    + "; ".join(found)
                    + f"\n  query: {target.expr}"
                )


def dashboard_links() -> list[dict[str, Any]]:
    return [
        {
            "asDropdown": False,
            "icon": "external link",
            "includeVars": True,
            "keepTime": True,
            "tags": TAGS,
            "targetBlank": False,
            "title": "botwatch",
            "type": "dashboards",
        }
    ]


def make_dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[Any],
    variables: Sequence[Any],
    *,
    time_from: str = "now-6h",
    annotations: Sequence[dict[str, Any]] = (),
) -> core.Dashboard:
    for panel in panels:
        check_panel(uid, panel)
    for annotation in annotations:
        found = promql.problems(annotation["expr"])
        if found:
            raise DashboardError(f"dashboard {uid!r}, annotation {annotation['name']!r}: " + "; ".join(found))
    board = core.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=list(TAGS),
        panels=list(panels),
        templating=core.Templating(list=list(variables)),
        time=core.Time(time_from, "now"),
        timezone="browser",
        refresh="1m",
        schemaVersion=SCHEMA_VERSION,
        graphTooltip=1,  # shared crosshair
        links=dashboard_links(),
        annotations=core.Annotations(list=list(annotations)),
        editable=True,
    )
    return board.auto_panel_ids()
