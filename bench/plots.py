"""The benchmarks' PNG plots, drawn with the package's own pure-Python canvas
(``support_flows.core.chart``), so the benchmarks need nothing beyond what the package installs."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
from support_flows.core.chart import AXIS, GRID, TEXT, Canvas  # noqa: E402

SERIES = [(31, 78, 121), (230, 126, 34), (46, 125, 50), (192, 57, 43), (142, 68, 173)]


def _label(canvas: Canvas, x: int, y: int, text: str, scale: int = 2) -> None:
    canvas.text(x, y, text.upper(), TEXT, scale)


def _fmt(value: float) -> str:
    if value >= 100:
        return str(round(value))
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _frame(canvas: Canvas, title: str, box: tuple[int, int, int, int], peak: float, unit: str) -> None:
    left, top, right, bottom = box
    _label(canvas, left, 8, title)
    for k in range(5):
        y = bottom - (bottom - top) * k // 4
        canvas.rect(left, y, right, y + 1, GRID)
        _label(canvas, 4, y - 5, _fmt(peak * k / 4) + unit)
    canvas.rect(left, top, left + 1, bottom + 1, AXIS)
    canvas.rect(left, bottom, right, bottom + 1, AXIS)


def _legend(canvas: Canvas, names: Sequence[str], x: int, y: int) -> None:
    for i, name in enumerate(names):
        canvas.rect(x, y + i * 16, x + 10, y + i * 16 + 10, SERIES[i % len(SERIES)])
        _label(canvas, x + 16, y + i * 16, name)


def cdf_chart(
    series: Mapping[str, Sequence[float]], title: str, unit: str = "", width: int = 640, height: int = 300
) -> bytes:
    """Each series sorted ascending against its percentile (0-100 along the x axis)."""
    canvas = Canvas(width, height)
    box = (70, 30, width - 20, height - 60)
    left, top, right, bottom = box
    peak = max(max(values) for values in series.values()) * 1.1
    _frame(canvas, title, box, peak, unit)
    for pct in (0, 25, 50, 75, 95):
        x = left + (right - left) * pct // 100
        canvas.rect(x, bottom, x + 1, bottom + 5, AXIS)
        _label(canvas, x - 8, bottom + 8, f"P{pct}")
    for i, values in enumerate(series.values()):
        ordered = sorted(values)
        points = [
            (left + round((right - left) * k / max(len(ordered) - 1, 1)), bottom - round((bottom - top) * v / peak))
            for k, v in enumerate(ordered)
        ]
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            canvas.line(x0, y0, x1, y1, SERIES[i % len(SERIES)], width=2)
        for x, y in points:
            canvas.rect(x - 2, y - 2, x + 3, y + 3, SERIES[i % len(SERIES)])
    _legend(canvas, list(series), left + 10, height - 34)
    return canvas.png()


def line_chart(
    xs: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 300,
) -> bytes:
    """One line per series over the same x labels (ticket counts, say)."""
    canvas = Canvas(width, height)
    box = (70, 30, width - 20, height - 30 - 16 * len(series))
    left, top, right, bottom = box
    peak = max(max(values) for values in series.values()) * 1.15 or 1
    _frame(canvas, title, box, peak, unit)
    slot = (right - left) / max(len(xs), 1)
    x_of = [round(left + slot * i + slot / 2) for i in range(len(xs))]
    for x, label in zip(x_of, xs, strict=True):
        _label(canvas, x - 4 * len(label), bottom + 8, label)
    for i, values in enumerate(series.values()):
        points = [(x, bottom - round((bottom - top) * v / peak)) for x, v in zip(x_of, values, strict=True)]
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            canvas.line(x0, y0, x1, y1, SERIES[i % len(SERIES)], width=3)
        for x, y in points:
            canvas.rect(x - 3, y - 3, x + 4, y + 4, SERIES[i % len(SERIES)])
    _legend(canvas, list(series), left + 10, bottom + 26)
    return canvas.png()


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
    height = height or 40 + 22 * len(labels)
    canvas = Canvas(width, height)
    left, right, top = 260, width - 60, 30
    peak = max([*values, reference or 0]) * 1.1
    _label(canvas, 8, 8, title)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * 22
        _label(canvas, 8, y + 3, label[:31])
        canvas.rect(left, y, left + round((right - left) * value / peak), y + 14, SERIES[0])
        _label(canvas, left + round((right - left) * value / peak) + 4, y + 3, _fmt(value) + unit)
    if reference is not None:
        x = left + round((right - left) * reference / peak)
        canvas.rect(x, top - 4, x + 2, top + 22 * len(labels), SERIES[3])
    return canvas.png()


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
            [row["ratio_trivial"] for row in rows],
            title=f"Parse cost, x the trivial one-task DAG (red line: {result['target']} target)",
            unit="x",
            reference=result["target"],
        )
    )
    return path


FIGURES = {"trigger_latency_": latency_figure, "scheduled_at_scale": memory_figure, "parse_cost": parse_figure}


def draw(name: str, result: dict) -> Path | None:
    """The figure of the results file ``name`` (without .json), if it has one."""
    IMG.mkdir(parents=True, exist_ok=True)
    for prefix, figure in FIGURES.items():
        if name.startswith(prefix):
            return figure(result)
    return None


if __name__ == "__main__":  # redraw every figure from bench/results/, without rerunning anything
    import json

    for results in sorted((Path(__file__).resolve().parent / "results").glob("*.json")):
        drawn = draw(results.stem, json.loads(results.read_text()))
        if drawn:
            print(f"{results.name} -> {drawn}")
