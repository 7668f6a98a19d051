"""Flow 4 against the demo data: tickets idle past 48 and 72 hours, digests, notes, the
escalations table, and a second run that repeats nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from support_flows.storage.reporting import ReportingStore

NOTHING = {"reminder": [], "supervisor": []}


def pairs(outputs: dict) -> set[tuple[int, str]]:
    """(ticket id, level) of every escalation in the DAG's outputs."""
    return {(ticket_id, level) for level, ids in outputs["escalated"].items() for ticket_id in ids}


def idle_hours(ticket: dict, now: datetime) -> float:
    last = datetime.fromisoformat(ticket["last_activity_at"].replace("Z", "+00:00"))
    return (now - last).total_seconds() / 3600


def test_escalation_reminds_agents_tells_supervisors_and_records_levels(run_dag, mock, reporting_backend):
    mock.seed()
    now = datetime.now(UTC)
    assigned = mock.get("/api/tickets", status="assigned", limit=1000)["items"]
    over_48 = {t["id"] for t in assigned if idle_hours(t, now) >= 48}
    over_72 = {t["id"] for t in assigned if idle_hours(t, now) >= 72}
    assert over_72 and over_48 - over_72  # the demo data has both kinds

    result = run_dag("support_escalate_stale_tickets")
    assert result.state == "success"
    outputs = result.outputs["record_escalations"]
    escalated = pairs(outputs)
    assert escalated == {(t, "reminder") for t in over_48} | {(t, "supervisor") for t in over_72}

    mails = mock.mail()
    reminders = [m for m in mails if m["subject"].startswith("Reminder")]
    escalations = [m for m in mails if m["subject"].startswith("Escalation")]
    agents_with_stale = {t["agent_id"] for t in assigned if t["id"] in over_48}
    assert len(reminders) == len(agents_with_stale)  # one digest per agent
    ada = next(m for m in reminders if m["to"] == ["ada.lovelace@support.example.com"])
    ada_tickets = [t["id"] for t in assigned if t["agent_id"] == 3 and t["id"] in over_48]
    assert len(ada_tickets) >= 2 and all(f"#{tid}" in ada["body"] for tid in ada_tickets)
    supervisors = {m["to"][0] for m in escalations}
    assert supervisors <= {"grace.hopper@support.example.com", "alan.turing@support.example.com"} and supervisors

    for ticket_id in over_72:
        notes = mock.get(f"/api/tickets/{ticket_id}/notes")["items"]
        assert [n["author_type"] for n in notes] == ["system"] and "Escalated" in notes[0]["body"]
        ticket = mock.get(f"/api/tickets/{ticket_id}")
        assert ticket["last_activity_at"] == next(t for t in assigned if t["id"] == ticket_id)["last_activity_at"]

    rows = ReportingStore().fetch_all("escalations")
    assert {(r["ticket_id"], r["level"]) for r in rows} == escalated

    again = run_dag("support_escalate_stale_tickets")
    assert again.outputs["record_escalations"]["escalated"] == NOTHING
    assert len(mock.mail()) == len(mails)
    assert len(ReportingStore().fetch_all("escalations")) == len(rows)


def test_a_ticket_with_new_activity_is_no_longer_escalated(run_dag, mock):
    mock.seed()
    now = datetime.now(UTC)
    stale = [t for t in mock.get("/api/tickets", status="assigned", limit=1000)["items"] if idle_hours(t, now) >= 48]
    for ticket in stale:
        mock.post(
            f"/api/tickets/{ticket['id']}/notes",
            {"author": "Ada", "author_type": "agent", "body": "Called the customer."},
        )
    result = run_dag("support_escalate_stale_tickets")
    assert result.outputs["record_escalations"]["escalated"] == NOTHING
    assert mock.mail() == []


def test_business_hours_count_only_working_time(run_dag, mock, monkeypatch):
    mock.seed()
    # With only one working hour a day, no demo ticket has been idle 48 working hours.
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_BUSINESS_DAYS", "Mon-Sun")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_BUSINESS_HOURS", "09:00-10:00")
    result = run_dag("support_escalate_stale_tickets")
    assert result.outputs["record_escalations"]["escalated"] == NOTHING


def test_thresholds_are_settings(run_dag, mock, monkeypatch):
    mock.seed()
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_REMINDER_HOURS", "8")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_SUPERVISOR_HOURS", "200")
    now = datetime.now(UTC)
    expected = {
        t["id"] for t in mock.get("/api/tickets", status="assigned", limit=1000)["items"] if idle_hours(t, now) >= 8
    }
    result = run_dag("support_escalate_stale_tickets")
    assert {t for t, _ in pairs(result.outputs["record_escalations"])} == expected
    assert {level for _, level in pairs(result.outputs["record_escalations"])} == {"reminder"}
