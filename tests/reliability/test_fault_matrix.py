"""Fault injection over every outside dependency and every kind of fault (driven by the mock's
/_mock/faults). Each case either recovers with exactly one side effect, or fails loudly (a final
row in flow_errors and an alert) with nothing lost: once the fault is gone, rerunning the same run
completes it, still with exactly one side effect. docs/reliability.md shows the matrix."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests

from helpers import SEND_MAIL
from support_flows.storage.reporting import ReportingStore

WHEN = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
ADMIN = "sysadmin@support.example.com"
CUSTOMER = "fault.case@example.org"


@dataclass
class Dependency:
    dag_id: str
    path: str  # regex of the faulted endpoint
    method: str
    setup: Callable  # (mock) -> conf
    effects: Callable  # (mock) -> how many of the side effect the customer or staff would see


def _ticket(mock, **extra) -> dict:
    return mock.post(
        "/api/tickets",
        {
            "customer_name": "Fay",
            "customer_email": CUSTOMER,
            "subject": "Fault case",
            "description": "Please help.",
            **extra,
        },
    )


def _resolved(mock) -> dict:
    mock.seed()
    ticket = _ticket(mock)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 6, "assigned_by": "admin"})
    return mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 6, "resolution_summary": "Done."})


NEW_TICKET = {
    "customer_name": "Fay",
    "customer_email": CUSTOMER,
    "subject": "Fault case",
    "description": "Please help.",
    "request_id": "fault-case-1",
}

DEPENDENCIES = {
    "support_api": Dependency(
        "support_ticket_created",
        r"^/api/tickets$",
        "POST",
        lambda mock: NEW_TICKET,
        lambda mock: sum(t["subject"] == "Fault case" for t in mock.get("/api/tickets", limit=1000)["items"]),
    ),
    "graph_mail": Dependency(
        "support_ticket_created",
        SEND_MAIL,
        "POST",
        lambda mock: NEW_TICKET,
        lambda mock: sum(m["to"] == [CUSTOMER] for m in mock.mail()),
    ),
    "graph_calendar": Dependency(
        "support_ticket_assigned",
        r"/events$",
        "POST",
        lambda mock: (mock.seed(), {"ticket_id": _ticket(mock)["id"], "agent_id": 4, "assigned_by": "admin"})[1],
        lambda mock: len(mock.get("/_mock/events")["items"]),
    ),
    "sharepoint": Dependency(
        "support_daily_summary",
        r"/drive/root:",
        "PUT",
        lambda mock: (mock.seed(), {"report_date": "2026-11-09"})[1],
        lambda mock: len(mock.get("/_mock/files")["items"]) // 2,
    ),  # the HTML and the CSV
    "planner": Dependency(
        "support_feedback_received",
        r"/planner/tasks$",
        "POST",
        lambda mock: {"ticket_id": _resolved(mock)["id"], "rating": 1},
        lambda mock: len(mock.get("/_mock/tasks")["items"]),
    ),
}

# fault kind -> (rule, does the run recover by itself?)
FAULTS = {
    "transient_5xx": ({"status": 503, "times": 2}, True),
    "rate_limited_429": ({"status": 429, "times": 2, "retry_after": 0.2}, True),
    "slow_past_timeout": ({"status": 504, "delay_s": 1.5, "times": 1}, True),
    "malformed_body": ({"body": "<html>Service temporarily unavailable</html>", "times": 1}, True),
    # Graph (or the backend) did it and the answer was lost: a blind retry would do it twice
    "answer_lost_after_acceptance": ({"status": 504, "accept": True, "times": 1}, True),
    "answer_lost_past_timeout": ({"status": 504, "accept": True, "delay_s": 1.5, "times": 1}, True),
    "persistent_5xx": ({"status": 500, "times": 1000}, False),
    "client_4xx": ({"status": 400, "times": 1}, False),
}


@pytest.fixture
def fast_clients(monkeypatch, mock, connections, quick_retries):
    """Short timeouts and backoffs, so a slow answer times out and retries take a second."""
    api = dict(connections["support_api"], extra={"timeout": 1})
    monkeypatch.setenv("AIRFLOW_CONN_SUPPORT_API", json.dumps(api))
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_GRAPH_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_RETRY_BASE_SECONDS", "0.1")


def final_errors(dag_id: str) -> list[dict]:
    return [r for r in ReportingStore().fetch_all("flow_errors") if r["dag_id"] == dag_id and r["is_final"]]


def assert_the_fault_fired(mock, dep: Dependency, rule: dict, recovers: bool) -> None:
    """The premise, from the mock's request log: the faulted endpoint was called and answered as
    the rule says (a fault whose path stopped matching would otherwise pass as "recovered")."""
    import re
    import time

    time.sleep(rule.get("delay_s", 0))  # a slowed answer is logged when it ends, after the client gave up
    calls = [
        r["status"]
        for r in mock.get("/_mock/requests")["items"]
        if r["method"] == dep.method and re.search(dep.path, r["path"])
    ]
    assert calls, f"{dep.method} {dep.path} was never called: the fault could not fire"
    if "body" in rule:  # answered 200 with a body the client cannot use, then asked again
        assert len(calls) >= 2 and all(status < 300 for status in calls), calls
        return
    if rule.get("accept"):  # done, then its answer lost (logged when it ends): what follows may only look
        assert calls.count(rule["status"]) == 1, calls
        return
    if recovers:  # every injected answer was given, and the endpoint then answered
        assert calls.count(rule["status"]) == rule["times"] and any(status < 300 for status in calls), calls
    else:
        assert calls[0] == rule["status"], calls


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("dependency", DEPENDENCIES)
def test_fault(dependency, fault, mock, run_dag, fast_clients):
    dep, (rule, recovers) = DEPENDENCIES[dependency], FAULTS[fault]
    conf = dep.setup(mock)
    mock.faults({"path": dep.path, "method": dep.method, **rule})
    result = run_dag(dep.dag_id, conf, logical_date=WHEN)
    assert_the_fault_fired(mock, dep, rule, recovers)

    if recovers:
        assert result.state == "success", result
        assert dep.effects(mock) == 1
        assert final_errors(dep.dag_id) == []
        return

    assert result.state == "failed", result
    assert dep.effects(mock) == 0
    (error,) = final_errors(dep.dag_id)
    admin_alerts = [m for m in mock.mail() if m["to"] == [ADMIN]]
    if dependency == "graph_mail" and fault == "persistent_5xx":
        assert error["alert_status"] == "pending" and admin_alerts == []  # Graph is down: kept for the next alert
    else:
        assert error["alert_status"] == "sent" and len(admin_alerts) == 1
        assert dep.dag_id in admin_alerts[0]["subject"]

    # Nothing is lost: with the fault gone, rerunning the same run completes it, once.
    requests.delete(f"{mock.url}/_mock/faults", timeout=10)
    again = run_dag(dep.dag_id, conf, logical_date=WHEN)
    assert again.state == "success", again
    assert dep.effects(mock) == 1


def test_reporting_database_down_fails_loudly_and_sends_nothing_twice(
    mock, run_dag, fast_clients, monkeypatch, connections
):
    ticket = _resolved(mock)
    conf = {"ticket_id": ticket["id"], "agent_id": 6, "resolution_summary": "Done.", "send_survey": False}
    working = connections["support_reporting"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_SUPPORT_REPORTING",
        json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "nobody", "schema": "none"}),
    )
    result = run_dag("support_ticket_resolved", conf, logical_date=WHEN)
    assert result.state == "failed"
    assert result.task_states["load_reporting"] == "failed"
    # Without the ledger no e-mail goes to the customer (better late than twice) ...
    assert [m for m in mock.mail() if m["to"] == [CUSTOMER]] == []
    # ... but the administrators hear of it, although the error log itself is unreachable.
    alerts = [m for m in mock.mail() if m["to"] == [ADMIN]]
    assert alerts and "error log unavailable" in alerts[0]["subject"]

    monkeypatch.setenv("AIRFLOW_CONN_SUPPORT_REPORTING", json.dumps(working))
    again = run_dag("support_ticket_resolved", conf, logical_date=WHEN)
    assert again.state == "success"
    assert len([m for m in mock.mail() if m["to"] == [CUSTOMER]]) == 1
    assert [f["ticket_id"] for f in ReportingStore().fetch_all("ticket_facts")] == [ticket["id"]]


def test_graph_down_for_good_still_puts_the_new_ticket_in_the_queue(mock, run_dag, fast_clients):
    """Without an AI answer the ticket joins the unassigned queue before the acknowledgement goes
    out, so an e-mail outage does not keep it from the agents."""
    mock.faults({"path": SEND_MAIL, "method": "POST", "status": 503, "times": 1000})
    conf = {
        "customer_name": "Ana Lima",
        "customer_email": CUSTOMER,
        "subject": "Dark theme",
        "description": "Please add a dark theme.",
    }
    result = run_dag("support_ticket_created", conf, logical_date=WHEN)
    assert result.state == "failed", result
    queue = requests.get(f"{mock.url}/api/tickets", params={"status": "queued", "unassigned": "true"}, timeout=10)
    (ticket,) = queue.json()["items"]
    assert ticket["customer_email"] == CUSTOMER and [m for m in mock.mail() if m["to"] == [CUSTOMER]] == []

    requests.delete(f"{mock.url}/_mock/faults", timeout=10)
    again = run_dag("support_ticket_created", conf, logical_date=WHEN)
    assert again.state == "success" and again.outputs["answer_or_queue"]["status"] == "queued"
    assert len([m for m in mock.mail() if m["to"] == [CUSTOMER]]) == 1
