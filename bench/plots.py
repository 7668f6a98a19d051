"""The benchmarks' PNG plots for docs/performance.md, drawn with matplotlib in the style of the
daily report's chart (``support_flows.core.chart``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from support_flows.core.chart import SERIES, TEXT, figure, png, style


def _title(ax, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=10, color=TEXT)


def cdf_chart(
    series: Mapping[str, Sequence[float]], title: str, unit: str = "", width: int = 640, height: int = 300
) -> bytes:
    """Each series sorted ascending against its percentile (0-100 along the x axis)."""
    fig = figure(width, height)
    ax = fig.add_subplot()
    style(ax)
    _title(ax, title)
    for i, values in enumerate(series.values()):
        ordered = sorted(values)
        pct = [100 * k / max(len(ordered) - 1, 1) for k in range(len(ordered))]
        ax.plot(pct, ordered, color=SERIES[i % len(SERIES)], linewidth=2, marker="o", markersize=3)
    ax.set_xticks([0, 25, 50, 75, 95, 100], ["P0", "P25", "P50", "P75", "P95", "P100"])
    ax.set_xlabel("percentile of the runs", fontsize=8)
    ax.set_ylabel(unit or "value", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.legend(list(series), loc="upper left", fontsize=8, frameon=False)
    return png(fig)


def line_chart(
    xs: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 300,
) -> bytes:
    """One line per series over the same x labels (ticket counts, say)."""
    fig = figure(width, height)
    ax = fig.add_subplot()
    style(ax)
    _title(ax, title)
    for i, values in enumerate(series.values()):
        ax.plot(list(xs), list(values), color=SERIES[i % len(SERIES)], linewidth=2, marker="o", markersize=4)
    if unit:
        ax.set_ylabel(unit, fontsize=8)
    ax.set_ylim(0, max(max(values) for values in series.values()) * 1.45)  # room for the legend above the lines
    ax.legend(list(series), loc="upper left", fontsize=8, frameon=False, ncols=2)
    return png(fig)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    unit: str = "",
    reference: float | None = None,
    width: int = 640,
    height: int | None = None,
) -> bytes:
    """Horizontal bars, one per label; ``reference`` draws a vertical target line."""
    fig = figure(width, height or 60 + 24 * len(labels))
    ax = fig.add_subplot()
    style(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    _title(ax, title)
    ys = range(len(labels))
    ax.barh(ys, values, color=SERIES[0], height=0.6)
    ax.set_yticks(ys, [label[:40] for label in labels])
    ax.invert_yaxis()
    for y, value in zip(ys, values, strict=True):
        ax.annotate(
            f"{value:.2f}{unit}",
            (value, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color=TEXT,
        )
    if reference is not None:
        ax.axvline(reference, color=SERIES[3], linewidth=1.5)
    ax.set_xlim(0, max([*values, reference or 0]) * 1.15)
    return png(fig)


# --- the figures in docs/performance.md, each drawn from a benchmark's results file ---------------

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def latency_figure(result: dict) -> Path:
    path = IMG / f"trigger_latency_{result['executor']}.png"
    path.write_bytes(
        cdf_chart(
            {
                "trivial 1-task DAG": result["trivial"]["samples"],
                "Flow 1 trigger to e-mail": result["flow1"]["samples"],
            },
            title=f"Trigger latency, seconds ({result['executor']} executor)",
            unit="s",
        )
    )
    return path


def memory_figure(result: dict) -> Path:
    sizes = result["sizes"]
    dags = list(result["results"][str(sizes[0])]["dags"])
    series = {
        dag_id.removeprefix("support_"): [result["results"][str(s)]["dags"][dag_id]["peak_rss_mib"] for s in sizes]
        for dag_id in dags
    }
    series["process before the run"] = [result["results"][str(s)]["dags"][dags[0]]["rss_before_mib"] for s in sizes]
    path = IMG / "memory_by_tickets.png"
    path.write_bytes(
        line_chart([f"{s // 1000}K" for s in sizes], series, title="Peak RSS of the task process by ticket count, MiB")
    )
    return path


def parse_figure(result: dict) -> Path:
    rows = [row for row in result["rows"] if not row["floor"]]
    path = IMG / "parse_cost.png"
    path.write_bytes(
        bar_chart(
            [row["file"].removeprefix("support_") for row in rows],
            [row["ratio_same_size"] for row in rows],
            title=f"Parse cost, x a trivial DAG of the same size (red line: {result['target']} target)",
            unit="x",
            reference=result["target"],
        )
    )
    return path


def soak_figure(result: dict) -> Path:
    """The day's memory per component (RSS of its process tree) and the API's p95, over real minutes."""
    samples = result["samples"]
    xs = [sample["second"] / 60 for sample in samples]  # numbers: minutes along the axis
    components = [name for name in samples[-1]["rss_mib"] if name not in ("retention",)]
    series = {name: [sample["rss_mib"].get(name, 0.0) for sample in samples] for name in components}
    path = IMG / f"soak_{result['executor']}_memory.png"
    path.write_bytes(
        line_chart(
            xs,
            series,
            title=f"{result['tickets']} tickets in {result['minutes']:.0f} min ({result['executor']}): RSS per component, MiB, by minute",
            unit="MiB",
            width=760,
        )
    )
    windows = [w for w in result["api_p95_by_window"] if w["one_call_p95_s"] is not None]
    latency = IMG / f"soak_{result['executor']}_latency.png"
    latency.write_bytes(
        line_chart(
            [w["from_s"] / 60 for w in windows],
            {
                "one call p95 (trigger to outcome)": [w["one_call_p95_s"] for w in windows],
                "admin trigger p95": [w["trigger_p95_s"] or 0.0 for w in windows],
            },
            title="The API over the day: p95 per window, seconds, by minute",
            unit="s",
            width=760,
        )
    )
    return path


FIGURES = {
    "soak_": soak_figure,
    "trigger_latency_local": latency_figure,
    "trigger_latency_celery": latency_figure,
    "scheduled_at_scale": memory_figure,
    "parse_cost": parse_figure,
}


def draw(name: str, result: dict) -> Path | None:
    """The figure of the results file ``name`` (without .json), if it has one."""
    IMG.mkdir(parents=True, exist_ok=True)
    for prefix, draw_figure in FIGURES.items():
        if name.startswith(prefix):
            return draw_figure(result)
    return None


if __name__ == "__main__":  # redraw every figure from bench/results/, without rerunning anything
    import argparse
    import json

    argparse.ArgumentParser(description="Redraw docs/img/ from bench/results/*.json, rerunning nothing.").parse_args()
    for results in sorted((Path(__file__).resolve().parent / "results").glob("*.json")):
        drawn = draw(results.stem, json.loads(results.read_text()))
        if drawn:
            print(f"{results.name} -> {drawn}")
