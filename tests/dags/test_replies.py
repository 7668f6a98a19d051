"""A customer's reply reaches a person whatever the ticket's state: driven as in production (the
backend records the reply, the watcher starts the reply flow with the reply's note), observed where
a user would see it (the ticket's status and notes, the agent's e-mail, the new linked ticket)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("quick_watcher")

TICKET = {
    "customer_name": "Maria Garcia",
    "customer_email": "maria@example.org",
    "subject": "Cannot log in",
    "description": "My password stopped working.",
}
WORDS = "It broke again this morning: the reset link says it has expired."


def resolved_ticket(mock, agent_id: int) -> dict:
    ticket = mock.post("/api/tickets", TICKET)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": agent_id, "assigned_by": "admin"})
    return mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": agent_id, "resolution_summary": "Reset."})


def reply_through_the_feed(run_dag, mock, ticket_id: int, key: str = "msg-1") -> dict:
    """The customer's e-mail to the thread, the watcher's run for it, then the reply flow's run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    note = mock.post(f"/api/tickets/{ticket_id}/replies", {"body": WORDS, "key": key})
    assert run_dag("support_backend_events").state == "success"
    with create_session() as session:
        confs = [r.conf for r in session.query(DagRun).filter(DagRun.dag_id == "support_customer_replied")]
    assert {"ticket_id": ticket_id, "note_id": note["id"]} in confs  # the watcher names the reply
    result = run_dag("support_customer_replied", {"ticket_id": ticket_id, "note_id": note["id"]})
    assert result.state == "success", result
    return result.outputs["hand_to_agent"]


def agent_mail(mock, address: str) -> list[dict]:
    return [m for m in mock.mail() if m["to"] == [address]]


def system_notes(mock, ticket_id: int) -> list[str]:
    return [n["body"] for n in mock.get(f"/api/tickets/{ticket_id}/notes")["items"] if n["author_type"] == "system"]


def test_a_reply_to_a_recently_resolved_ticket_reopens_it_to_its_agent_once(run_dag, mock):
    mock.seed()
    ticket = resolved_ticket(mock, agent_id=3)
    agent = mock.get("/api/agents/3")
    before = len(agent_mail(mock, agent["email"]))
    outcome = reply_through_the_feed(run_dag, mock, ticket["id"])
    assert outcome == {
        "ticket_id": ticket["id"],
        "status": "assigned",
        "outcome": "reopened_to_agent",
        "agent_id": 3,
        "agent_notification_status": "sent",
    }
    reopened = mock.get(f"/api/tickets/{ticket['id']}")
    assert reopened["status"] == "assigned" and reopened["agent_id"] == 3
    (mail,) = agent_mail(mock, agent["email"])[before:]
    assert "Reopened" in mail["subject"] and f"#{ticket['id']}" in mail["subject"]
    assert "It broke again this morning" in mail["body"]  # the customer's words reach the agent
    assert [n for n in system_notes(mock, ticket["id"]) if n.startswith("Reopened")] != []

    # the same reply again (a replayed event, a cleared run): nothing twice
    note_id = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"][-1]["id"]
    again = run_dag("support_customer_replied", {"ticket_id": ticket["id"], "note_id": note_id})
    assert again.outputs["hand_to_agent"]["outcome"] == "agent_told"
    assert again.outputs["hand_to_agent"]["agent_notification_status"] in ("sent", "already_sent")
    assert len([n for n in system_notes(mock, ticket["id"]) if n.startswith("Reopened")]) == 1


def test_a_reply_reopens_to_the_queue_when_the_agent_is_away(run_dag, mock):
    mock.seed()
    ticket = resolved_ticket(mock, agent_id=8)  # Ken Thompson: not available
    outcome = reply_through_the_feed(run_dag, mock, ticket["id"])
    assert outcome == {"ticket_id": ticket["id"], "status": "queued", "outcome": "reopened_to_queue"}
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "queued"
    assert any("unassigned queue" in n for n in system_notes(mock, ticket["id"]))


def test_a_reply_after_the_reopen_window_opens_a_new_ticket_linked_both_ways(run_dag, mock, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_REOPEN_DAYS", "0")  # every resolution is past the window
    mock.seed()
    ticket = resolved_ticket(mock, agent_id=3)
    outcome = reply_through_the_feed(run_dag, mock, ticket["id"])
    assert outcome["outcome"] == "new_ticket" and outcome["status"] == "resolved"
    new = mock.get(f"/api/tickets/{outcome['new_ticket_id']}")
    assert new["status"] == "queued" and new["subject"] == f"Re: {TICKET['subject']}"
    assert new["customer_email"] == TICKET["customer_email"] and new["description"] == WORDS
    assert any(f"#{new['id']}" in n for n in system_notes(mock, ticket["id"]))
    assert any(f"#{ticket['id']}" in n for n in system_notes(mock, new["id"]))
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "resolved"
    # a rerun makes no second ticket
    note_id = [n for n in mock.get(f"/api/tickets/{ticket['id']}/notes")["items"] if n["author_type"] == "customer"]
    again = run_dag("support_customer_replied", {"ticket_id": ticket["id"], "note_id": note_id[-1]["id"]})
    assert again.outputs["hand_to_agent"]["new_ticket_id"] == new["id"]


def test_a_reply_to_a_ticket_with_its_agent_tells_the_agent(run_dag, mock):
    mock.seed()
    ticket = mock.post("/api/tickets", TICKET)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 4, "assigned_by": "admin"})
    agent = mock.get("/api/agents/4")
    before = len(agent_mail(mock, agent["email"]))
    outcome = reply_through_the_feed(run_dag, mock, ticket["id"])
    assert outcome["outcome"] == "agent_told" and outcome["agent_notification_status"] == "sent"
    (mail,) = agent_mail(mock, agent["email"])[before:]
    assert "The customer replied" in mail["subject"] and "It broke again" in mail["body"]
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "assigned"


def test_a_reply_to_a_ticket_pending_on_the_customer_gives_it_back_to_the_agent(run_dag, mock):
    mock.seed()
    ticket = mock.post("/api/tickets", TICKET)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 4, "assigned_by": "admin"})
    mock.patch(f"/api/tickets/{ticket['id']}", {"status": "pending"})  # the agent asked something
    outcome = reply_through_the_feed(run_dag, mock, ticket["id"])
    assert outcome["outcome"] == "agent_told" and outcome["status"] == "assigned"
    after = mock.get(f"/api/tickets/{ticket['id']}")
    # the SLA clocks run again; the pause is on record
    assert after["status"] == "assigned" and after["waiting_periods"][-1]["until"] is not None


def test_reopens_count_per_agent_and_ticket_in_the_reporting_tables(run_dag, mock):

    from support_flows.storage.reporting import ReportingStore

    mock.seed()
    ticket = resolved_ticket(mock, agent_id=3)
    assert reply_through_the_feed(run_dag, mock, ticket["id"])["outcome"] == "reopened_to_agent"
    day = mock.get(f"/api/tickets/{ticket['id']}")["updated_at"][:10]  # the reopen's day (UTC, the default zone)
    result = run_dag("support_analytics_load", {"load_date": day})
    assert result.state == "success"
    store = ReportingStore()
    (fact,) = [r for r in store.fetch_all("ticket_facts") if r["ticket_id"] == ticket["id"]]
    assert fact["reopen_count"] == 1 and fact["first_response_at"] is not None
    agent_days = {(r["agent_id"], r["day"].isoformat()): r for r in store.fetch_all("agent_daily_performance")}
    assert agent_days[(3, day)]["reopened"] == 1
    assert all(r["reopened"] == 0 for (agent, d), r in agent_days.items() if d == day and agent != 3)
