"""One run of one DAG in this process through ``dag.test()``, for bench/scheduled_at_scale.py:
prints, as JSON, the run's state, its wall time, this process's resident memory before the run
(Airflow imported, DAG parsed) and its peak during the run. Tasks run one after another in this
process, so the peak is that of the most demanding task plus what the process already held.

    python bench/run_one_dag.py DAG_ID '{"conf": "json"}'
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    dag_id, conf = sys.argv[1], json.loads(sys.argv[2])
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags" / f"{dag_id}.py"))
    if bag.import_errors:
        sys.exit(f"{dag_id}: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    dag.deadline = None  # Airflow 3.3.2's dag.test() cannot end a run of a DAG with deadline alerts
    before = rss_mib()
    started = time.perf_counter()
    run = dag.test(run_conf=conf)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    print(
        json.dumps(
            {
                "dag_id": dag_id,
                "state": str(run.state),
                "seconds": seconds,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "task_states": {k: str(v) for k, v in states.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
