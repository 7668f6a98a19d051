"""No outage strands a ticket (issue 33): a fault at any step of Flow 1 that outlasts the retries ends
with the ticket in a state someone works on, the customer e-mailed once, and the administrators
alerted. An AI that fails in any way is "no AI answer" (the seed's own branch); a Support API that
fails after the ticket exists leaves it to auto-assignment's sweep, which finishes Flow 1's work once
the API answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from support_flows.storage.reporting import ReportingStore

ADMIN = "sysadmin@support.example.com"
TICKET = {
    "customer_name": "Ines",
    "customer_email": "ines@example.org",
    "subject": "Cannot log in",  # the mock's AI has a confident answer for this one
    "description": "My password stopped working.",
    "request_id": "stranded-1",
}


def to_customer(mock) -> list[dict]:
    return [m for m in mock.mail() if m["to"] == [TICKET["customer_email"]]]


def alerts(mock) -> list[dict]:
    return [m for m in mock.mail() if m["to"] == [ADMIN]]


def the_ticket(mock) -> dict:
    (ticket,) = [
        t for t in mock.get("/api/tickets", limit=1000)["items"] if t["customer_email"] == TICKET["customer_email"]
    ]
    return ticket


AI_FAULTS = {
    "down (503 on every call)": {"status": 503},
    "refuses (500)": {"status": 500},
    "answers garbage": {"status": 200, "body": "<html>gateway</html>"},
    "answers the wrong shape": {"status": 200, "body": '{"answer": 42, "confidence": "high"}'},
}


@pytest.mark.parametrize("fault", AI_FAULTS, ids=list(AI_FAULTS))
def test_any_ai_failure_means_no_ai_answer_queued_acknowledged_and_alerted(run_dag, mock, fault):
    mock.faults({"path": r"/ai-response$", "method": "POST", "times": 1000, **AI_FAULTS[fault]})
    result = run_dag("support_ticket_created", TICKET)
    assert result.state == "success"
    ticket = the_ticket(mock)
    assert result.outputs["answer_or_queue"] == {
        "ticket_id": ticket["id"],
        "status": "queued",
        "customer_notified": True,
    }
    assert ticket["status"] == "queued" and ticket["ai_response"] is None
    (mail,) = to_customer(mock)
    assert "We received your request" in mail["subject"]
    notes = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]
    assert any("The AI could not be asked" in n["body"] for n in notes)
    (row,) = [r for r in ReportingStore().fetch_all("flow_errors") if r["error_type"] == "AIUnavailable"]
    assert row["is_final"] and row["alert_status"] == "sent" and f"ticket {ticket['id']}" in row["message"]
    (alert,) = alerts(mock)
    assert "AIUnavailable" in alert["subject"] and "ines@example.org" not in alert["body"]
    # the same request again (a retried trigger) changes nothing: no second e-mail, no second note
    assert run_dag("support_ticket_created", TICKET).outputs["answer_or_queue"]["ticket_id"] == ticket["id"]
    assert len(to_customer(mock)) == 1
    notes = mock.get(f"/api/tickets/{the_ticket(mock)['id']}/notes")["items"]
    assert sum("The AI could not be asked" in n["body"] for n in notes) == 1


def test_an_api_outage_after_the_ticket_exists_is_finished_by_the_sweep(run_dag, mock, quick_retries):
    """The Support API takes the ticket, then refuses every update: Flow 1 fails for good (alerted),
    the ticket stays new. Once the API answers, auto-assignment's sweep gives it what Flow 1 would
    have: queued (here assigned too, in the same run), the customer e-mailed once."""
    import time_machine

    from support_flows.core import times

    mock.seed()
    mock.faults({"path": r"^/api/tickets/[0-9]+$", "method": "PATCH", "status": 503, "times": 1000})
    mock.faults({"path": r"/ai-response$", "method": "POST", "status": 503, "times": 1000})
    failed = run_dag("support_ticket_created", TICKET)
    assert failed.state == "failed"
    assert the_ticket(mock)["status"] == "new"
    assert any("support_ticket_created.answer_or_queue failed" in a["subject"] for a in alerts(mock))

    assert run_dag("support_auto_assign").outputs["resume_stranded_tickets"] == []  # too soon: not touched
    requests.delete(f"{mock.url}/_mock/faults", timeout=10)
    with time_machine.travel(times.now() + timedelta(minutes=31), tick=True):
        swept = run_dag("support_auto_assign")
    assert swept.state == "success", swept.task_states
    ticket = the_ticket(mock)
    assert swept.outputs["resume_stranded_tickets"] == [ticket["id"]]
    assert ticket["status"] in ("ai_responded", "queued", "assigned")
    assert len(to_customer(mock)) == 1  # its answer or its acknowledgement, once
    with time_machine.travel(times.now() + timedelta(minutes=62), tick=True):
        assert run_dag("support_auto_assign").outputs["resume_stranded_tickets"] == []
    assert len(to_customer(mock)) == 1
