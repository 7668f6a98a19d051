"""The whole system as the run command starts it (real api-server, scheduler, dag-processor and
triggerer; LocalExecutor; embedded PostgreSQL), driven the way PowerApps drives it: a token from /auth/token,
triggers over the REST API, outcomes read back from the one-call API's outcome route (the PowerApps
role reads no runs or XComs; an admin reads them over the REST API)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from e2e_support import EVENT_DAGS, NEW_TICKET, Client, mock_get

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_anonymous_calls_are_refused(stack):
    response = requests.post(
        f"{stack.airflow_url}/api/v2/dags/support_ticket_created/dagRuns",
        json={"logical_date": None, "conf": NEW_TICKET},
        timeout=30,
    )
    assert response.status_code == 401


def test_the_graph_mailbox_pool_is_made_with_four_slots(stack):
    from support_flows.authoring.pools import SENDER_MAILBOX_POOL

    admin = Client(stack, "admin")
    pool = admin.session.get(f"{stack.airflow_url}/api/v2/pools/{SENDER_MAILBOX_POOL}", timeout=30)
    assert pool.status_code == 200 and pool.json()["slots"] == 4


def test_no_import_errors_and_every_dag_unpaused(stack):
    admin = Client(stack, "admin")
    assert admin.session.get(f"{stack.airflow_url}/api/v2/importErrors", timeout=30).json()["total_entries"] == 0
    dags = admin.session.get(f"{stack.airflow_url}/api/v2/dags", params={"limit": 100}, timeout=30).json()["dags"]
    assert not [d["dag_id"] for d in dags if d["is_paused"]]


def test_every_event_dag_over_rest_with_its_outcome(stack):
    client, admin = Client(stack), Client(stack, "admin")
    run = client.trigger("support_ticket_created", NEW_TICKET)
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]
    assert client.wait("support_ticket_created", run_id) == "success"
    created = client.output("support_ticket_created", run_id, "answer_or_queue")
    assert created["status"] == "ai_responded" and created["ticket_id"] >= 1
    ticket_id = created["ticket_id"]
    # Airflow itself knows what the run returns (an admin reads it): /wait streams the state, then the
    # result task's value, the outcome PowerApps got
    waited = admin.session.get(
        f"{client.base}/api/v2/dags/support_ticket_created/dagRuns/{run_id}/wait", params={"interval": 0.5}, timeout=60
    )
    assert waited.status_code == 200, waited.text
    final = json.loads(waited.text.strip().splitlines()[-1])
    assert final == {"state": "success", "results": {"answer_or_queue": created}}
    assert any(
        m["to"] == ["maria@example.org"] and f"#{ticket_id}" in m["subject"]
        for m in mock_get(stack, "/_mock/mail")["items"]
    )

    steps = [
        (
            "support_ticket_assigned",
            {"ticket_id": ticket_id, "agent_id": 3, "assigned_by": "PowerApps admin"},
            "update_status",
            lambda out: out["assignment_status"] == "assigned" and out["agent_notification_status"] == "sent",
        ),
        (
            "support_ticket_resolved",
            {"ticket_id": ticket_id, "agent_id": 3, "resolution_summary": "Reset the password."},
            "report",
            lambda out: out["resolution_status"] == "resolved" and out["survey_status"] == "sent",
        ),
        (
            "support_feedback_received",
            {"ticket_id": ticket_id, "rating": 1, "comment": "Slow."},
            "report",
            lambda out: out["followup_task_id"] is not None,
        ),
    ]
    for dag_id, conf, last_task, check in steps:
        response = client.trigger(dag_id, conf)
        assert response.status_code == 200, (dag_id, response.text)
        run_id = response.json()["dag_run_id"]
        assert client.wait(dag_id, run_id) == "success", dag_id
        assert check(client.output(dag_id, run_id, last_task)), dag_id
    # (the scheduled DAGs run too: count only what belongs to this ticket)
    assert len([t for t in mock_get(stack, "/_mock/tasks")["items"] if f"#{ticket_id}" in t["title"]]) == 1
    # the follow-up reminder Flow 2 put in the agent's calendar left it when Flow 3 resolved the ticket
    assert len([e for e in mock_get(stack, "/_mock/events")["items"] if f"#{ticket_id} " in e["subject"]]) == 0


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
    client, admin = Client(stack), Client(stack, "admin")
    before = admin.run_count(dag_id)  # every page, not the first 50
    response = client.trigger(dag_id, conf)
    assert response.status_code == 400 and field in response.json()["detail"]
    assert admin.run_count(dag_id) == before


def test_a_ticket_from_another_channel_reaches_flow_1_once(stack):
    ticket = requests.post(
        f"{stack.mock_url}/api/inbound/tickets",
        timeout=30,
        json={
            "customer_name": "Wei Zhang",
            "customer_email": "wei.zhang@example.net",
            "subject": "Dark mode",
            "description": "Please add a dark theme.",
            "channel": "web",
        },
    ).json()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        mails = [m for m in mock_get(stack, "/_mock/mail")["items"] if m["to"] == ["wei.zhang@example.net"]]
        if mails:
            break
        time.sleep(1)
    assert len(mails) == 1 and f"#{ticket['id']}" in mails[0]["subject"]
    # queued before the acknowledgement went out (a status read could still race a slow mock answer)
    while mock_get(stack, f"/api/tickets/{ticket['id']}")["status"] != "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mock_get(stack, f"/api/tickets/{ticket['id']}")["status"] == "queued"
    assert len([m for m in mock_get(stack, "/_mock/mail")["items"] if m["to"] == ["wei.zhang@example.net"]]) == 1


FORBIDDEN_TO_POWERAPPS = [
    ("POST", "/api/v2/dags/support_escalate_stale_tickets/dagRuns"),  # other DAGs
    ("POST", "/api/v2/dags/support_daily_summary/dagRuns"),
    ("GET", "/api/v2/dags/support_auto_assign/dagRuns"),
    ("GET", "/api/v2/dags/support_auto_assign"),
    # the event DAGs themselves: their runs (every customer's conf), XComs, task instances, logs
    ("GET", "/api/v2/dags/support_ticket_created"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns"),
    ("POST", "/api/v2/dags/~/dagRuns/list"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/{run_id}"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/{run_id}/wait"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/{run_id}/taskInstances"),
    (
        "GET",
        "/api/v2/dags/support_ticket_created/dagRuns/{run_id}/taskInstances/answer_or_queue/xcomEntries/return_value",
    ),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/{run_id}/taskInstances/answer_or_queue/logs/1"),
    ("GET", "/api/v2/eventLogs"),
    ("GET", "/ui/grid/runs/support_ticket_created"),
    ("PATCH", "/api/v2/dags/support_ticket_created"),  # pause
    ("DELETE", "/api/v2/dags/support_ticket_created"),
    ("POST", "/api/v2/dags/support_ticket_created/clearTaskInstances"),  # clear
    ("DELETE", "/api/v2/dags/support_ticket_created/dagRuns/some-run"),
    ("PATCH", "/api/v2/dags/support_ticket_created/dagRuns/some-run"),  # mark success/failed
    ("GET", "/api/v2/connections"),
    ("POST", "/api/v2/connections"),
    ("GET", "/api/v2/variables"),
    ("GET", "/api/v2/pools"),
    ("GET", "/api/v2/config"),
    ("GET", "/auth/fab/v1/users"),
    ("GET", "/auth/fab/v1/roles"),
]


_POWERAPPS_RUNS: dict[str, str] = {}  # the shared stack's state folder -> the run


@pytest.fixture
def powerapps_run(stack) -> str:
    """A run of Flow 1 the PowerApps user started, finished (one per stack)."""
    if str(stack.state_dir) not in _POWERAPPS_RUNS:
        client = Client(stack)
        run = client.trigger("support_ticket_created", {**NEW_TICKET, "request_id": "role-check"})
        assert run.status_code == 200, run.text
        assert client.wait("support_ticket_created", run.json()["dag_run_id"]) == "success"
        _POWERAPPS_RUNS[str(stack.state_dir)] = run.json()["dag_run_id"]
    return _POWERAPPS_RUNS[str(stack.state_dir)]


@pytest.mark.parametrize("method, path", FORBIDDEN_TO_POWERAPPS)
def test_the_powerapps_role_gets_403_beyond_starting_the_event_flows(stack, powerapps_run, method, path):
    path = path.format(run_id=powerapps_run)  # its own run too: the outcome route is where it reads it
    client = Client(stack)
    response = client.session.request(
        method, f"{stack.airflow_url}{path}", json={"logical_date": None, "conf": {}}, timeout=30
    )
    assert response.status_code == 403, response.text
    # through the connection's integration key, the same
    keyed = requests.request(
        method,
        f"{stack.airflow_url}{path}",
        json={"logical_date": None, "conf": {}},
        timeout=30,
        headers={"X-Api-Key": stack.api_key_file.read_text().strip()},
    )
    assert keyed.status_code == 403, keyed.text


def test_the_powerapps_role_gets_what_it_needs_and_admins_get_the_rest(stack, powerapps_run):
    client = Client(stack)
    outcome = client.session.get(
        f"{stack.airflow_url}/support/v1/flows/support_ticket_created/runs/{powerapps_run}", timeout=30
    )
    assert outcome.status_code == 200 and outcome.json()["state"] == "success" and outcome.json()["ticket_id"] >= 1
    flows = client.session.get(f"{stack.airflow_url}/support/v1/flows", timeout=30).json()["flows"]
    assert set(flows) == set(EVENT_DAGS)  # the flows it may start
    # Airflow's own listings show it nothing: no DAG, no run, nothing in the UI's endpoints
    listed = client.session.get(f"{stack.airflow_url}/api/v2/dags", params={"limit": 100}, timeout=30)
    assert listed.status_code == 403 or listed.json()["dags"] == [], listed.text
    ui = client.session.get(f"{stack.airflow_url}/ui/dags", params={"limit": 100}, timeout=30)
    assert ui.status_code == 403 or ui.json()["dags"] == [], ui.text
    admin = Client(stack, "admin")
    for method, path in FORBIDDEN_TO_POWERAPPS:
        if method == "GET" and path != "/api/v2/config":  # (the config is exposed to nobody by default)
            path = path.format(run_id=powerapps_run)
            params = {"interval": 0.5} if path.endswith("/wait") else {}
            assert admin.session.get(f"{stack.airflow_url}{path}", params=params, timeout=30).status_code == 200, path


def test_a_key_is_never_exchanged_for_a_token_and_tokens_live_minutes(stack):
    """Airflow's token routes refuse a keyed request; a token got with the password lives at most
    15 minutes, and one minted from it again no longer."""
    import jwt

    key = {"X-Api-Key": stack.api_key_file.read_text().strip()}
    for path, body in (
        ("/ui/auth/token", {"token_type": "cli"}),
        ("/ui/auth/token", {}),
        ("/auth/token", {"username": "powerapps", "password": "x"}),
        ("/auth/token/cli", {"username": "powerapps", "password": "x"}),
    ):
        response = requests.post(f"{stack.airflow_url}{path}", json=body, headers=key, timeout=30)
        assert response.status_code == 403 and "access_token" not in response.text, (path, response.text)
    client = Client(stack)
    token = client.session.headers["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 900
    minted = client.session.post(f"{stack.airflow_url}/ui/auth/token", json={"token_type": "cli"}, timeout=30)
    assert minted.status_code == 200 and minted.json()["expires_in_seconds"] <= 900


def test_no_secret_value_appears_in_any_log(stack):
    client = Client(stack)
    run = client.trigger("support_ticket_created", {**NEW_TICKET, "request_id": "e2e-secret-check"}).json()
    client.wait("support_ticket_created", run["dag_run_id"])
    secrets = {
        name: (stack.state_dir / name).read_text().strip()
        for name in (
            "graph-client-secret",
            "customer-key-salt",
            "admin-password",
            "powerapps-password",
            "jwt-secret",
            "fernet-key",
            "api-secret-key",
            "powerapps-api-key",
        )
    }
    leaks = []
    for path in stack.state_dir.rglob("*.log"):
        text = path.read_text(errors="replace")
        leaks += [(str(path), name) for name, value in secrets.items() if value and value in text]
    assert leaks == []


def test_the_state_folder_and_its_secrets_are_the_owners_alone(stack):
    """Passwords, the PowerApps key and the databases live there (0700; the embedded PostgreSQL,
    run as its own user under root, may only pass through: o+x)."""
    assert stack.state_dir.stat().st_mode & 0o077 in (0, 0o001)
    secrets = [p for p in stack.state_dir.iterdir() if p.is_file() and ("password" in p.name or "key" in p.name)]
    assert secrets and all(p.stat().st_mode & 0o077 == 0 for p in secrets), secrets


def test_no_customers_words_stay_in_airflows_metadata_on_any_path_a_run_starts_from(stack):
    """CONTRACT section 1: runs carry references. A new ticket through Airflow's REST trigger (as
    PowerApps and the UI's trigger form send it), through the one call with the key, from another
    channel (the watcher), and a rating's comment: each reaches the backend whole, and none of the
    customers' names, addresses, subjects, descriptions or comments is in Airflow's metadata
    database (run conf, XComs, the audit log, anything) or its task logs."""
    import secrets

    from e2e_support import customer_data_in_airflow

    tag = secrets.token_hex(4)

    def ticket(path: str) -> dict:
        return {
            "customer_name": f"Person {path} {tag}",
            "customer_email": f"{path}-{tag}@example.org",
            "subject": f"Subject {path} {tag}",
            "description": f"Words of {path} {tag}: my password stopped working.",
        }

    client, admin = Client(stack), Client(stack, "admin")
    by_rest = client.trigger("support_ticket_created", {**ticket("rest"), "request_id": f"rest-{tag}"})
    assert by_rest.status_code == 200, by_rest.text
    assert set(by_rest.json()["conf"]) <= {"request_id", "priority", "channel", "ticket_id"}, by_rest.json()["conf"]
    by_form = admin.trigger("support_ticket_created", ticket("form"))  # the UI's form posts the same route
    assert by_form.status_code == 200, by_form.text
    one_call = requests.post(
        f"{stack.airflow_url}/support/v1/flows/support_ticket_created",
        json={**ticket("call"), "request_id": f"call-{tag}"},
        headers={"X-Api-Key": stack.api_key_file.read_text().strip()},
        timeout=130,
    )
    assert one_call.status_code in (200, 202), one_call.text
    requests.post(f"{stack.mock_url}/api/inbound/tickets", json={**ticket("channel"), "channel": "web"}, timeout=30)

    assert client.wait("support_ticket_created", by_rest.json()["dag_run_id"]) == "success"
    rest_ticket = client.output("support_ticket_created", by_rest.json()["dag_run_id"], "answer_or_queue")["ticket_id"]
    assert admin.wait("support_ticket_created", by_form.json()["dag_run_id"]) == "success"
    assert client.wait("support_ticket_created", one_call.json()["run_id"]) == "success"
    for dag_id, conf in (  # a rating is taken for a resolved ticket
        ("support_ticket_assigned", {"ticket_id": rest_ticket, "agent_id": 3, "assigned_by": "admin"}),
        ("support_ticket_resolved", {"ticket_id": rest_ticket, "agent_id": 3, "resolution_summary": "Reset it."}),
    ):
        started = client.trigger(dag_id, conf)
        assert started.status_code == 200 and client.wait(dag_id, started.json()["dag_run_id"]) == "success", dag_id
    comment = f"Comment {tag}: it took too long"
    rating = client.trigger("support_feedback_received", {"ticket_id": rest_ticket, "rating": 2, "comment": comment})
    assert rating.status_code == 200, rating.text
    assert client.wait("support_feedback_received", rating.json()["dag_run_id"]) == "success"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the channel ticket's acknowledgement: its run is done
        if any(m["to"] == [f"channel-{tag}@example.org"] for m in mock_get(stack, "/_mock/mail")["items"]):
            break
        time.sleep(1)

    # the backend got every word: the fields reached the flows
    backend = {t["customer_email"]: t for t in mock_get(stack, "/api/tickets", limit=500)["items"]}
    for path in ("rest", "form", "call", "channel"):
        assert backend[f"{path}-{tag}@example.org"]["customer_name"] == f"Person {path} {tag}", path
    assert any(f["comment"] == comment for f in mock_get(stack, "/api/feedback", limit=1000)["items"])
    needles = {value for path in ("rest", "form", "call", "channel") for value in ticket(path).values()} | {comment}
    time.sleep(3)  # the task logs' last lines reach their files
    assert customer_data_in_airflow(stack, needles) == []
