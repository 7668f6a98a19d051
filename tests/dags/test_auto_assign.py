"""Scheduled Flow 2: the queue goes to the agents with the most spare capacity, never past it."""

from __future__ import annotations

import requests

NEW = {
    "customer_name": "Maria Garcia",
    "customer_email": "maria@example.org",
    "subject": "Cannot log in",
    "description": "My password stopped working.",
}


def test_queue_is_assigned_by_spare_capacity_urgent_first(run_dag, mock):
    mock.seed()
    agents_before = {a["id"]: a for a in mock.get("/api/agents", role="agent")["items"]}
    queue = mock.get("/api/tickets", status="queued", unassigned="true", sort="urgency")["items"]
    assert len(queue) == 4

    result = run_dag("support_auto_assign")
    assert result.state == "success", result
    outputs = result.outputs["report"]
    assert outputs["count"] == 4
    assigned = {a["ticket_id"]: a["agent_id"] for a in outputs["assigned"]}
    assert set(assigned) == {t["id"] for t in queue}

    # Each ticket went to an agent with its topic's skill who speaks its language (routing), the most
    # urgent (a technical one) to the one of them with the most spare capacity (Ada: 8 - 3, Donald: 4 - 1).
    assert queue[0]["topic"] == "technical" and assigned[queue[0]["id"]] == 3
    assert {a["routing_match"] for a in outputs["assigned"]} == {"skill_and_language"}
    for agent_id, agent in {a["id"]: a for a in mock.get("/api/agents", role="agent")["items"]}.items():
        assert agent["workload"] <= agent["capacity"], agent
        if not agents_before[agent_id]["available"]:
            assert agent["workload"] == agents_before[agent_id]["workload"]  # Ken is unavailable

    for ticket_id, agent_id in assigned.items():
        ticket = mock.get(f"/api/tickets/{ticket_id}")
        assert ticket["status"] == "assigned" and ticket["agent_id"] == agent_id
        assert ticket["assigned_by"] == "auto-assign (workload)"
    assert len(mock.mail()) == 4 and len(mock.get("/_mock/events")["items"]) == 4

    again = run_dag("support_auto_assign")
    assert again.outputs["report"]["count"] == 0 and len(mock.mail()) == 4


def test_ties_are_shared_out_fairly(run_dag, mock):
    mock.seed()
    for n in range(6):
        ticket = mock.post(
            "/api/tickets",
            {
                "customer_name": "C",
                "customer_email": f"c{n}@example.org",
                "subject": "Question",
                "description": "?",
                "priority": "normal",
            },
        )
        requests.patch(f"{mock.url}/api/tickets/{ticket['id']}", json={"status": "queued"}, timeout=10)
    result = run_dag("support_auto_assign")
    per_agent: dict[int, int] = {}
    for item in result.outputs["report"]["assigned"]:
        per_agent[item["agent_id"]] = per_agent.get(item["agent_id"], 0) + 1
    # 10 tickets over agents with 5, 5, 9, 3 and 7 spare: Barbara (9) and Margaret (7) take the
    # first ones until the spares even out; nobody gets more than their spare capacity.
    spare = {3: 5, 4: 5, 5: 9, 6: 3, 7: 7}
    assert sum(per_agent.values()) == 10
    assert all(per_agent[a] <= spare[a] for a in per_agent)
    assert max(spare[a] - per_agent.get(a, 0) for a in spare) - min(spare[a] - per_agent.get(a, 0) for a in spare) <= 1


def test_nobody_is_assigned_past_capacity(run_dag, mock):
    mock.seed(tickets=300)  # most agents' workloads are already at or past their caps
    before = {a["id"]: a for a in mock.get("/api/agents", role="agent", available="true")["items"]}
    room = sum(max(a["capacity"] - a["workload"], 0) for a in before.values())
    queued = len(mock.get("/api/tickets", status="queued", unassigned="true", limit=1000)["items"])
    result = run_dag("support_auto_assign")
    assert result.state == "success" and result.outputs["report"]["count"] == min(room, queued)
    after = {a["id"]: a for a in mock.get("/api/agents", role="agent", available="true")["items"]}
    for agent_id, agent in before.items():
        if agent["workload"] >= agent["capacity"]:
            assert after[agent_id]["workload"] == agent["workload"], agent  # full: nothing more
        else:
            assert after[agent_id]["workload"] <= agent["capacity"], agent


def test_the_reminder_leaves_once_the_agent_responds_and_stays_until_then(run_dag, mock):
    """The seed's reminder is for an agent who has not responded: a note by the agent, or work
    started, withdraws it at the next sweep; a customer's message or a system note does not."""
    mock.seed()
    tickets = [mock.post("/api/tickets", {**NEW, "subject": f"Reminder {n}"}) for n in range(4)]
    for ticket in tickets:
        run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})

    def in_calendar() -> set[int]:
        subjects = [e["subject"] for e in mock.get("/_mock/events")["items"]]
        return {t["id"] for t in tickets if any(f"#{t['id']}" in s for s in subjects)}

    assert in_calendar() == {t["id"] for t in tickets}
    answered, started, waiting, chased = tickets
    mock.post(f"/api/tickets/{answered['id']}/notes", {"author": "Edsger", "author_type": "agent", "body": "On it."})
    mock.patch(f"/api/tickets/{started['id']}", {"status": "in_progress"})
    mock.post(f"/api/tickets/{waiting['id']}/notes", {"author": "support-flows", "author_type": "system", "body": "x"})
    mock.post(f"/api/tickets/{chased['id']}/replies", {"body": "Any news?"})

    result = run_dag("support_auto_assign")
    assert result.state == "success", result
    swept = result.outputs["withdraw_answered_reminders"]
    assert {w["ticket_id"]: w["reminder"] for w in swept["withdrawn"]} == {
        answered["id"]: "removed",
        started["id"]: "removed",
    }
    assert in_calendar() == {waiting["id"], chased["id"]}
    again = run_dag("support_auto_assign")  # the next sweep: nothing twice (the seed's queue got reminders too)
    assert again.outputs["withdraw_answered_reminders"]["withdrawn"] == []
    assert in_calendar() == {waiting["id"], chased["id"]}


# --- working hours (the desk's business_days and business_hours) --------------------------------------

FRIDAY_3PM = "2026-12-04T15:00:00+00:00"  # a Friday


def desk_hours(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_BUSINESS_DAYS", "Mon-Fri")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_BUSINESS_HOURS", "09:00-17:00")


def test_a_reminder_that_would_fall_outside_working_hours_falls_at_the_next_working_hour(run_dag, mock, monkeypatch):
    """Assigned on a Friday at 15:00: 24 hours later is Saturday 15:00; the reminder comes on Monday
    at 09:00, when the agent is at work, and the agent's e-mail says so."""
    from datetime import datetime

    import time_machine

    desk_hours(monkeypatch)
    mock.seed()
    with time_machine.travel(datetime.fromisoformat(FRIDAY_3PM), tick=True):
        ticket = mock.post("/api/tickets", NEW)
        result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    assert result.state == "success", result.task_states
    (event,) = [e for e in mock.get("/_mock/events")["items"] if f"#{ticket['id']} " in e["subject"]]
    assert event["start"]["dateTime"].startswith("2026-12-07T09:00") and event["start"]["timeZone"] == "UTC"
    (mail,) = [m for m in mock.mail() if f"#{ticket['id']}" in m["subject"]]
    assert "2026-12-07 09:00 UTC" in mail["body"]


def test_auto_assignment_gives_tickets_only_within_the_desks_working_hours(run_dag, mock, monkeypatch):
    from datetime import datetime

    import time_machine

    desk_hours(monkeypatch)
    mock.seed()
    queued = len(mock.get("/api/tickets", status="queued", unassigned="true")["items"])
    for closed in ("2026-12-05T10:00:00+00:00", "2026-12-04T20:30:00+00:00"):  # a Saturday; a Friday evening
        with time_machine.travel(datetime.fromisoformat(closed), tick=True):
            assert run_dag("support_auto_assign").outputs["report"]["count"] == 0, closed
    assert len(mock.get("/api/tickets", status="queued", unassigned="true")["items"]) == queued
    with time_machine.travel(datetime.fromisoformat("2026-12-07T09:30:00+00:00"), tick=True):  # Monday morning
        assert run_dag("support_auto_assign").outputs["report"]["count"] == queued
