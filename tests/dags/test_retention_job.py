"""Retention, the deploy job (``python -m support_flows.operations.maintenance clean``): a PowerApps
run's conf (the customer's name and address), its XComs and its task logs are gone from Airflow once
older than metadata_retention_days; newer ones stay. It runs with the deploy steps' own database
address: no task, and no connection any task could read, holds it."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

NAME, EMAIL = "Olde Customer", "olde.customer@example.org"


def aged_run(run_dag, age: timedelta) -> str:
    """A real Flow 1 run for the customer, then made ``age`` old (its run, task rows and XComs)."""
    from airflow.utils.session import create_session

    from support_flows.core import times

    result = run_dag(
        "support_ticket_created", {"customer_name": NAME, "customer_email": EMAIL, "subject": "s", "description": "d"}
    )
    assert result.state == "success"
    when = times.now() - age
    with create_session() as session:
        conn = session.connection()
        for table, column in (
            ("dag_run", "start_date"),
            ("dag_run", "run_after"),
            ("task_instance", "start_date"),
            ("xcom", "timestamp"),
        ):
            conn.exec_driver_sql(
                f"UPDATE {table} SET {column} = ? WHERE run_id = ?",
                (when.replace(tzinfo=None).isoformat(sep=" "), result.run_id),
            )
    return result.run_id


def runs() -> set[str]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return {r.run_id for r in session.query(DagRun).filter(DagRun.dag_id == "support_ticket_created")}


def xcom_runs() -> set[str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.connection().exec_driver_sql("SELECT run_id FROM xcom WHERE dag_id = 'support_ticket_created'")
        return {run_id for (run_id,) in rows}


@pytest.fixture(autouse=True)
def no_long_retries(monkeypatch):
    from support_flows.authoring import dag_defaults

    monkeypatch.setitem(dag_defaults.DEFAULT_ARGS, "retries", 0)


@pytest.fixture
def log_folder(monkeypatch, tmp_path):
    logs = tmp_path / "logs"
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(logs))
    return logs


def test_runs_xcoms_and_logs_past_their_retention_are_purged_and_newer_ones_stay(
    run_dag, mock, log_folder, monkeypatch, capsys
):
    from support_flows.operations import maintenance

    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_METADATA_RETENTION_DAYS", "30")
    before = runs()
    old = aged_run(run_dag, timedelta(days=31))
    older = aged_run(run_dag, timedelta(days=400))
    new = aged_run(run_dag, timedelta(days=29))
    assert {old, older, new} <= runs() and {old, older, new} <= xcom_runs()
    old_log = log_folder / "dag_id=support_ticket_created" / f"run_id={old}" / "attempt=1.log"
    new_log = log_folder / "dag_id=support_ticket_created" / f"run_id={new}" / "attempt=1.log"
    for path, days in ((old_log, 31), (new_log, 29)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{NAME} <{EMAIL}>")
        moment = path.stat().st_mtime - days * 86400
        os.utime(path, (moment, moment))

    assert maintenance.main(["clean", "--dry-run"]) == 0  # says, deletes nothing
    assert {old, older, new} <= runs() and old_log.exists()
    assert maintenance.main(["clean"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["days"] == 30 and report["log_files_deleted"] == 1
    assert old not in runs() and older not in runs() and new in runs()
    assert old not in xcom_runs() and older not in xcom_runs() and new in xcom_runs()
    assert before - runs() <= before  # runs made by other tests are only ever removed when old
    assert not old_log.exists() and new_log.exists()


def test_the_job_names_what_failed_and_exits_non_zero(monkeypatch, capsys, tmp_path):
    from support_flows.operations import maintenance

    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path}/no-such-dir/airflow.db")
    assert maintenance.main(["clean", "--days", "30"]) == 1
    assert "airflow db clean failed" in capsys.readouterr().err


def test_the_nightly_service_waits_for_its_time():
    from datetime import UTC, datetime

    from support_flows.operations import maintenance

    at_one = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    assert maintenance.seconds_until("02:45", at_one) == 105 * 60
    assert maintenance.seconds_until("00:30", at_one) == (23 * 60 + 30) * 60  # tomorrow


def test_no_task_can_reach_the_metadata_databases_owner():
    """No connection of Airflow's own database in any stack's environment: the job uses the deploy
    steps' own address, which no task container is given for it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in ("docker-compose.yaml", "deploy/helm/values.yaml", "scripts/devstack.py"):
        assert (
            "AIRFLOW_METADATA" not in (root / path).read_text() and "airflow_metadata" not in (root / path).read_text()
        ), path
