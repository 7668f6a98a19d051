"""Run DAGs with ``dag.test()`` against the mock, and read back what a caller would read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh Airflow metadata database in this session's private AIRFLOW_HOME."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(ROOT / "dags"))


class DagRunResult:
    def __init__(self, dagrun):
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        self.run_id = dagrun.run_id
        self.state = str(dagrun.state)
        self.task_states: dict[str, str] = {}
        self.outputs: dict[str, object] = {}
        with create_session() as session:
            for ti in dagrun.get_task_instances(session=session):
                self.task_states[ti.task_id] = str(ti.state)
                row = session.scalars(
                    XComModel.get_many(run_id=dagrun.run_id, dag_ids=dagrun.dag_id, task_ids=ti.task_id, key="return_value")
                ).first()
                if row is not None:
                    self.outputs[ti.task_id] = XComModel.deserialize_value(row)

    def __repr__(self) -> str:
        return f"DagRunResult({self.state}, {self.task_states})"


@pytest.fixture
def run_dag(dagbag, connections):
    """``run_dag(dag_id, conf, logical_date=None)``: one run through dag.test(); the same
    logical_date again reruns the same run (what clearing a whole run does)."""

    def run(dag_id: str, conf: dict | None = None, logical_date: datetime | None = None) -> DagRunResult:
        from airflow.dag_processing.dagbag import DagBag

        assert dag_id in dagbag.dag_ids, f"{dag_id} is not in the DAG folder ({dagbag.import_errors})"
        # A fresh parse of the file for every run: within one process, dag.test() leaves a run's
        # conf behind in the DAG's Param objects (each real task process parses afresh).
        dag = DagBag(dagbag.dags[dag_id].fileloc).get_dag(dag_id)
        kwargs = {"run_conf": conf or {}}
        if logical_date is not None:
            # The run id derives from run_after: the same moment again means the same run, which
            # dag.test() replaces, as clearing a whole run and running it again would.
            kwargs["logical_date"] = kwargs["run_after"] = logical_date
        return DagRunResult(dag.test(**kwargs))

    return run


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def reporting_backend(request, connections, monkeypatch) -> str:
    """Run the test with the reporting database on SQLite, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    import json
    import uuid

    import sqlalchemy as sa

    url = request.getfixturevalue("postgres_url")
    name = f"reporting_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    parsed = sa.engine.make_url(url)
    monkeypatch.setenv("AIRFLOW_CONN_SUPPORT_REPORTING", json.dumps({
        "conn_type": "postgres", "host": parsed.host, "port": parsed.port or 5432,
        "login": parsed.username, "password": parsed.password or "", "schema": name,
    }))
    yield "postgres"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()
