"""Shared fixtures: an isolated Airflow home, the mock backend served on free ports, and the
connections of CONTRACT section 3 pointed at it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from helpers import MockServer, connections_for, controlled_clock

ROOT = Path(__file__).resolve().parent.parent

# Before anything imports Airflow: a private home, no examples, and a metadata DB of its own.
_HOME = Path(tempfile.mkdtemp(prefix="support-flows-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
# The plugin comes from the package's entry point; an empty plugins folder, so nothing registers it twice.
(_HOME / "plugins").mkdir()
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(_HOME / "plugins")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT", "test-salt-not-a-secret")


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` (what `dev.py test` runs): every test of tests/e2e is one unit of work,
    which one worker takes whole (the largest unit, so first) and runs in the order
    tests/e2e/conftest.py gives, one Airflow stack at a time, while the other workers share every
    other test one by one. (xdist's own `xdist_group` mark does not group on pytest 9: it renames
    `item._nodeid`, which pytest 9's node ids no longer read.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class EndToEndTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/e2e" if nodeid.startswith("tests/e2e/") else nodeid

    return EndToEndTogether(config, log)


@pytest.fixture(scope="session")
def mock_server(tmp_path_factory) -> Iterator[MockServer]:
    server = MockServer(str(tmp_path_factory.mktemp("mock") / "mock.sqlite"))
    yield server
    server.stop()


@pytest.fixture
def mock(mock_server: MockServer) -> Iterator[MockServer]:
    """The mock, emptied for this test, on the clock the test controls (the mock, the flows and
    the test's own "today" all run in this process: `helpers.controlled_clock`)."""
    mock_server.reset()
    with controlled_clock():
        yield mock_server


@pytest.fixture
def connections(mock: MockServer, tmp_path, monkeypatch) -> dict[str, dict]:
    """CONTRACT section 3's connections as AIRFLOW_CONN_* variables, pointed at the mock."""
    import sqlalchemy as sa

    from support_flows.storage.migrations import ensure_schema

    conns = connections_for(mock, str(tmp_path / "reporting.sqlite"))
    for conn_id, conn in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    # the reporting tables, as the deploy step makes them (tasks only check their version)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'reporting.sqlite'}")
    ensure_schema(engine)
    engine.dispose()
    return conns


POSTGRES_URL = os.environ.get("SUPPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _reachable(url: str) -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL for the tests: the one at 127.0.0.1:5432 (or $SUPPORT_TEST_POSTGRES_URL) where
    it answers, otherwise the embedded server that `run` uses, started for this session. Never a skip."""
    if _reachable(POSTGRES_URL):
        yield POSTGRES_URL
        return
    from support_flows_dev.pgserver import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres") / "data")
    with server.running(server.data_dir.parent / "postgres.log"):
        server.ensure_databases("test")
        yield server.url("test", driver="postgresql+psycopg")


# --- running DAGs with dag.test() ------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh Airflow metadata database in this session's private AIRFLOW_HOME: a copy of a
    template made once per machine and Airflow version (``initdb`` takes about 10 s, and every
    test process, xdist's workers included, needs one)."""
    template = _airflow_db_template()
    if template.exists():
        from airflow import settings

        if getattr(settings, "engine", None) is not None:
            settings.engine.dispose()  # nothing is open on the file before it is replaced
        _sqlite_copy(template, _HOME / "airflow.db")
        return
    from airflow.utils.db import initdb

    initdb()
    partial = template.with_suffix(f".{os.getpid()}.tmp")
    template.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_copy(_HOME / "airflow.db", partial)
    partial.replace(template)  # atomic: a worker that copies meanwhile sees the whole file or none


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, what its write-ahead log holds included."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _airflow_db_template() -> Path:
    """Where the template lives: the user's cache, named after what shapes the schema (Airflow's and
    FAB's versions; our auth manager adds FAB's tables)."""
    import hashlib
    from importlib.metadata import version

    shape = "|".join(version(name) for name in ("apache-airflow-core", "apache-airflow-providers-fab"))
    digest = hashlib.sha256(shape.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "support-flows"
    return cache / f"airflow-metadata-{digest}.sqlite"


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
        self.note = None
        self.task_states: dict[str, str] = {}
        self.outputs: dict[str, object] = {}
        self.result: object = None  # the value of the task the DAG marks as its result
        with create_session() as session:
            from airflow.models.dagrun import DagRun

            self.note = session.get(DagRun, dagrun.id).note
            for ti in dagrun.get_task_instances(session=session):
                self.task_states[ti.task_id] = str(ti.state)
                row = session.scalars(
                    XComModel.get_many(
                        run_id=dagrun.run_id, dag_ids=dagrun.dag_id, task_ids=ti.task_id, key="return_value"
                    )
                ).first()
                if row is not None:
                    self.outputs[ti.task_id] = XComModel.deserialize_value(row)
                    if row.dag_result:
                        self.result = self.outputs[ti.task_id]
        # every outcome a PowerApps flow produces in these tests has the shape the one-call API
        # and the connector declare for it (its flow's contract)
        from support_flows.authoring import catalog

        contract = catalog.DAGS.get(dagrun.dag_id)
        if self.state == "success" and contract is not None and contract.outcome:
            catalog.check_outcome(dagrun.dag_id, self.result)

    def __repr__(self) -> str:
        return f"DagRunResult({self.state}, {self.task_states})"


_BUNDLE_SYNCED: list[bool] = []  # this process's first dag.test() has written every DAG of the folder


@pytest.fixture
def sync_only_the_file_under_test(monkeypatch):
    """``use(fileloc)``: the next dag.test() writes only that file's DAGs to the metadata DB.

    Airflow 3.3's dag.test() parses the whole DAG folder and serialises every DAG into the metadata
    DB before each run (so that the DAGs a run triggers exist there): a sixth of the DAG tests' CPU
    here, for thirteen DAGs that do not change while the tests run. The process's first dag.test()
    still writes them all (the watcher's runs start other DAGs); every later one parses and writes
    only the file of the DAG it runs, whose definition a test's settings can change."""
    from airflow.dag_processing import dagbag as dagbag_module

    whole_folder = dagbag_module.BundleDagBag

    def use(fileloc: str) -> None:
        if not _BUNDLE_SYNCED:
            _BUNDLE_SYNCED.append(True)
            return

        class OneFileBag(whole_folder):
            def __init__(self, *args, dag_folder=None, **kwargs):
                super().__init__(*args, dag_folder=fileloc, **kwargs)

        monkeypatch.setattr(dagbag_module, "BundleDagBag", OneFileBag)

    return use


@pytest.fixture
def run_dag(dagbag, connections, sync_only_the_file_under_test):
    """``run_dag(dag_id, conf, logical_date=None)``: one run through dag.test(); the same
    logical_date again reruns the same run (what clearing a whole run does)."""

    def run(dag_id: str, conf: dict | None = None, logical_date: datetime | None = None) -> DagRunResult:
        from airflow.dag_processing.dagbag import DagBag

        assert dag_id in dagbag.dag_ids, f"{dag_id} is not in the DAG folder ({dagbag.import_errors})"
        # A fresh parse of the file for every run: within one process, dag.test() leaves a run's
        # conf behind in the DAG's Param objects (each real task process parses afresh).
        dag = DagBag(dagbag.dags[dag_id].fileloc).get_dag(dag_id)
        # Airflow 3.3.2's dag.test() cannot end a run of a DAG with deadline alerts (it looks the
        # alerts up by id and gets their definitions); they need a scheduler anyway, and are
        # tested on the running stack (tests/e2e/test_deadline_alerts.py).
        dag.deadline = None
        sync_only_the_file_under_test(dag.fileloc)
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
    from support_flows.storage.migrations import ensure_schema

    fresh = sa.create_engine(parsed.set(database=name))
    ensure_schema(fresh)  # the deploy step
    fresh.dispose()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SUPPORT_REPORTING",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": parsed.host,
                "port": parsed.port or 5432,
                "login": parsed.username,
                "password": parsed.password or "",
                "schema": name,
            }
        ),
    )
    yield "postgres"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def quick_watcher(monkeypatch):
    """The backend-events watcher polls every 0.2 s and gives up after 2 s (dag.test() waits for it)."""
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_EVENT_POLL_SECONDS", "0.2")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_EVENT_MAX_WAIT_SECONDS", "2")
