"""Flow 4 against the demo data: SLA policies per priority (a response and a resolution clock, a
warning before the breach, the supervisor and a note at it), digests, the escalations table, and a
second run that repeats nothing.

The demo's running tickets (mock_backend/seed.py, ages in hours before the seed) and what the
default policies (wall-clock hours, no business calendar) make of them:

    row  priority  status       created  agent's last response  levels due
    2    normal    assigned     60       50                     response warning (48)
    3    urgent    assigned     70       60                     response and resolution breached (4, 24)
    4    normal    assigned     90       80                     response breached (72)
    5    low       assigned     130      100                    response warning (72; breach at 120)
    7    urgent    queued       3        none                   response warning (2): nobody has it, the admins
    0, 1, 6, 8, 9, 10: within every target; 11, 12 wait on the customer (their clocks pause)
"""

from __future__ import annotations

import json

from support_flows.storage.reporting import ReportingStore

NOTHING = {"reminder": [], "supervisor": []}
ADMINS = ["support-admins@support.example.com"]


def demo(mock) -> list[dict]:
    """The demo tickets in the seed's order (row n of ``seed_demo`` is ``demo(mock)[n]``)."""
    mock.seed()
    return sorted(mock.get("/api/tickets", limit=1000)["items"], key=lambda t: t["id"])


def levels(result) -> set[tuple[int, str]]:
    """(ticket id, level) of every escalation in the DAG's outputs."""
    outputs = result.outputs["record_escalations"]
    return {(ticket_id, level) for level, ids in outputs["escalated"].items() for ticket_id in ids}


def test_each_priority_is_held_to_its_own_targets_and_nothing_is_sent_twice(run_dag, mock, reporting_backend):
    tickets = demo(mock)
    t = [ticket["id"] for ticket in tickets]

    result = run_dag("support_escalate_stale_tickets")
    assert result.state == "success"
    assert levels(result) == {
        (t[2], "reminder"),
        (t[3], "reminder"),
        (t[3], "supervisor"),
        (t[4], "reminder"),
        (t[4], "supervisor"),
        (t[5], "reminder"),
        (t[7], "reminder"),
    }
    rows = ReportingStore().fetch_all("escalations")
    assert {(r["ticket_id"], r["clock"], r["level"]) for r in rows} == {
        (t[2], "response", "reminder"),
        (t[3], "response", "reminder"),
        (t[3], "response", "supervisor"),
        (t[3], "resolution", "reminder"),
        (t[3], "resolution", "supervisor"),
        (t[4], "response", "reminder"),
        (t[4], "response", "supervisor"),
        (t[5], "response", "reminder"),
        (t[7], "response", "reminder"),
    }
    targets = {(r["ticket_id"], r["clock"], r["level"]): r["target_hours"] for r in rows}
    assert targets[(t[2], "response", "reminder")] == 48 and targets[(t[4], "response", "supervisor")] == 72
    assert targets[(t[3], "response", "supervisor")] == 4 and targets[(t[5], "response", "reminder")] == 72

    mails = mock.mail()
    reminders = {m["to"][0]: m for m in mails if m["subject"].startswith("Reminder")}
    # one digest per agent with a warning; the unassigned urgent ticket to the admins
    assert len(reminders) == 4 and {"ada.lovelace@support.example.com", ADMINS[0]} <= set(reminders)
    ada = reminders["ada.lovelace@support.example.com"]
    assert f"#{t[2]}" in ada["body"] and f"#{t[3]}" in ada["body"] and f"#{t[4]}" not in ada["body"]
    assert f"#{t[7]}" in reminders[ADMINS[0]]["body"] and "unassigned" in reminders[ADMINS[0]]["subject"]
    escalations = [m for m in mails if m["subject"].startswith("Escalation")]
    supervisors = {m["to"][0] for m in escalations}
    assert supervisors and supervisors <= {"grace.hopper@support.example.com", "alan.turing@support.example.com"}
    bodies = " ".join(m["body"] for m in escalations)
    assert f"#{t[3]}" in bodies and f"#{t[4]}" in bodies and f"#{t[2]}" not in bodies

    # a note per breached clock, a system note that does not count as activity
    notes = {i: mock.get(f"/api/tickets/{t[i]}/notes")["items"] for i in (2, 3, 4)}
    assert notes[2] == []
    assert sorted("resolution" in n["body"] for n in notes[3]) == [False, True]
    assert [n["author_type"] for n in notes[4]] == ["system"] and "response target" in notes[4][0]["body"]
    assert mock.get(f"/api/tickets/{t[4]}")["last_activity_at"] == tickets[4]["last_activity_at"]

    again = run_dag("support_escalate_stale_tickets")
    assert again.outputs["record_escalations"]["escalated"] == NOTHING
    assert len(mock.mail()) == len(mails)
    assert len(ReportingStore().fetch_all("escalations")) == len(rows)


def test_the_agents_response_restarts_the_response_clock_and_the_customers_message_does_not(run_dag, mock):
    tickets = demo(mock)
    t = [ticket["id"] for ticket in tickets]
    for i in (3, 4, 5):
        mock.post(f"/api/tickets/{t[i]}/notes", {"author": "Ada", "author_type": "agent", "body": "Called them."})
    mock.post(f"/api/tickets/{t[2]}/replies", {"body": "Any news?"})  # the customer chases: clock runs on

    result = run_dag("support_escalate_stale_tickets")
    # row 3's resolution clock (urgent, 70 hours) runs on whatever the agent writes
    assert levels(result) == {(t[2], "reminder"), (t[3], "reminder"), (t[3], "supervisor"), (t[7], "reminder")}
    rows = ReportingStore().fetch_all("escalations")
    assert {(r["ticket_id"], r["clock"]) for r in rows if r["ticket_id"] == t[3]} == {(t[3], "resolution")}


def test_a_ticket_waiting_on_the_customer_is_not_escalated_and_every_open_status_is_covered(run_dag, mock):
    tickets = demo(mock)
    t = [ticket["id"] for ticket in tickets]
    mock.patch(f"/api/tickets/{t[2]}", {"status": "pending"})  # the agent asked the customer something
    mock.patch(f"/api/tickets/{t[7]}", {"status": "new"})  # not even queued yet: still on the clock
    result = run_dag("support_escalate_stale_tickets")
    escalated = {ticket_id for ticket_id, _ in levels(result)}
    assert t[2] not in escalated and t[7] in escalated
    assert mock.get(f"/api/tickets/{t[2]}")["waiting_periods"][-1]["until"] is None


def test_business_hours_count_only_working_time(run_dag, mock, monkeypatch):
    demo(mock)
    # With half a working hour a day, no demo ticket has reached even the urgent warning (2 hours).
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_BUSINESS_DAYS", "Mon-Sun")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_BUSINESS_HOURS", "09:00-09:30")
    result = run_dag("support_escalate_stale_tickets")
    assert result.outputs["record_escalations"]["escalated"] == NOTHING


def test_the_targets_are_settings(run_dag, mock, monkeypatch):
    tickets = demo(mock)
    t = [ticket["id"] for ticket in tickets]
    # normal's response pair is the seed's two settings; sla_policies sets the rest
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_REMINDER_HOURS", "8")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_SUPERVISOR_HOURS", "200")
    monkeypatch.setenv(
        "AIRFLOW_VAR_SUPPORT_SLA_POLICIES",
        json.dumps({"urgent": {"response": [100, 200], "resolution": [100, 200]}, "low": {"response": [500, 600]}}),
    )
    result = run_dag("support_escalate_stale_tickets")
    # normal tickets past 8 hours on the response clock: rows 1 (30), 2 (50), 4 (80); urgent and low none
    assert levels(result) == {(t[1], "reminder"), (t[2], "reminder"), (t[4], "reminder")}


def test_an_urgent_tickets_warning_and_breach_are_noticed_within_15_minutes_of_falling_due(run_dag, mock):
    """support_sla_watch runs every 15 minutes: an urgent ticket queued at T gets its warning (2
    working hours) from the run at T+2h05 and its breach (4 hours) from the run at T+4h05, each once,
    instead of both together at the next morning's run."""
    from datetime import timedelta

    import time_machine

    from support_flows.core import times

    start = times.now()
    ticket = mock.post(
        "/api/tickets",
        {"customer_name": "Ana", "customer_email": "ana@example.org", "subject": "Site down", "description": "500s",
         "priority": "urgent"},
    )  # fmt: skip
    mock.patch(f"/api/tickets/{ticket['id']}", {"status": "queued"})  # in the queue: nobody has it

    def watch_at(minutes: int) -> dict:
        with time_machine.travel(start + timedelta(minutes=minutes), tick=True):
            result = run_dag("support_sla_watch")
        assert result.state == "success", result.task_states
        return result.outputs["record_escalations"]["escalated"]

    def mine(escalated: dict) -> dict:
        return {level: [t for t in ids if t == ticket["id"]] for level, ids in escalated.items()}

    assert mine(watch_at(60)) == {"reminder": [], "supervisor": []}  # an hour in: nothing due
    assert mine(watch_at(125)) == {"reminder": [ticket["id"]], "supervisor": []}  # the warning, on time
    admins = [m for m in mock.mail() if f"#{ticket['id']}" in m["body"]]
    assert len(admins) == 1  # nobody has it: the admins are warned
    assert mine(watch_at(140)) == {"reminder": [], "supervisor": []}  # not twice
    assert mine(watch_at(245)) == {"reminder": [], "supervisor": [ticket["id"]]}  # the breach, on time
    notes = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]
    assert sum("escalat" in n["body"].lower() for n in notes) == 1
    assert len([m for m in mock.mail() if f"#{ticket['id']}" in m["body"]]) == 2
