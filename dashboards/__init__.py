"""botwatch's Grafana dashboards as code (grafanalib).

``python -m dashboards`` writes ``dashboards/json/``; ``render_all()``,
``write_all()`` and ``differences()`` are the same steps for other callers.
"""

from dashboards.builder import DashboardError
from dashboards.generator import BUILDERS, differences, main, render_all, write_all

__all__ = ["BUILDERS", "DashboardError", "differences", "main", "render_all", "write_all"]
