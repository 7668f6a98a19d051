"""Shared fixtures: an isolated Airflow home, the mock backend served on free ports, and the
connections of CONTRACT section 3 pointed at it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import MockServer, connections_for

ROOT = Path(__file__).resolve().parent.parent

# Before anything imports Airflow: a private home, no examples, and a metadata DB of its own.
_HOME = Path(tempfile.mkdtemp(prefix="support-flows-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT", "test-salt-not-a-secret")


@pytest.fixture(scope="session")
def mock_server(tmp_path_factory) -> Iterator[MockServer]:
    server = MockServer(str(tmp_path_factory.mktemp("mock") / "mock.sqlite"))
    yield server
    server.stop()


@pytest.fixture
def mock(mock_server: MockServer) -> MockServer:
    """The mock, emptied for this test."""
    mock_server.reset()
    return mock_server


@pytest.fixture
def connections(mock: MockServer, tmp_path, monkeypatch) -> dict[str, dict]:
    """CONTRACT section 3's connections as AIRFLOW_CONN_* variables, pointed at the mock."""
    conns = connections_for(mock, str(tmp_path / "reporting.sqlite"))
    for conn_id, conn in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conns


POSTGRES_URL = os.environ.get("SUPPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL at 127.0.0.1:5432. Skipped where it is absent, except in CI, where it must run."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as err:  # noqa: BLE001
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is unreachable at {POSTGRES_URL}: {err}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {err}")
    return POSTGRES_URL
