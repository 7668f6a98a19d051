"""docs/performance.md and docs/capacity.md against bench/results/*.json: every table of figures in
them is a block that bench/report.py renders from a results file, and each block says what its
results say now."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _report():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _report()


DOCS = {"performance.md": 10, "capacity.md": 3}  # each document and how many blocks it has at least


@pytest.mark.parametrize("doc", DOCS)
def test_every_block_is_what_its_results_file_says(doc):
    text = (ROOT / "docs" / doc).read_text()
    names = [name for name, _, _ in report.blocks_in(text)]
    assert len(names) >= DOCS[doc], names  # the premise: the markers were found
    unknown = sorted(set(names) - set(report.BLOCKS))
    assert not unknown, f"docs/{doc} names blocks bench/report.py does not render: {unknown}"
    fresh = report.rendered(text)
    for (name, start, end), (_, new_start, new_end) in zip(
        report.blocks_in(text), report.blocks_in(fresh), strict=True
    ):
        assert text[start:end] == fresh[new_start:new_end], (
            f"docs/{doc}, block {name!r} (line {text[:start].count(chr(10)) + 1}) differs from "
            "bench/results: run `.venv/bin/python bench/report.py --write`"
        )


@pytest.mark.parametrize("doc", DOCS)
def test_no_table_of_figures_outside_a_block(doc):
    text = (ROOT / "docs" / doc).read_text()
    inside = [(start, end) for _, start, end in report.blocks_in(text)]
    at, stray = 0, []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        figures = line.lstrip().startswith("|") and re.search(r"\d", line)
        if figures and not any(start <= at < end for start, end in inside):
            stray.append(f"line {number}: {line.strip()[:90]}")
        at += len(line)
    assert not stray, f"figures in docs/{doc} with no results file behind them:\n" + "\n".join(stray)


def test_the_parse_cost_results_cover_every_dag_file():
    measured = {row["file"] for row in report.load("parse_cost")["rows"]}
    missing = sorted(p.stem for p in (ROOT / "dags").glob("*.py") if p.stem not in measured)
    assert not missing, f"bench/results/parse_cost.json has no figures for {missing}: run bench/parse_cost.py"
