"""The whole system as the run command starts it (real api-server, scheduler, dag-processor and
triggerer; LocalExecutor; SQLite), driven the way PowerApps drives it: a token from /auth/token,
triggers over the REST API, outputs read back from XCom over the REST API."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from devstack import Stack  # noqa: E402

from helpers import free_port  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENT_DAGS = ("support_ticket_created", "support_ticket_assigned", "support_ticket_resolved", "support_feedback_received")
NEW_TICKET = {"customer_name": "Maria Garcia", "customer_email": "maria@example.org", "subject": "Cannot log in",
              "description": "My password stopped working.", "request_id": "e2e-1"}


class Client:
    """A REST client with PowerApps' credentials."""

    def __init__(self, stack: Stack, user: str = "powerapps"):
        self.base = stack.airflow_url
        password = stack.passwords()[user]
        token = requests.post(f"{self.base}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def trigger(self, dag_id: str, conf: dict) -> requests.Response:
        return self.session.post(f"{self.base}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}, timeout=30)

    def runs(self, dag_id: str) -> list[dict]:
        return self.session.get(f"{self.base}/api/v2/dags/{dag_id}/dagRuns", timeout=30).json()["dag_runs"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.session.get(f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}", timeout=30).json()["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(0.5)
        raise TimeoutError(f"{dag_id} {run_id} did not finish in {timeout}s")

    def output(self, dag_id: str, run_id: str, task_id: str):
        url = f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        response = self.session.get(url, params={"deserialize": "true"}, timeout=30)
        response.raise_for_status()
        return response.json()["value"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(
        state_dir=tmp_path_factory.mktemp("stack"),
        airflow_port=free_port(),
        mock_port=free_port(),
        mock_tls_port=free_port(),
        quiet=True,
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


def mock_get(stack: Stack, path: str, **params):
    return requests.get(f"{stack.mock_url}{path}", params=params, timeout=30).json()


def test_anonymous_calls_are_refused(stack):
    response = requests.post(f"{stack.airflow_url}/api/v2/dags/support_ticket_created/dagRuns",
                             json={"logical_date": None, "conf": NEW_TICKET}, timeout=30)
    assert response.status_code == 401


def test_no_import_errors_and_every_dag_unpaused(stack):
    admin = Client(stack, "admin")
    assert admin.session.get(f"{stack.airflow_url}/api/v2/importErrors", timeout=30).json()["total_entries"] == 0
    dags = admin.session.get(f"{stack.airflow_url}/api/v2/dags", params={"limit": 100}, timeout=30).json()["dags"]
    assert not [d["dag_id"] for d in dags if d["is_paused"]]


def test_every_event_dag_over_rest_with_outputs_from_xcom(stack):
    client = Client(stack)
    run = client.trigger("support_ticket_created", NEW_TICKET)
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]
    assert client.wait("support_ticket_created", run_id) == "success"
    created = client.output("support_ticket_created", run_id, "answer_or_queue")
    assert created["status"] == "ai_responded" and created["ticket_id"] >= 1
    ticket_id = created["ticket_id"]
    assert any(m["to"] == ["maria@example.org"] and f"#{ticket_id}" in m["subject"] for m in mock_get(stack, "/_mock/mail")["items"])

    steps = [
        ("support_ticket_assigned", {"ticket_id": ticket_id, "agent_id": 3, "assigned_by": "PowerApps admin"}, "update_status",
         lambda out: out["assignment_status"] == "assigned" and out["agent_notification_status"] == "sent"),
        ("support_ticket_resolved", {"ticket_id": ticket_id, "agent_id": 3, "resolution_summary": "Reset the password."}, "report",
         lambda out: out["resolution_status"] == "resolved" and out["survey_status"] == "sent"),
        ("support_feedback_received", {"ticket_id": ticket_id, "rating": 1, "comment": "Slow."}, "report",
         lambda out: out["followup_task_id"] is not None),
    ]
    for dag_id, conf, last_task, check in steps:
        response = client.trigger(dag_id, conf)
        assert response.status_code == 200, (dag_id, response.text)
        run_id = response.json()["dag_run_id"]
        assert client.wait(dag_id, run_id) == "success", dag_id
        assert check(client.output(dag_id, run_id, last_task)), dag_id
    # (the scheduled DAGs run too: count only what belongs to this ticket)
    assert len([t for t in mock_get(stack, "/_mock/tasks")["items"] if f"#{ticket_id}" in t["title"]]) == 1
    assert len([e for e in mock_get(stack, "/_mock/events")["items"] if f"#{ticket_id} " in e["subject"]]) == 1


@pytest.mark.parametrize(
    "dag_id, conf, field",
    [
        ("support_ticket_created", {**NEW_TICKET, "customer_email": "not-an-address"}, "customer_email"),
        ("support_ticket_created", {**NEW_TICKET, "priorty": "high"}, "priorty"),
        ("support_ticket_created", {k: v for k, v in NEW_TICKET.items() if k != "subject"}, "subject"),
        ("support_ticket_assigned", {"ticket_id": "seven", "agent_id": 3, "assigned_by": "x"}, "ticket_id"),
        ("support_ticket_resolved", {"ticket_id": 1, "agent_id": 3, "resolution_summary": ""}, "resolution_summary"),
        ("support_feedback_received", {"ticket_id": 1, "rating": 6}, "rating"),
    ],
)
def test_bad_payloads_get_400_naming_the_field_and_no_run(stack, dag_id, conf, field):
    client = Client(stack)
    before = len(client.runs(dag_id))
    response = client.trigger(dag_id, conf)
    assert response.status_code == 400 and field in response.json()["detail"]
    assert len(client.runs(dag_id)) == before


def test_a_ticket_from_another_channel_reaches_flow_1_once(stack):
    ticket = requests.post(f"{stack.mock_url}/api/inbound/tickets", timeout=30, json={
        "customer_name": "Wei Zhang", "customer_email": "wei.zhang@example.net", "subject": "Dark mode",
        "description": "Please add a dark theme.", "channel": "web"}).json()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        mails = [m for m in mock_get(stack, "/_mock/mail")["items"] if m["to"] == ["wei.zhang@example.net"]]
        if mails:
            break
        time.sleep(1)
    assert len(mails) == 1 and f"#{ticket['id']}" in mails[0]["subject"]
    assert mock_get(stack, f"/api/tickets/{ticket['id']}")["status"] == "queued"
