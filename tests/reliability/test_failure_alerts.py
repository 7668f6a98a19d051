"""Failures are loud: every failure lands in flow_errors, a failure for good alerts the system
administrators, repeats are folded, and an alert that Graph could not take is not lost."""

from __future__ import annotations

import requests

from support_flows.storage.reporting import ReportingStore

ADMIN = "sysadmin@support.example.com"


def alerts(mock) -> list[dict]:
    return [m for m in mock.mail() if m["to"] == [ADMIN]]


def errors() -> list[dict]:
    return sorted(ReportingStore().fetch_all("flow_errors"), key=lambda r: r["occurred_at"])


def refuse(mock, path: str) -> None:
    """The Support API refuses our request for good (a 400 for a request the Params had checked:
    our side is wrong, unlike an unknown id, which is the caller's and pages nobody)."""
    mock.faults({"path": path, "status": 400, "times": 100})


def new_ticket(mock) -> dict:
    return mock.post(
        "/api/tickets", {"customer_name": "A", "customer_email": "a@example.org", "subject": "s", "description": "d"}
    )


def test_a_failure_for_good_is_logged_and_alerted_with_everything_needed(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    refuse(mock, "/assign$")
    result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert result.state == "failed"
    (row,) = errors()
    assert row["dag_id"] == "support_ticket_assigned" and row["task_id"] == "assign_ticket"
    assert row["run_id"] == result.run_id and row["try_number"] == 1 and row["is_final"]
    assert row["error_type"] == "SupportApiRequestError" and "injected fault: 400" in row["message"]
    assert row["alert_status"] == "sent"
    (mail,) = alerts(mock)
    assert "support_ticket_assigned.assign_ticket failed" in mail["subject"]
    for needle in ("support_ticket_assigned", "assign_ticket", result.run_id, "injected fault: 400", "?try_number=1"):
        assert needle in mail["body"], needle
    assert row["log_url"] in mail["body"].replace("&amp;", "&")


def test_repeated_failures_of_a_task_are_folded_into_one_alert(run_dag, mock):
    mock.seed()
    refuse(mock, "/assign$")
    for _ in range(3):
        ticket = new_ticket(mock)
        run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert len(alerts(mock)) == 1
    assert [r["alert_status"] for r in errors()] == ["sent", "folded", "folded"]


def test_an_alert_graph_could_not_take_goes_out_with_the_next_one(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    refuse(mock, "/assign$")
    mock.faults({"path": "sendMail", "status": 503, "times": 10})
    run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert errors()[0]["alert_status"] == "pending" and alerts(mock) == []
    requests.delete(f"{mock.url}/_mock/faults", timeout=10)
    refuse(mock, "/resolve$")
    run_dag("support_ticket_resolved", {"ticket_id": ticket["id"], "agent_id": 3, "resolution_summary": "x"})
    (mail,) = alerts(mock)
    assert "support_ticket_resolved.resolve_ticket failed" in mail["subject"] and "(+1 more)" in mail["subject"]
    assert "support_ticket_assigned / assign_ticket" in mail["body"]
    assert {r["alert_status"] for r in errors()} == {"sent"}


def test_a_retried_failure_is_logged_but_not_alerted(run_dag, mock, quick_retries):
    mock.seed()
    # Three 503s use up the client's three attempts: the task's first try fails, its retry succeeds.
    mock.faults({"path": "^/api/tickets$", "method": "POST", "status": 503, "times": 3})
    result = run_dag(
        "support_ticket_created",
        {"customer_name": "A", "customer_email": "a@example.org", "subject": "Dark mode", "description": "please"},
    )
    assert result.state == "success"
    (row,) = errors()
    assert row["task_id"] == "answer_or_queue" and row["try_number"] == 1 and not row["is_final"]
    assert row["error_type"] == "SupportApiError" and row["alert_status"] is None
    assert alerts(mock) == []
    assert [t["subject"] for t in mock.get("/api/tickets", limit=1000)["items"]].count("Dark mode") == 1


def test_an_alert_graph_could_not_take_goes_out_once_graph_is_back_without_another_failure(run_dag, mock):
    """support_error_log's round (every 10 minutes): while Graph is down the alert stays pending and
    the round succeeds; once Graph answers, the next round sends it, once."""
    mock.seed()
    ticket = new_ticket(mock)
    refuse(mock, "/assign$")
    mock.faults({"path": "sendMail", "status": 503, "times": 100})
    run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert errors()[0]["alert_status"] == "pending"

    still_down = run_dag("support_error_log")
    assert still_down.state == "success" and still_down.outputs["send_pending_alerts"] == 0
    assert alerts(mock) == [] and errors()[0]["alert_status"] == "pending"

    requests.delete(f"{mock.url}/_mock/faults", timeout=10)
    back = run_dag("support_error_log")
    assert back.outputs["send_pending_alerts"] == 1
    (mail,) = alerts(mock)
    assert "held back while Graph was unavailable" in mail["subject"] and "support_ticket_assigned" in mail["subject"]
    assert ticket and "assign_ticket" in mail["body"]
    assert {r["alert_status"] for r in errors()} == {"sent"}
    assert run_dag("support_error_log").outputs["send_pending_alerts"] == 0
    assert len(alerts(mock)) == 1


def test_new_errors_publish_the_flow_errors_asset_once(run_dag, mock):
    mock.seed()
    quiet = run_dag("support_error_log")
    assert quiet.task_states["publish_new_errors"] == "skipped"  # nothing new: no Asset event
    refuse(mock, "/assign$")
    for _ in range(2):
        ticket = new_ticket(mock)
        run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    published = run_dag("support_error_log")
    assert published.task_states["publish_new_errors"] == "success" and published.outputs["publish_new_errors"] == 2
    assert run_dag("support_error_log").task_states["publish_new_errors"] == "skipped"
