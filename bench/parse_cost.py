"""Parse cost of each DAG file against a trivial TaskFlow DAG parsed in the same run.

The dag-processor parses every file in a fresh child process that has Airflow imported but not
our modules, so each measurement here is one cold parse in a fresh interpreter that has already
imported Airflow's DAG-parsing machinery; only the parse itself is timed. Prints the median of
N runs per file and its ratio to the trivial DAG (target: at most 1.2).

    .venv/bin/python bench/parse_cost.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRIVIAL = '''
from datetime import datetime
from airflow.sdk import dag, task

@dag(dag_id="trivial", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def trivial():
    @task
    def hello():
        return 1
    hello()

trivial()
'''

PROBE = r'''
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
# What the dag-processor's child has loaded before it parses a file: it is forked from a process
# that serializes DAGs, so Airflow's definitions (Param, Asset, timetables, operators) are in.
import airflow.serialization.serialized_objects  # noqa: F401
from airflow.sdk import Asset, Param, dag, task  # noqa: F401
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable  # noqa: F401
started = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags)}))
'''


def parse_once(path: Path, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="parse-bench-")
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]), "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    trivial = Path(home) / "trivial_dag.py"
    trivial.write_text(TRIVIAL)
    files = [trivial, *sorted((ROOT / "dags").glob("*.py"))]
    results = {}
    for _ in range(args.runs):  # interleaved, so drift in machine load hits every file alike
        for path in files:
            results.setdefault(path.stem, []).append(parse_once(path, env))
    floor = statistics.median(results["trivial_dag"])
    print(f"{'DAG file':40} {'median ms':>10} {'ratio':>7}")
    for name, samples in results.items():
        median = statistics.median(samples)
        flag = "" if name == "trivial_dag" or median / floor <= 1.2 else "  <- over 1.2x"
        print(f"{name:40} {median * 1000:10.1f} {median / floor:7.2f}{flag}")
    print(f"runs per file: {args.runs}; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
