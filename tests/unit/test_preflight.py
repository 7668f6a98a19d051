"""The deploy preflight (support_flows.server.preflight) against the mock tenant: with every setting
right it passes with one line; with each setting, secret or outside system wrong in turn it names
that one, with the fix, and exits 1, as compose's airflow-init and the Helm job run it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from mock_backend import tenant
from support_flows.core.settings import TENANT_SETTINGS
from support_flows.server import preflight

MOCK_TENANT = tenant.settings("http://localhost:5000")


@pytest.fixture
def deployed(connections, monkeypatch, mock) -> dict[str, dict]:
    """A deployment on the mock: the connections, and every tenant setting the mock tenant's."""
    mock.seed()
    for name, value in MOCK_TENANT.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_SUPPORT_{name.upper()}", value)
    return connections


def lines(problems) -> list[str]:
    return [str(problem) for problem in problems]


def test_the_tenant_settings_are_the_customers_own():
    assert set(TENANT_SETTINGS) == {
        "sender_mailbox",
        "admin_recipients",
        "sysadmin_recipients",
        "sharepoint_site_id",
        "planner_plan_id",
        "portal_url",
    }
    assert set(MOCK_TENANT) == set(TENANT_SETTINGS), "the mock tenant sets each of them"


def test_a_right_deployment_passes(deployed):
    assert preflight.run_checks() == []
    out = io.StringIO()
    assert preflight.report([], out=out) == 0
    assert out.getvalue().count("\n") == 1


@pytest.mark.parametrize("name", sorted(MOCK_TENANT))
def test_a_missing_tenant_setting_is_named(deployed, monkeypatch, name):
    monkeypatch.delenv(f"AIRFLOW_VAR_SUPPORT_{name.upper()}")
    (problem,) = preflight.run_checks()
    assert str(problem).startswith(f"Variable support_{name} (Key Vault secret airflow-variables-support-")
    assert "not set" in problem.message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("sender_mailbox", "support@support.example.com", "placeholder domain example.com"),
        ("admin_recipients", "ops@helpdesk.test, admins@example.org", "placeholder domain example.org"),
        ("portal_url", "https://support.example.com/tickets", "placeholder domain example.com"),
        ("sysadmin_recipients", "sysadmin@helpdesk.test, oncall", "'oncall' is not an e-mail address"),
    ],
)
def test_a_placeholder_or_malformed_value_is_named(deployed, monkeypatch, name, value, says):
    monkeypatch.setenv(f"AIRFLOW_VAR_SUPPORT_{name.upper()}", value)
    (problem,) = preflight.run_checks()
    assert problem.subject.startswith(f"Variable support_{name} ") and says in problem.message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("sender_mailbox", "nobody@helpdesk.test", "no such mailbox in the tenant's directory"),
        ("sharepoint_site_id", "support-archive", "no such SharePoint site"),
        ("planner_plan_id", "other-plan", "no such Planner plan"),
    ],
)
def test_something_the_tenant_does_not_have_is_named(deployed, monkeypatch, mock, name, value, says):
    monkeypatch.setenv(f"AIRFLOW_VAR_SUPPORT_{name.upper()}", value)
    (problem,) = preflight.run_checks()
    assert problem.subject.startswith(f"Variable support_{name} ")
    assert problem.message.startswith(f"{value!r}: {says}")


def test_an_extra_sender_mailbox_the_tenant_does_not_have_is_named(deployed, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_VAR_SUPPORT_EXTRA_SENDER_MAILBOXES", f"sysadmin@{tenant.DOMAIN}, nobody@{tenant.DOMAIN}"
    )
    (problem,) = preflight.run_checks()
    assert problem.subject.startswith("Variable support_extra_sender_mailboxes ")
    assert problem.message.startswith(f"'nobody@{tenant.DOMAIN}': no such mailbox")


def test_a_time_zone_variable_that_disagrees_with_the_schedules_is_named(deployed, monkeypatch):
    """The Variable kept apart from the environment the schedules read (in the vault or the
    database; here a stand-in for that lookup)."""
    from support_flows.core import settings

    real = settings.raw_setting
    monkeypatch.setattr(settings, "raw_setting", lambda name: "Europe/Paris" if name == "timezone" else real(name))
    (problem,) = preflight.run_checks()
    assert problem.subject == "settings"
    assert "support_timezone is 'Europe/Paris' but the schedules use 'UTC'" in problem.message
    assert "AIRFLOW_VAR_SUPPORT_TIMEZONE=Europe/Paris" in problem.message


def test_graph_without_a_token_is_named_once(deployed, monkeypatch):
    graph = dict(deployed["support_graph"])
    graph["extra"] = {**graph["extra"], "authority": "https://127.0.0.1:9"}  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_SUPPORT_GRAPH", json.dumps(graph))
    (problem,) = preflight.run_checks()
    assert problem.subject == "connection support_graph"
    assert problem.message.startswith("Microsoft Graph gives no token (")


def test_a_silent_support_api_is_named(deployed, monkeypatch):
    api = {**deployed["support_api"], "port": 9}
    monkeypatch.setenv("AIRFLOW_CONN_SUPPORT_API", json.dumps(api))
    (problem,) = preflight.run_checks()
    assert problem.subject == "connection support_api" and "the Support API does not answer" in problem.message


def test_a_reporting_database_at_another_version_is_named(deployed):
    from support_flows.storage.tables import SCHEMA_VERSION

    behind = SCHEMA_VERSION - 1
    url = deployed["support_reporting"]["host"]
    engine = sa.create_engine(f"sqlite:///{url}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = 'v{behind}'")  # one revision behind
    engine.dispose()
    (problem,) = preflight.run_checks()
    assert problem.subject == "connection support_reporting"
    assert f"at schema version {behind}, this code needs schema version {SCHEMA_VERSION}" in problem.message
    assert "run `python -m support_flows.storage.migrations migrate`" in problem.message


def test_the_deploy_step_prints_one_line_per_problem_and_fails(deployed, mock):
    """As airflow-init runs it: a process of its own, the settings from the environment."""
    env = {**os.environ, "AIRFLOW_VAR_SUPPORT_PLANNER_PLAN_ID": "other-plan"}
    env.pop("AIRFLOW_VAR_SUPPORT_PORTAL_URL")
    done = subprocess.run(
        [sys.executable, "-m", "support_flows.server.preflight"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = [line for line in done.stdout.splitlines() if line.startswith("preflight: ")]  # not Airflow's log
    assert len(out) == 3, out
    assert out[0].startswith("preflight: Variable support_portal_url ") and "not set" in out[0]
    assert out[1].startswith("preflight: Variable support_planner_plan_id ") and "no such Planner plan" in out[1]
    assert out[2] == "preflight: 2 problem(s); nothing was started"

    env["AIRFLOW_VAR_SUPPORT_PLANNER_PLAN_ID"] = tenant.PLANNER_PLAN_ID
    env["AIRFLOW_VAR_SUPPORT_PORTAL_URL"] = MOCK_TENANT["portal_url"]
    done = subprocess.run(
        [sys.executable, "-m", "support_flows.server.preflight"], env=env, capture_output=True, text=True, timeout=120
    )
    out = [line for line in done.stdout.splitlines() if line.startswith("preflight: ")]
    assert done.returncode == 0 and len(out) == 1, done.stdout + done.stderr
