"""Small PNG charts for the report (matplotlib, no display needed).

Drawn narrow (3.6 in at 200 dpi, 720 px) with 11 pt type, so a phone that
shows them 336 px wide still prints the labels at about 14 px.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from botwatch.extras import require

# Imported by `botwatch report` only when it runs; a core install names the extra instead.
require("matplotlib", extra="report", feature="botwatch report (its charts)").use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the Agg backend
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

BLUE, LIGHT_BLUE, RED, GREY = "#3b73b9", "#a9c4e6", "#c0392b", "#9aa5b1"
WIDTH_IN, HEIGHT_IN, DPI, FONT = 3.6, 2.1, 200, 11
MAX_LABELS = 8  # day labels that fit under the bars


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _axes(days: Sequence[str]) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    every = math.ceil(len(days) / MAX_LABELS)  # a month of days: a label every few bars, and today's
    shown = [label if (len(days) - 1 - n) % every == 0 else "" for n, label in enumerate(days)]
    ax.set_xticks(range(len(days)), shown, fontsize=FONT)
    ax.tick_params(axis="y", labelsize=FONT)
    if days:  # the last bar is today: its label ("today") is the longest, set smaller and bold
        ax.get_xticklabels()[-1].set(fontsize=FONT - 3, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def share_chart(days: Sequence[str], values: Sequence[float | None], target: float, target_label: str) -> str:
    """A bar per calendar day (base64 PNG) of a share in %, the target as a red line; no bar without data.

    Bars above the target are red, the rest blue.
    """
    fig, ax = _axes(days)
    shown = [v * 100 if v is not None else 0.0 for v in values]
    colors = [GREY if v is None else RED if v > target else BLUE for v in values]
    ax.bar(range(len(days)), shown, color=colors)
    ax.axhline(target * 100, color=RED, linewidth=1.5, linestyle="--", label=target_label)
    ax.set_ylim(0, max([target * 100 * 1.5, *shown]) * 1.05)
    ax.legend(fontsize=FONT, frameon=False, loc="lower left", bbox_to_anchor=(0, 1), borderaxespad=0)
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:g}%")
    return _png(fig)


def count_chart(days: Sequence[str], totals: Sequence[int], parts: Sequence[int], labels: tuple[str, str]) -> str:
    """Bars per calendar day: the total (light) with its part (dark) drawn over it."""
    fig, ax = _axes(days)
    ax.bar(range(len(days)), totals, color=LIGHT_BLUE, label=labels[0])
    ax.bar(range(len(days)), parts, color=BLUE, label=labels[1], width=0.5)
    ax.set_ylim(0, max([1, *totals]) * 1.05)
    ax.legend(fontsize=FONT, frameon=False, loc="lower left", bbox_to_anchor=(0, 1), borderaxespad=0, ncols=2)
    return _png(fig)
