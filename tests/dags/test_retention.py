"""Retention: a PowerApps run's conf (the customer's name and address), its XComs and its task logs
are gone from Airflow once older than metadata_retention_days; newer ones stay."""

from __future__ import annotations

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
def metadata_connection(monkeypatch, tmp_path):
    """The connection the clean-up reads the database's address from: this session's database."""
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRFLOW_METADATA",
        json.dumps(
            {"conn_type": "sqlite", "host": os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"][len("sqlite:///") :]}
        ),
    )
    logs = tmp_path / "logs"
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(logs))
    return logs


def test_runs_xcoms_and_logs_past_their_retention_are_purged_and_newer_ones_stay(
    run_dag, mock, metadata_connection, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_METADATA_RETENTION_DAYS", "30")
    before = runs()
    old = aged_run(run_dag, timedelta(days=31))
    older = aged_run(run_dag, timedelta(days=400))
    new = aged_run(run_dag, timedelta(days=29))
    assert {old, older, new} <= runs() and {old, older, new} <= xcom_runs()
    old_log = metadata_connection / "dag_id=support_ticket_created" / f"run_id={old}" / "attempt=1.log"
    new_log = metadata_connection / "dag_id=support_ticket_created" / f"run_id={new}" / "attempt=1.log"
    for path, days in ((old_log, 31), (new_log, 29)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{NAME} <{EMAIL}>")
        moment = path.stat().st_mtime - days * 86400
        os.utime(path, (moment, moment))

    result = run_dag("support_metadata_retention")
    assert result.state == "success", result
    assert old not in runs() and older not in runs() and new in runs()
    assert old not in xcom_runs() and older not in xcom_runs() and new in xcom_runs()
    assert before - runs() <= before  # runs made by other tests are only ever removed when old
    assert not old_log.exists() and new_log.exists()
    assert result.outputs["delete_old_task_logs"] == 1


def test_without_the_metadata_connection_the_clean_up_fails_naming_it(run_dag, mock, capfd):
    result = run_dag("support_metadata_retention")
    assert result.state == "failed"
    assert "the connection airflow_metadata is missing" in capfd.readouterr().out
