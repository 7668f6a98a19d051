"""The running stack, shared by every end-to-end test of the session (it takes a minute to start)."""

from __future__ import annotations

import time

import pytest

from e2e_support import EVENT_DAGS, Client, Stack, free_port


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(
        state_dir=tmp_path_factory.mktemp("stack"),
        airflow_port=free_port(),
        mock_port=free_port(),
        mock_tls_port=free_port(),
        quiet=True,
        private_ports=True,
        extra_env={"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW_VAR_SUPPORT_EVENT_POLL_SECONDS": "1"},
    )
    stack.start()
    try:
        admin = Client(stack, "admin")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            dags = admin.session.get(f"{stack.airflow_url}/api/v2/dags", params={"limit": 100}, timeout=30).json()["dags"]
            if set(EVENT_DAGS) <= {d["dag_id"] for d in dags}:
                break
            time.sleep(1)
        else:
            pytest.fail(f"DAGs were not parsed in time; see {stack.state_dir / 'logs'}")
        yield stack
    finally:
        stack.stop()
