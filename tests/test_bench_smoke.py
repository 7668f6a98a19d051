"""The parse-cost benchmark still runs and covers every DAG file (it asserts no timings: the
figures are for docs/performance.md). The stack benchmarks take minutes and run by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_parse_cost_benchmark_parses_every_dag_file_the_way_the_dag_processor_does():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "parse_cost.py"), "--runs", "1", "--no-write"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    listed = {line.split()[0] for line in out.stdout.splitlines()[1:] if line and not line.startswith("median")}
    assert {p.stem for p in (ROOT / "dags").glob("*.py")} <= listed
    assert "trivial_1_tasks" in listed
