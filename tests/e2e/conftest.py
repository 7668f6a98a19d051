"""The running stack, shared by every end-to-end test of the session (it takes a minute to start)."""

from __future__ import annotations

import pytest

from e2e_support import EVENT_DAGS, Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack.on_free_ports(
        tmp_path_factory.mktemp("stack"),
        extra_env={
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_VAR_SUPPORT_EVENT_POLL_SECONDS": "1",
            # a short deadline for Flow 1, so test_deadline_alerts.py sees a late run alerted
            "SUPPORT_TICKET_CREATED_DEADLINE_MINUTES": "0.25",
        },
    )
    stack.start()
    try:
        stack.wait_for_dags(EVENT_DAGS, timeout=180)
        yield stack
    finally:
        stack.stop()
