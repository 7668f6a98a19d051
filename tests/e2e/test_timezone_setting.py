"""One time-zone setting: the schedules read AIRFLOW_VAR_SUPPORT_TIMEZONE when the DAG files are
parsed, the tasks read it as the Variable support_timezone. A Variable set in the UI that disagrees
would move the report's day but not the schedule; the dag-processor refuses the scheduled DAG
files instead, with an import error that says what to do, until the Variable is gone."""

from __future__ import annotations

import time

import pytest

from e2e_support import Client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def import_errors(admin: Client, stack) -> list[str]:
    page = admin.session.get(f"{stack.airflow_url}/api/v2/importErrors", params={"limit": 100}, timeout=30).json()
    return [e["stack_trace"] for e in page["import_errors"]]


def wait_for(predicate, timeout: float = 150):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise TimeoutError("the dag-processor did not get there in time")


def test_a_time_zone_variable_that_disagrees_with_the_schedules_is_an_import_error(stack):
    admin = Client(stack, "admin")
    created = admin.session.post(
        f"{stack.airflow_url}/api/v2/variables", timeout=30, json={"key": "support_timezone", "value": "Europe/Paris"}
    )
    assert created.status_code in (200, 201), created.text
    try:
        errors = wait_for(lambda: [e for e in import_errors(admin, stack) if "support_timezone is 'Europe/Paris'" in e])
        assert "AIRFLOW_VAR_SUPPORT_TIMEZONE=Europe/Paris" in errors[0]
    finally:
        admin.session.delete(f"{stack.airflow_url}/api/v2/variables/support_timezone", timeout=30)
    wait_for(lambda: not import_errors(admin, stack) or None)
