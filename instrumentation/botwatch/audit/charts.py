"""Small PNG charts for the report (matplotlib, no display needed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from botwatch.extras import require

# Imported by `botwatch report` only when it runs; a core install names the extra instead.
require("matplotlib", extra="report", feature="botwatch report (its charts)").use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the Agg backend
from matplotlib.figure import Figure  # noqa: E402

BLUE, ORANGE, GREY = "#3b73b9", "#e8833a", "#9aa5b1"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def daily_chart(
    title: str, days: Sequence[str], values: Sequence[float | None], *, percent: bool, threshold: float | None = None
) -> str:
    """A bar per day (base64 PNG); days without data show no bar."""
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    shown = [(v * 100 if percent else v) if v is not None else 0.0 for v in values]
    colors = [GREY if v is None else BLUE for v in values]
    ax.bar(range(len(days)), shown, color=colors)
    ax.set_xticks(range(len(days)), days, fontsize=8)
    if threshold is not None:
        ax.axhline(threshold * 100 if percent else threshold, color=ORANGE, linewidth=1, linestyle="--")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("%" if percent else "count", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def ranking_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * max(len(labels), 1) + 0.8))
    ax.barh(range(len(labels)), values, color=ORANGE)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
