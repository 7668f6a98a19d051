"""What the stack benchmarks share: the real stack of ``scripts/devstack.py`` (the one the README's
run command starts and the end-to-end tests use) over a copy of ``dags/`` with a trivial one-task
DAG beside ours, so the floor is measured on the same processes in the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

from support_flows_dev.devstack import Stack
from support_flows_dev.rest_client import Client

ROOT = Path(__file__).resolve().parent.parent


__all__ = [
    "Client",
    "Stack",
    "bench_stack",
    "executor_options",
    "percentile",
    "machine",
    "mock_mail",
    "mock_tickets",
    "RESULTS",
]

RESULTS = ROOT / "bench" / "results"
# A benchmark stopped with SIGTERM (timeout, kill) still stops its stack and drops its databases.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
TRIVIAL_DAG_ID = "bench_trivial_one_task"
TRIVIAL_DAG = f'''"""The floor: one task that records when it ran. Written by bench/benchstack.py."""
import time
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="{TRIVIAL_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
     is_paused_upon_creation=False, max_active_runs=32)
def {TRIVIAL_DAG_ID}():
    @task
    def ran_at() -> float:
        return time.time()

    ran_at()


{TRIVIAL_DAG_ID}()
'''


@contextlib.contextmanager
def bench_stack(
    executor: str = "local",
    database_url: str | None = None,
    broker_url: str | None = None,
    extra_env: dict | None = None,
    keep: bool = False,
) -> Iterator[Stack]:
    """A started stack in a scratch folder (removed afterwards unless ``keep``)."""
    workdir = Path(tempfile.mkdtemp(prefix="support-bench-"))
    dags = workdir / "dags"
    shutil.copytree(ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / f"{TRIVIAL_DAG_ID}.py").write_text(TRIVIAL_DAG)
    stack = Stack.on_free_ports(
        workdir / "state",
        dags_folder=dags,
        executor=executor,
        database_url=database_url,
        extra_env={"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", **(extra_env or {})},
        **({"broker_url": broker_url} if broker_url else {}),
    )
    try:
        with stack:
            stack.wait_for_dags([TRIVIAL_DAG_ID, "support_ticket_created"])
            yield stack
    finally:
        if keep:
            print(f"stack state kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(
    server: str = "postgresql+psycopg2://postgres@127.0.0.1:5432", prefix: str = "airflow_bench"
) -> Iterator[str]:
    """A scratch PostgreSQL database on ``server`` (a URL without database), dropped afterwards."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            for database in (name, f"{name}_reporting"):  # the stack creates the reporting one beside it
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()


@contextlib.contextmanager
def executor_options(executor: str) -> Iterator[dict]:
    """``bench_stack`` options: "local" is the README's stack (LocalExecutor, embedded PostgreSQL);
    "local-pg" the LocalExecutor on the machine's PostgreSQL; "celery" the production shape of
    docker-compose.yaml (CeleryExecutor with two workers, PostgreSQL metadata, Redis broker
    database 8, emptied first)."""
    if executor == "local":
        yield {}
        return
    with scratch_database() as url:
        if executor == "local-pg":
            yield {"database_url": url}
            return
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=8).flushdb()
        yield {"executor": "celery", "database_url": url, "broker_url": "redis://127.0.0.1:6379/8"}


def mock_tickets(stack: Stack) -> list[dict]:
    """Every ticket in the mock backend, through its paginated API."""
    items, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{stack.mock_url}/api/tickets", params=params, timeout=60).json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def mock_mail(stack: Stack) -> list[dict]:
    return requests.get(f"{stack.mock_url}/_mock/mail", timeout=60).json()["items"]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def machine() -> dict:
    """What the figures were measured on."""
    import platform

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = float("nan")
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=str))
    return path
