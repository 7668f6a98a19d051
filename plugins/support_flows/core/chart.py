"""Charts as PNG images, drawn with matplotlib's headless Agg renderer: real fonts, units and labels.

E-mail clients, Outlook first, show neither SVG nor script, so the daily report carries its chart as
an inline PNG; its figures are also in the report's table, so nothing is lost when images are
blocked. The benchmarks' plots in docs/img use the same style (``bench/plots.py``).

Figures are built without pyplot (no global state, no display, safe in any thread), and their PNG
carries no software version, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

CREATED = "#1f4e79"
RESOLVED = "#2e7d32"
BACKLOG = "#e67e22"
GRID = "#e5e7eb"
AXIS = "#6b7280"
TEXT = "#374151"
SERIES = [CREATED, BACKLOG, RESOLVED, "#c0392b", "#8e44ad"]
SCALE = 2  # pixels per CSS pixel: sharp on high-density screens, shown at the width asked for


def figure(width: int, height: int) -> Any:
    """An empty matplotlib Figure of ``width`` x ``height`` CSS pixels, in the house style."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    return fig


def style(ax: Any) -> None:
    """Light grid behind the data, no box, grey axes, readable ticks."""
    ax.set_axisbelow(True)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(AXIS)
    ax.tick_params(colors=TEXT, labelsize=8)
    ax.yaxis.label.set_color(TEXT)
    ax.xaxis.label.set_color(TEXT)


def png(fig: Any) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100 * SCALE, metadata={"Software": None})
    return out.getvalue()


def trend_chart(
    labels: Sequence[str],
    created: Sequence[int],
    resolved: Sequence[int],
    backlog: Sequence[int],
    width: int = 560,
    height: int = 220,
) -> bytes:
    """Tickets created and resolved per day as bars, the backlog at each day's end as a line."""
    from matplotlib.ticker import MaxNLocator

    fig = figure(width, height)
    ax = fig.add_subplot()
    style(ax)
    xs = range(len(labels))
    bar = 0.38
    ax.bar([x - bar / 2 for x in xs], created, bar, color=CREATED, label="created")
    ax.bar([x + bar / 2 for x in xs], resolved, bar, color=RESOLVED, label="resolved")
    ax.plot(xs, backlog, color=BACKLOG, linewidth=2, marker="o", markersize=4, label="backlog at day end")
    every = max(1, -(-len(labels) // 7))  # at most 7 dates, always the last
    shown = [i for i in xs if (len(labels) - 1 - i) % every == 0]
    ax.set_xticks(shown, [labels[i][-5:] for i in shown])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.set_ylabel("tickets", fontsize=8)
    ax.set_ylim(0, max([*created, *resolved, *backlog, 1]) * 1.3)  # headroom for the legend
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
    return png(fig)
