"""Failures are loud: every failure lands in flow_errors, a failure for good alerts the system
administrators, repeats are folded, and an alert that Graph could not take is not lost."""

from __future__ import annotations

from datetime import timedelta

import requests

from helpers import SEND_MAIL
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


def test_a_folded_failure_followed_by_silence_still_goes_out_within_its_window(run_dag, mock):
    """A failure folded into an alert sent shortly before (say, an AI outage's) is not left for a
    next alert that may never come: the error log's round sends it before the window closes, saying
    how many failures the e-mail stands for, once."""
    import time_machine

    from support_flows.core import times

    mock.seed()
    refuse(mock, "/assign$")
    runs = []
    for _ in range(2):
        ticket = new_ticket(mock)
        runs.append(run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "x"}))
    assert [r["alert_status"] for r in errors()] == ["sent", "folded"] and len(alerts(mock)) == 1
    assert run_dag("support_error_log").outputs["send_pending_alerts"] == 0  # its window is open: not yet
    assert len(alerts(mock)) == 1

    # silence until the window (60 minutes) is about to close: the round that falls inside it sends it
    with time_machine.travel(times.now() + timedelta(minutes=51), tick=True):
        assert run_dag("support_error_log").outputs["send_pending_alerts"] == 1
    first, flushed = alerts(mock)
    assert "1 failure(s) not alerted yet" in flushed["subject"] and "support_ticket_assigned" in flushed["subject"]
    assert runs[1].run_id in flushed["body"] and runs[0].run_id not in flushed["body"]
    assert [r["alert_status"] for r in errors()] == ["sent", "sent"]
    with time_machine.travel(times.now() + timedelta(minutes=61), tick=True):
        assert run_dag("support_error_log").outputs["send_pending_alerts"] == 0
    assert len(alerts(mock)) == 2


def test_an_alert_graph_could_not_take_goes_out_with_the_next_one(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    refuse(mock, "/assign$")
    mock.faults({"path": SEND_MAIL, "status": 503, "times": 10})
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
    mock.faults({"path": SEND_MAIL, "status": 503, "times": 100})
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


def test_a_wrong_sender_mailbox_fails_naming_the_setting_and_the_alert_still_reaches_someone(
    run_dag, mock, monkeypatch
):
    """The mailbox is the one thing every e-mail, alerts included, goes through: a wrong
    sender_mailbox (Graph: 404 ErrorInvalidUser) fails the flow with a sentence naming the setting,
    and the alert goes out through the second channel, the chat webhook, saying why."""
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_SENDER_MAILBOX", "support@wrong-tenant.example.com")
    mock.seed()
    ticket = new_ticket(mock)
    result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert result.state == "failed"
    (row,) = [r for r in errors() if r["is_final"]]
    assert row["task_id"] == "notify_agent" and "(404)" in row["message"]
    assert "correct the setting sender_mailbox" in row["message"]
    assert alerts(mock) == [] and row["alert_status"] == "pending"  # no e-mail could carry it
    (message,) = mock.get("/_mock/webhook")["items"]
    assert "support_ticket_assigned.notify_agent failed" in message["text"] and row["log_url"] in message["text"]
    assert "sender_mailbox" in message["text"] and "wrong-tenant" in message["text"]  # why the mail did not go
    assert "support@wrong" not in message["text"]  # addresses masked


def test_without_the_webhook_connection_the_alert_waits_for_graph_as_before(run_dag, mock, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SUPPORT_ALERT_WEBHOOK")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_SENDER_MAILBOX", "support@wrong-tenant.example.com")
    mock.seed()
    ticket = new_ticket(mock)
    result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert result.state == "failed"
    assert mock.get("/_mock/webhook")["items"] == [] and alerts(mock) == []
    assert [r["alert_status"] for r in errors() if r["is_final"]] == ["pending"]


def test_a_wrong_site_or_plan_fails_the_flow_naming_the_setting_to_fix(run_dag, mock, monkeypatch):
    """Graph answers a site or plan the tenant does not have with 404; the flow's error says which
    setting names it."""
    from datetime import UTC, datetime

    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_SHAREPOINT_SITE_ID", "no-such-site")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_PLANNER_PLAN_ID", "no-such-plan")
    mock.seed()
    summary = run_dag("support_daily_summary", {"report_date": datetime.now(UTC).date().isoformat()})
    assert summary.state == "failed"
    ticket = new_ticket(mock)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 6, "assigned_by": "admin"})
    mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 6, "resolution_summary": "Done."})
    feedback = run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 1})
    assert feedback.state == "failed"
    final = {r["dag_id"]: r["message"] for r in errors() if r["is_final"]}
    assert "no SharePoint site no-such-site; correct the setting sharepoint_site_id" in final["support_daily_summary"]
    assert "no Planner plan no-such-plan; correct the setting planner_plan_id" in final["support_feedback_received"]
