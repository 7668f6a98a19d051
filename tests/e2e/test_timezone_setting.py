"""One time-zone setting: the schedules read AIRFLOW_VAR_SUPPORT_TIMEZONE when the DAG files are
parsed (the environment alone: nothing is looked up at parse time), the tasks read it as the
Variable support_timezone. A Variable set in the UI that disagrees would move the report's day but
not the schedule: the DAG files still parse, the deploy preflight refuses it and every task that
needs the time zone fails, each saying what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from e2e_support import Client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def import_errors(admin: Client, stack) -> list[str]:
    page = admin.session.get(f"{stack.airflow_url}/api/v2/importErrors", params={"limit": 100}, timeout=30).json()
    return [e["stack_trace"] for e in page["import_errors"]]


def test_a_time_zone_variable_that_disagrees_with_the_schedules_fails_the_preflight_and_the_tasks(stack):
    admin = Client(stack, "admin")
    created = admin.session.post(
        f"{stack.airflow_url}/api/v2/variables", timeout=30, json={"key": "support_timezone", "value": "Europe/Paris"}
    )
    assert created.status_code in (200, 201), created.text
    try:
        preflight = subprocess.run(
            [sys.executable, "-m", "support_flows.server.preflight"],
            env=stack.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert preflight.returncode == 1, preflight.stdout + preflight.stderr
        assert "support_timezone is 'Europe/Paris'" in preflight.stdout
        assert "AIRFLOW_VAR_SUPPORT_TIMEZONE=Europe/Paris" in preflight.stdout

        run = admin.trigger("support_daily_summary", {"report_date": "2026-11-09"})
        assert run.status_code == 200, run.text
        assert admin.wait("support_daily_summary", run.json()["dag_run_id"], timeout=240) == "failed"
        assert not [e for e in import_errors(admin, stack) if "timezone" in e]  # the files parse as before
    finally:
        admin.session.delete(f"{stack.airflow_url}/api/v2/variables/support_timezone", timeout=30)
