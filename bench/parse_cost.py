"""Parse cost of each DAG file against a trivial TaskFlow DAG parsed in the same run.

Mirrors Airflow 3.3's dag-processor: one long-lived parent has imported the parsing machinery,
pre-imported the ``airflow.*`` modules the DAG files name (``[dag_processor]
parsing_pre_import_modules``, on by default) and frozen its heap (``gc.freeze()``), then each parse happens in a fresh ``os.fork()``
child, which imports the file (and with it our ``support_flows`` modules, which the parent never
has) and serializes its DAGs. Only the child's work is timed: import + serialization.

Prints, per file, the median over ``--runs`` interleaved parses and two ratios:
- against the trivial one-task DAG (issue 6's target: at most 1.2);
- against a trivial DAG with the same number of tasks, which separates what Airflow charges per
  task (operator construction, serialization) from what our code adds.

    .venv/bin/python bench/parse_cost.py [--runs 15] [--no-write]

Writes bench/results/parse_cost.json and docs/img/parse_cost.png (unless --no-write).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2


def trivial_dag_source(tasks: int) -> str:
    """A TaskFlow DAG of ``tasks`` chained one-line tasks: the floor for a DAG of that size."""
    lines = [
        "from datetime import datetime",
        "from airflow.sdk import dag, task",
        "",
        f'@dag(dag_id="trivial_{tasks}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)',
        f"def trivial_{tasks}():",
        "    previous = None",
    ]
    for n in range(tasks):
        lines += [
            f'    @task(task_id="step_{n}")',
            "    def step(value=None):",
            "        return 1",
            "    previous = step(previous)",
        ]
    lines += ["", f"trivial_{tasks}()", ""]
    return "\n".join(lines)


def parse_in_child(path: Path) -> dict:
    """Fork, parse and serialize ``path`` in the child as the dag-processor does; return timings."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            import structlog
            from airflow.dag_processing.dagbag import DagBag
            from airflow.dag_processing.processor import _serialize_dags

            started = time.perf_counter()
            bag = DagBag(str(path), load_op_links=False)
            imported = time.perf_counter()
            serialized, errors = _serialize_dags(bag, structlog.get_logger())
            done = time.perf_counter()
            tasks = sum(len(d.task_dict) for d in bag.dags.values())
            result = {
                "import": imported - started,
                "serialize": done - imported,
                "total": done - started,
                "tasks": tasks,
                "errors": {**bag.import_errors, **errors},
                "dags": len(serialized),
            }
        except BaseException as exc:  # report anything to the parent rather than dying silently
            result = {"errors": {str(path): repr(exc)}}
        os.write(write_fd, json.dumps(result).encode())
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks))
    if result.get("errors"):
        sys.exit(f"{path.name} did not parse: {result['errors']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print only; write no result files")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="parse-bench-"))
    os.environ.update(
        {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    )
    # A deployment has bytecode for our modules too (written on first import); here it goes to a
    # scratch folder, whatever PYTHONDONTWRITEBYTECODE says, and the warm-up parse writes it.
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(home / "pycache")

    import structlog
    from airflow.dag_processing.processor import _pre_import_airflow_modules

    ours = sorted((ROOT / "dags").glob("*.py"))
    # One parse of each of our files tells how many tasks its floor needs.
    sizes = {path.stem: parse_in_child(path)["tasks"] for path in ours}
    floors = {}
    for tasks in sorted({1, *sizes.values()}):
        floors[tasks] = home / f"trivial_{tasks}_tasks.py"
        floors[tasks].write_text(trivial_dag_source(tasks))
    files = [*floors.values(), *ours]
    for path in files:  # what the dag-processor parent does before it forks for a file
        _pre_import_airflow_modules(str(path), structlog.get_logger())
    # ... and what its manager does before the parsing loop (airflow/dag_processing/manager.py,
    # before_run): freeze the heap, so a garbage collection in a child neither scans nor copies the
    # parent's objects (without it, a full collection in a child cost 200 ms of copied pages)
    gc.freeze()

    samples: dict[str, list[dict]] = {path.stem: [] for path in files}
    for path in files:  # warm-up: the first fork pays for page-table copies and .pyc writes
        parse_in_child(path)
    for _ in range(args.runs):  # interleaved, so drift in machine load hits every file alike
        for path in files:
            samples[path.stem].append(parse_in_child(path))

    def median(name: str, key: str = "total") -> float:
        return statistics.median(s[key] for s in samples[name])

    floor = median(floors[1].stem)
    rows = []
    print(
        f"{'DAG file':32} {'tasks':>5} {'import ms':>9} {'serial ms':>9} {'total ms':>8} "
        f"{'x trivial':>9} {'x same-size':>11}"
    )
    for path in files:
        name = path.stem
        tasks = samples[name][0]["tasks"]
        total = median(name)
        same_size = total / median(floors[tasks].stem)
        row = {
            "file": name,
            "tasks": tasks,
            "import_ms": median(name, "import") * 1000,
            "serialize_ms": median(name, "serialize") * 1000,
            "total_ms": total * 1000,
            "ratio_trivial": total / floor,
            "ratio_same_size": same_size,
            "floor": path in floors.values(),
        }
        rows.append(row)
        flag = "" if row["floor"] or row["ratio_trivial"] <= TARGET else "  over 1.2x trivial"
        print(
            f"{name:32} {tasks:5d} {row['import_ms']:9.2f} {row['serialize_ms']:9.2f} {row['total_ms']:8.2f} "
            f"{row['ratio_trivial']:9.2f} {same_size:11.2f}{flag}"
        )
    print(f"median of {args.runs} forked parses per file; python {sys.version.split()[0]}; {os.cpu_count()} cpus")
    if not args.no_write:
        from benchstack import write_results
        from plots import draw

        result = {"runs": args.runs, "target": TARGET, "rows": rows}
        out = write_results("parse_cost", result)
        png = draw(out.stem, result)
        print(f"wrote {out.relative_to(ROOT)} and {png.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
