"""Parse cost of each DAG file against a trivial TaskFlow DAG parsed in the same run.

Mirrors Airflow 3.3's dag-processor: one long-lived parent has loaded the plugins (as every
Airflow Job does when it starts, to call its listeners), imported the parsing machinery,
pre-imported the ``airflow.*`` modules the DAG files name (``[dag_processor]
parsing_pre_import_modules``, on by default) and frozen its heap (``gc.freeze()``), then each parse happens in a fresh ``os.fork()``
child, which imports the file (and with it those of our ``support_flows`` modules the plugin did
not import) and serializes its DAGs. Only the child's work is timed: import + serialization.

Prints, per file, the median over ``--runs`` interleaved parses and two ratios:
- against the trivial one-task DAG without Params (issue 6's first figure);
- against a trivial DAG of the same size (issue 36's target: at most 1.2): as many one-line tasks,
  as many Params, each with a one-word schema, with a value or without as the file's are, and a cron
  schedule if the file has one. That separates what Airflow charges per task, per Param and for a
  cron timetable (described in words with cron-descriptor at each serialization) from what our
  code adds: Airflow 3.3
  validates every Param that has a value against its JSON schema (and the schema against JSON
  Schema's metaschema) twice per task whenever a DAG is serialized (``ParamsDict.dump``, in the
  operator's ``_is_excluded`` and ``__repr__``; apache/airflow#28059, #32434), whoever wrote the DAG.

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


def trivial_dag_source(tasks: int, valued: int = 0, unvalued: int = 0, cron: bool = False) -> str:
    """A TaskFlow DAG of ``tasks`` chained one-line tasks, ``valued`` + ``unvalued`` Params with a
    one-word schema (with a default of None, or none) and a cron schedule or none: the floor for a
    DAG of that size."""
    params = [f'"v{n}": Param(None, type=["null", "string"])' for n in range(valued)]
    params += [f'"u{n}": Param(type="string")' for n in range(unvalued)]
    schedule = 'CronTriggerTimetable("0 8 * * *", timezone="UTC")' if cron else "None"
    lines = [
        "from datetime import datetime",
        "from airflow.sdk import CronTriggerTimetable, Param, dag, task",
        "",
        f'@dag(dag_id="{floor_name(tasks, valued, unvalued, cron)}", schedule={schedule}, '
        "start_date=datetime(2026, 1, 1), "
        f"catchup=False, params={{{', '.join(params)}}})",
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


def floor_name(tasks: int, valued: int = 0, unvalued: int = 0, cron: bool = False) -> str:
    params = f"_{valued}_{unvalued}_params" if valued or unvalued else ""
    return f"trivial_{tasks}_tasks{params}{'_cron' if cron else ''}"


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
            from airflow.sdk import CronTriggerTimetable
            from airflow.sdk.definitions._internal.types import is_arg_set

            started = time.perf_counter()
            bag = DagBag(str(path), load_op_links=False)
            imported = time.perf_counter()
            serialized, errors = _serialize_dags(bag, structlog.get_logger())
            done = time.perf_counter()
            tasks = sum(len(d.task_dict) for d in bag.dags.values())
            params = [p for d in bag.dags.values() for p in d.params.values()]
            result = {
                "import": imported - started,
                "serialize": done - imported,
                "total": done - started,
                "tasks": tasks,
                "size": [
                    tasks,
                    sum(is_arg_set(p.value) for p in params),
                    sum(not is_arg_set(p.value) for p in params),
                    any(isinstance(d.timetable, CronTriggerTimetable) for d in bag.dags.values()),
                ],
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
    from airflow.listeners.listener import get_listener_manager

    # The dag-processor is an Airflow Job: starting, it calls the listeners' on_starting
    # (airflow/jobs/job.py), and gathering the listeners loads the plugins
    # (airflow/listeners/listener.py, integrate_listener_plugins). So our plugin, and what it imports
    # (the REST guard's catalog, and with it every flow module's contract), is in the parent before
    # any parse; the children import only what the plugin does not (the authoring helpers, Assets).
    get_listener_manager()
    held = sorted(name for name in sys.modules if name.startswith("support_flows"))
    print(f"the parent holds {len(held)} support_flows modules (the plugin's), as a dag-processor does")

    ours = sorted((ROOT / "dags").glob("*.py"))
    # One parse of each of our files tells the size of its floor: tasks, Params with and without a
    # value, a cron schedule or not.
    sizes = {path.stem: tuple(parse_in_child(path)["size"]) for path in ours}
    floors = {}
    for size in sorted({(1, 0, 0, False), *sizes.values()}):
        floors[size] = home / f"{floor_name(*size)}.py"
        floors[size].write_text(trivial_dag_source(*size))
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

    def best(name: str) -> float:
        return min(s["total"] for s in samples[name])

    floor = median(floors[1, 0, 0, False].stem)
    rows = []
    print(
        f"{'DAG file':40} {'tasks':>5} {'params':>6} {'import ms':>9} {'serial ms':>9} {'total ms':>8} "
        f"{'x trivial':>9} {'x same-size':>11} {'best':>5}"
    )
    for path in files:
        name = path.stem
        size = tuple(samples[name][0]["size"])
        tasks = size[0]
        total = median(name)
        same_size = total / median(floors[size].stem)
        row = {
            "file": name,
            "tasks": tasks,
            "params": size[1] + size[2],
            "params_with_value": size[1],
            "cron": size[3],
            "import_ms": median(name, "import") * 1000,
            "serialize_ms": median(name, "serialize") * 1000,
            "total_ms": total * 1000,
            "ratio_trivial": total / floor,
            "ratio_same_size": same_size,
            # the fastest parse of each against the fastest of its floor: what is left when the
            # machine's noise (other processes, the VM's page faults in a fresh fork) is least
            "ratio_same_size_best": best(name) / best(floors[size].stem),
            "floor": path in floors.values(),
        }
        rows.append(row)
        flag = "" if row["floor"] or same_size <= TARGET else f"  over {TARGET}x the same-size trivial DAG"
        print(
            f"{name:40} {tasks:5d} {row['params']:6d} {row['import_ms']:9.2f} {row['serialize_ms']:9.2f} "
            f"{row['total_ms']:8.2f} {row['ratio_trivial']:9.2f} {same_size:11.2f} "
            f"{row['ratio_same_size_best']:5.2f}{flag}"
        )
    print(f"median of {args.runs} forked parses per file; python {sys.version.split()[0]}; {os.cpu_count()} cpus")
    if not args.no_write:
        from benchstack import write_results
        from plots import draw

        result = {"runs": args.runs, "target": TARGET, "parent_modules": held, "rows": rows}
        out = write_results("parse_cost", result)
        png = draw(out.stem, result)
        print(f"wrote {out.relative_to(ROOT)} and {png.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
