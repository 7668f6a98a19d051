"""The scheduled flows over 10,000 and 100,000 tickets, with the reporting database on PostgreSQL:
each DAG's run time and the peak memory of the process that ran its tasks; and the reporting
writes (every ticket as a ``ticket_facts`` row, through ``loads.upsert``, the code every flow
uses) against a raw ``COPY`` of the same rows into an identical empty table.

Targets (issue 6): peak memory at 100,000 tickets within 1.2x of that at 10,000; reporting writes
at least half the speed of ``COPY``.

    .venv/bin/python bench/scheduled_at_scale.py [--sizes 10000 100000]
        [--postgres postgresql://postgres@127.0.0.1:5432]

Writes bench/results/scheduled_at_scale.json and docs/img/memory_by_tickets.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from benchstack import ROOT, Stack, scratch_database, write_results
from plots import draw

from support_flows_dev.devstack import free_port

DAGS = {
    "support_escalate_stale_tickets": lambda today: {},
    "support_daily_summary": lambda today: {"report_date": today},
    "support_analytics_load": lambda today: {"load_date": today},
}


@contextlib.contextmanager
def mock_backend(workdir: Path, tickets: int):
    """The bundled mock on free ports, seeded with ``tickets`` tickets."""
    from support_flows_dev.processes import wait_for_http

    port, tls_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_backend",
            "--port",
            str(port),
            "--tls-port",
            str(tls_port),
            "--db",
            str(workdir / f"mock-{tickets}.sqlite"),
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOCK_PUBLIC_URL": f"http://localhost:{port}"},
    )
    try:
        wait_for_http(f"http://localhost:{port}/health", 60, process)
        seeded = requests.post(f"http://localhost:{port}/_mock/seed", json={"tickets": tickets}, timeout=600)
        seeded.raise_for_status()
        yield port, tls_port
    finally:
        process.terminate()
        process.wait(30)


def dag_env(workdir: Path, mock_port: int, tls_port: int, reporting_url: str) -> dict:
    """Airflow for dag.test(): SQLite metadata in the scratch folder, the connections to the
    mock, the reporting connection to the scratch PostgreSQL database."""
    import sqlalchemy as sa

    (workdir / "stack").mkdir(exist_ok=True)
    stack = Stack(state_dir=workdir / "stack", mock_port=mock_port, mock_tls_port=tls_port)
    connections = stack.connections()
    url = sa.engine.make_url(reporting_url)
    connections["support_reporting"] = {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port or 5432,
        "login": url.username,
        "password": url.password or "",
        "schema": url.database,
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT": "bench-salt",
    }
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    from support_flows.storage import migrations

    engine = sa.create_engine(reporting_url)
    migrations.ensure_schema(engine)  # the deploy step; the DAGs' tasks only check the version
    engine.dispose()
    return env


def run_dag(env: dict, dag_id: str, conf: dict) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_one_dag.py"), dag_id, json.dumps(conf)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{dag_id} failed to run:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["state"] != "success":
        raise RuntimeError(f"{dag_id}: {result}\n{out.stderr[-3000:]}")
    return result


def every_ticket_fact(mock_port: int) -> list[dict]:
    from support_flows.core.facts import ticket_fact

    rows, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"http://localhost:{mock_port}/api/tickets", params=params, timeout=120).json()
        rows += [ticket_fact(t, "bench-salt") for t in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


def write_speed(reporting_url: str, rows: list[dict], repeats: int) -> dict:
    """Rows per second: ``loads.upsert`` into an empty ``ticket_facts`` against ``COPY`` of the
    same rows into an empty copy of the table (same columns, same primary key). Median of
    ``repeats``, alternating, each into freshly emptied tables."""
    import psycopg
    import sqlalchemy as sa

    from support_flows.storage import loads, migrations, tables

    engine = sa.create_engine(reporting_url.replace("postgresql://", "postgresql+psycopg://"))
    migrations.ensure_schema(engine)
    columns = list(rows[0])
    facts = f"{tables.ANALYTICS}.ticket_facts"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS copy_target (LIKE {facts} INCLUDING ALL)"))
    timings: dict[str, list[float]] = {"upsert": [], "copy": [], "upsert_again": []}
    for _ in range(repeats):
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {facts}, copy_target"))
        started = time.perf_counter()
        written = loads.upsert(engine, "ticket_facts", rows)
        timings["upsert"].append(time.perf_counter() - started)
        assert written == len(rows), (written, len(rows))
        started = time.perf_counter()
        assert loads.upsert(engine, "ticket_facts", rows) == 0  # a repeated load writes nothing
        timings["upsert_again"].append(time.perf_counter() - started)

        started = time.perf_counter()
        copy_sql = f"COPY copy_target ({', '.join(columns)}) FROM STDIN"
        with psycopg.connect(reporting_url) as conn, conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        timings["copy"].append(time.perf_counter() - started)
    engine.dispose()
    medians = {k: statistics.median(v) for k, v in timings.items()}
    return {
        "rows": len(rows),
        "repeats": repeats,
        **{f"{k}_seconds": v for k, v in medians.items()},
        **{f"{k}_rows_per_second": len(rows) / v for k, v in medians.items()},
        "ratio_upsert_to_copy": medians["copy"] / medians["upsert"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the write-speed measurement")
    args = parser.parse_args()

    today = datetime.now(UTC).date().isoformat()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as scratch:
        workdir = Path(scratch)
        (workdir / "airflow").mkdir()
        migrated = False
        for size in args.sizes:
            print(f"== {size:,} tickets", flush=True)
            started = time.perf_counter()
            with (
                mock_backend(workdir, size) as (port, tls_port),
                scratch_database(args.postgres, "reporting_bench") as url,
            ):
                print(f"   mock seeded in {time.perf_counter() - started:.1f}s", flush=True)
                env = dag_env(workdir, port, tls_port, url)
                if not migrated:
                    subprocess.run(
                        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                        env=env,
                        check=True,
                        capture_output=True,
                    )
                    migrated = True
                per_dag = {}
                for dag_id, conf in DAGS.items():
                    per_dag[dag_id] = run_dag(env, dag_id, conf(today))
                    r = per_dag[dag_id]
                    print(
                        f"   {dag_id:32} {r['seconds']:7.1f}s  peak RSS {r['peak_rss_mib']:6.0f} MiB "
                        f"(before the run {r['rss_before_mib']:.0f} MiB)",
                        flush=True,
                    )
                rows = every_ticket_fact(port)
                speed = write_speed(url, rows, args.repeats)
                print(
                    f"   writes: upsert {speed['upsert_rows_per_second']:,.0f} rows/s, COPY "
                    f"{speed['copy_rows_per_second']:,.0f} rows/s, ratio {speed['ratio_upsert_to_copy']:.2f}; "
                    f"repeated load {speed['upsert_again_rows_per_second']:,.0f} rows/s",
                    flush=True,
                )
                results[str(size)] = {"dags": per_dag, "writes": speed}

    summary = report(args.sizes, results)
    result = {"sizes": args.sizes, "results": results, "summary": summary}
    out = write_results("scheduled_at_scale", result)
    png = draw(out.stem, result)
    print(f"wrote {out.relative_to(ROOT)} and {png.relative_to(ROOT)}")


def report(sizes: list[int], results: dict) -> dict:
    small, large = str(min(sizes)), str(max(sizes))
    summary = {}
    print(f"\n{'DAG':32} " + " ".join(f"{int(s):>10,}t s  peak MiB" for s in sizes) + "   peak ratio")
    for dag_id in DAGS:
        cells = " ".join(
            f"{results[str(s)]['dags'][dag_id]['seconds']:12.1f} {results[str(s)]['dags'][dag_id]['peak_rss_mib']:9.0f}"
            for s in sizes
        )
        ratio = results[large]["dags"][dag_id]["peak_rss_mib"] / results[small]["dags"][dag_id]["peak_rss_mib"]
        growth = (
            results[large]["dags"][dag_id]["peak_rss_mib"] - results[large]["dags"][dag_id]["rss_before_mib"]
        ) / max(results[small]["dags"][dag_id]["peak_rss_mib"] - results[small]["dags"][dag_id]["rss_before_mib"], 1)
        summary[dag_id] = {"peak_ratio": ratio, "working_set_ratio": growth}
        flag = "" if ratio <= 1.2 else "  over 1.2x"
        print(f"{dag_id:32} {cells}   {ratio:9.2f}{flag}")
    for size in sizes:
        w = results[str(size)]["writes"]
        summary[f"writes_{size}"] = w["ratio_upsert_to_copy"]
        flag = "" if w["ratio_upsert_to_copy"] >= 0.5 else "  under 0.5x"
        print(f"writes at {size:,}: upsert/COPY speed {w['ratio_upsert_to_copy']:.2f}{flag}")

    return summary


if __name__ == "__main__":
    main()
