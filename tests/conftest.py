"""Shared fixtures: an isolated Airflow home, the mock backend served on free ports, and the
connections of CONTRACT section 3 pointed at it."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MockServer:
    """The mock backend in this process, on free HTTP and HTTPS ports."""

    def __init__(self, db_path: str):
        from werkzeug.serving import make_server

        from mock_backend import create_app

        self.port, self.tls_port = free_port(), free_port()
        self.url = f"http://localhost:{self.port}"
        self.app = create_app(db_path, public_url=self.url)
        self._servers = [
            make_server("127.0.0.1", self.port, self.app, threaded=True),
            make_server("127.0.0.1", self.tls_port, self.app, threaded=True, ssl_context="adhoc"),
        ]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()

    # small helpers the tests read like sentences
    def get(self, path: str, **params):
        import requests

        response = requests.get(self.url + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body=None):
        import requests

        response = requests.post(self.url + path, json=body if body is not None else {}, timeout=120)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.post("/_mock/reset")

    def seed(self, **body):
        return self.post("/_mock/seed", body)

    def faults(self, *rules: dict) -> None:
        self.post("/_mock/faults", list(rules))

    def mail(self) -> list[dict]:
        return self.get("/_mock/mail")["items"]


def connections_for(mock: MockServer, reporting_url: str) -> dict[str, dict]:
    return {
        "support_api": {"conn_type": "http", "host": "localhost", "port": mock.port, "schema": "http",
                        "extra": {"timeout": 5}},
        "support_graph": {
            "conn_type": "msgraph",
            "host": f"localhost:{mock.port}",
            "schema": "http",
            "login": "test-client",
            "password": "test-client-secret",
            "extra": {
                "tenant_id": "mock-tenant",
                "authority": f"https://localhost:{mock.tls_port}",
                "disable_instance_discovery": True,
                "verify": False,
                "base_url": f"{mock.url}/graph/v1.0/",
                "allowed_hosts": "localhost",
            },
        },
        "support_reporting": {"conn_type": "sqlite", "host": reporting_url},
    }


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
