"""Flows 1, 2, 3 and 6 through dag.test() against the mock: what the customer, the agent, the
supervisor and the analytics team would see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mock_backend.graph import directory_id
from support_flows.storage.reporting import ReportingStore

PASSWORD_TICKET = {
    "customer_name": "Maria <b>Garcia</b>",
    "customer_email": "maria@example.org",
    "subject": "Cannot log in",
    "description": "My password stopped working.\n<script>alert('x')</script>",
}
UNKNOWN_TOPIC = {**PASSWORD_TICKET, "subject": "Dark mode", "description": "Please add a dark theme & more."}


def customer_mail(mock) -> list[dict]:
    """Mail to anyone but the system administrators (who get failure alerts)."""
    return [m for m in mock.mail() if m["to"] != ["sysadmin@support.example.com"]]


def mail_item(mock) -> str:
    """The id of the one draft the flow made (the send request's path names it)."""
    import re

    (path,) = [r["path"] for r in mock.get("/_mock/requests")["items"] if r["path"].endswith("/send")]
    return re.search(r"/messages/([^/]+)/send$", path).group(1)


def tickets(mock) -> list[dict]:
    return mock.get("/api/tickets", limit=1000)["items"]


# --- Flow 1 -----------------------------------------------------------------------------------------


def test_new_ticket_with_an_ai_answer_is_answered_by_email(run_dag, mock):
    result = run_dag("support_ticket_created", {**PASSWORD_TICKET, "priority": "high"})
    assert result.state == "success"
    # what the backend and Graph were asked, once each: the created ticket is not fetched again
    asked = [f"{r['method']} {r['path']}" for r in mock.get("/_mock/requests")["items"] if "/token" not in r["path"]]
    number = result.outputs["answer_or_queue"]["ticket_id"]
    assert asked == [
        "POST /api/tickets",
        f"POST /api/tickets/{number}/ai-response",
        f"POST /api/tickets/{number}/answer-links",  # "this solved my problem" / "I still need help"
        # the answer counts once it went out: a draft with its own message id, then send (core.mailer)
        "POST /graph/v1.0/users/support@support.example.com/messages",
        f"POST /graph/v1.0/users/support@support.example.com/messages/{mail_item(mock)}/send",
        f"PATCH /api/tickets/{number}",
    ]
    outputs = result.outputs["answer_or_queue"]
    assert outputs["status"] == "ai_responded"
    (ticket,) = tickets(mock)
    assert outputs["ticket_id"] == ticket["id"]
    assert ticket["status"] == "ai_responded" and "reset your password" in ticket["ai_response"]
    assert ticket["priority"] == "high" and ticket["channel"] == "powerapps"
    (mail,) = mock.mail()
    assert mail["to"] == ["maria@example.org"] and mail["from"] == "support@support.example.com"
    assert mail["subject"] == f"[Ticket #{ticket['id']}] Cannot log in"
    assert "reset your password" in mail["body"]
    assert "Maria &lt;b&gt;Garcia&lt;/b&gt;" in mail["body"] and "<b>Garcia" not in mail["body"]


def test_new_ticket_without_an_answer_is_acknowledged_and_queued(run_dag, mock):
    result = run_dag("support_ticket_created", UNKNOWN_TOPIC)
    outputs = result.outputs["answer_or_queue"]
    (ticket,) = tickets(mock)
    assert outputs == {"ticket_id": ticket["id"], "status": "queued", "customer_notified": True}
    assert ticket["status"] == "queued" and ticket["agent_id"] is None and ticket["ai_response"] is None
    queue = mock.get("/api/tickets", status="queued", unassigned="true")["items"]
    assert [t["id"] for t in queue] == [ticket["id"]]
    (mail,) = mock.mail()
    assert "We received your request" in mail["subject"] and "dark theme &amp; more" not in mail["body"]


def test_low_confidence_answers_are_not_sent(run_dag, mock, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_AI_CONFIDENCE_THRESHOLD", "0.95")
    outputs = run_dag("support_ticket_created", PASSWORD_TICKET).outputs["answer_or_queue"]
    assert outputs["status"] == "queued"
    assert "We received your request" in mock.mail()[0]["subject"]


@pytest.mark.parametrize(
    "change",
    [
        {"customer_email": "support@support.example.com"},
        {"subject": "Automatic reply: Cannot log in"},
        {"customer_email": "mailer-daemon@example.org"},
    ],
)
def test_no_automatic_email_answers_our_own_mailbox_or_an_automatic_reply(run_dag, mock, change):
    outputs = run_dag("support_ticket_created", {**PASSWORD_TICKET, **change}).outputs["answer_or_queue"]
    assert outputs["status"] == "queued" and outputs["customer_notified"] is False and outputs["no_reply_reason"]
    assert mock.mail() == []


def test_one_address_gets_at_most_its_hourly_cap_of_emails_and_every_ticket_is_still_queued(run_dag, mock):
    """The public form (or a leaked key) cannot make the support mailbox a relay to a stranger."""
    # one inbox, however the address is written: its case and a +tag do not make another person
    spellings = ["maria@example.org", "Maria@Example.org", "maria+1@example.org", "MARIA+relay@example.org"]
    outcomes = [
        run_dag(
            "support_ticket_created",
            {
                **(PASSWORD_TICKET if n % 2 else UNKNOWN_TOPIC),
                "customer_email": spellings[n % len(spellings)] if n else "maria@example.org",
                "request_id": f"relay-{n}",
            },
        )
        for n in range(7)
    ]
    sent = [
        m
        for m in customer_mail(mock)
        if m["to"][0].lower().replace("+1", "").replace("+relay", "") == "maria@example.org"
    ]
    assert len(sent) == 5  # the setting's default
    outputs = [o.outputs["answer_or_queue"] for o in outcomes]
    assert all(o.state == "success" for o in outcomes)
    capped = outputs[5:]
    assert all(o["status"] == "queued" and o["customer_notified"] is False for o in capped)
    assert all("customer_emails_per_hour is 5" in o["no_reply_reason"] for o in capped)
    by_id = {t["id"]: t for t in tickets(mock)}
    assert len(by_id) == 7 and all(by_id[o["ticket_id"]]["status"] == "queued" for o in capped)
    logged = [e for e in ReportingStore().fetch_all("flow_errors") if e["error_type"] == "CustomerEmailCap"]
    assert sorted(e["message"].split(":")[0] for e in logged) == sorted(f"ticket {o['ticket_id']}" for o in capped)
    assert not any("maria" in e["message"] for e in logged)

    # a rerun of a ticket that got its e-mail is not over its own cap, and sends nothing twice
    again = run_dag("support_ticket_created", {**UNKNOWN_TOPIC, "request_id": "relay-0"})
    assert again.outputs["answer_or_queue"]["customer_notified"] is True
    assert len(customer_mail(mock)) == 5


def test_a_callers_runs_get_at_most_its_daily_ceiling_of_customer_emails_and_the_admins_are_told(
    run_dag, mock, monkeypatch
):
    """A leaked key mailing strangers (a new address each time, so no hourly cap holds) is held at
    the caller's daily ceiling: every ticket is still queued, the administrators get one alert."""
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_CUSTOMER_EMAILS_PER_CALLER_PER_DAY", "3")
    outcomes = [
        run_dag(
            "support_ticket_created",
            {**UNKNOWN_TOPIC, "customer_email": f"stranger-{n}@example.net", "request_id": f"leak-{n}"},
        ).outputs["answer_or_queue"]
        for n in range(5)
    ]
    assert len([m for m in customer_mail(mock) if m["to"][0].startswith("stranger-")]) == 3
    held = outcomes[3:]
    assert all(o["status"] == "queued" and o["customer_notified"] is False for o in held)
    assert all("customer_emails_per_caller_per_day is 3" in o["no_reply_reason"] for o in held)
    rows = [e for e in ReportingStore().fetch_all("flow_errors") if e["error_type"] == "CallerEmailCeiling"]
    assert len(rows) == 2 and all(r["is_final"] for r in rows) and not any("stranger" in r["message"] for r in rows)
    assert sorted(r["alert_status"] for r in rows) == ["folded", "sent"]
    (alert,) = [m for m in mock.mail() if m["to"] == ["sysadmin@support.example.com"]]
    assert "CallerEmailCeiling" in alert["subject"] and "dag_test" in alert["body"]


def test_the_same_request_id_yields_the_same_ticket_and_one_email(run_dag, mock):
    first = run_dag("support_ticket_created", {**PASSWORD_TICKET, "request_id": "pa-42"}).outputs["answer_or_queue"]
    again = run_dag("support_ticket_created", {**PASSWORD_TICKET, "request_id": "pa-42"}).outputs["answer_or_queue"]
    assert first["ticket_id"] == again["ticket_id"] and len(tickets(mock)) == 1
    assert len(mock.mail()) == 1


def test_rerunning_the_whole_run_creates_nothing_twice(run_dag, mock):
    when = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    first = run_dag("support_ticket_created", UNKNOWN_TOPIC, logical_date=when)
    again = run_dag("support_ticket_created", UNKNOWN_TOPIC, logical_date=when)
    assert first.run_id == again.run_id and again.state == "success"
    assert len(tickets(mock)) == 1 and len(mock.mail()) == 1


def test_unknown_conf_field_fails_the_first_step_naming_it(run_dag, mock, capfd):
    result = run_dag("support_ticket_created", {**PASSWORD_TICKET, "custmer_email": "x@example.org"})
    assert result.state == "failed" and result.task_states["answer_or_queue"] == "failed"
    assert "conf.custmer_email: unknown field for support_ticket_created" in capfd.readouterr().out
    assert tickets(mock) == [] and customer_mail(mock) == []
    (alert,) = mock.mail()  # the failure alert to the system administrators
    assert alert["to"] == ["sysadmin@support.example.com"] and "answer_or_queue failed" in alert["subject"]


# --- Flow 2 -----------------------------------------------------------------------------------------


def new_ticket(mock, **change) -> dict:
    return mock.post("/api/tickets", {**PASSWORD_TICKET, **change})


def test_assignment_emails_the_agent_and_sets_a_reminder_24_hours_ahead(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    result = run_dag(
        "support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "Admin Alice"}
    )
    assert result.state == "success"
    outputs = result.outputs["update_status"]
    assert outputs["assignment_status"] == "assigned" and outputs["agent_notification_status"] == "sent"
    assigned = mock.get(f"/api/tickets/{ticket['id']}")
    assert assigned["agent_id"] == 4 and assigned["status"] == "assigned" and assigned["assigned_by"] == "Admin Alice"
    (mail,) = mock.mail()
    assert mail["to"] == ["edsger.dijkstra@support.example.com"] and f"#{ticket['id']}" in mail["subject"]
    assert f"https://support.example.com/tickets/{ticket['id']}" in mail["body"] and "Admin Alice" in mail["body"]
    (event,) = mock.get("/_mock/events")["items"]
    assert event["mailbox"] == "edsger.dijkstra@support.example.com"
    assigned_at = datetime.fromisoformat(assigned["assigned_at"].replace("Z", "+00:00"))
    start = datetime.fromisoformat(event["start"]["dateTime"]).replace(tzinfo=UTC)
    assert abs(start - (assigned_at + timedelta(hours=24))) < timedelta(seconds=1)
    assert outputs["reminder_event_id"] == event["id"]
    notes = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]
    assert [n["author_type"] for n in notes] == ["system"]


def test_assignment_rerun_sends_one_email_and_one_event(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    conf = {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "Admin Alice"}
    when = datetime(2026, 11, 21, tzinfo=UTC)
    run_dag("support_ticket_assigned", conf, logical_date=when)
    again = run_dag("support_ticket_assigned", conf, logical_date=when)
    assert again.outputs["update_status"]["agent_notification_status"] == "already_sent"
    assert len(mock.mail()) == 1 and len(mock.get("/_mock/events")["items"]) == 1


@pytest.mark.parametrize(
    "conf, named, code",
    [
        ({"ticket_id": 9999, "agent_id": 4}, "ticket 9999", "unknown_ticket"),
        ({"agent_id": 99}, "agent 99", "unknown_agent"),
    ],
)
def test_assignment_of_an_unknown_ticket_or_agent_fails_saying_which(run_dag, mock, conf, named, code, capfd):
    mock.seed()
    ticket = new_ticket(mock)
    result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "assigned_by": "Admin", **conf})
    assert result.state == "failed" and result.task_states["assign_ticket"] == "failed"
    assert f"{named} does not exist" in capfd.readouterr().out  # the task log says which
    # the app reads why from the run's note; the caller's mistake pages nobody, and nothing is sent
    assert result.note.startswith(f"{code}: ") and f"{named} does not exist" in result.note
    assert mock.mail() == []


def test_a_ticket_not_in_a_state_for_the_action_is_a_reason_not_an_outage(run_dag, mock, connections):
    import sqlalchemy as sa

    mock.seed()
    ticket = new_ticket(mock)
    assert (
        run_dag(
            "support_ticket_resolved",
            {"ticket_id": ticket["id"], "agent_id": 4, "resolution_summary": "Done.", "send_survey": False},
        ).state
        == "success"
    )
    result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "Admin"})
    assert result.state == "failed"
    assert result.note == f"wrong_state: ticket_id: ticket {ticket['id']} is resolved and cannot be assigned"
    assert [m for m in mock.mail() if m["to"] == ["sysadmin@support.example.com"]] == []
    engine = sa.create_engine(f"sqlite:///{connections['support_reporting']['host']}")
    with engine.connect() as conn:
        (status,) = conn.execute(
            sa.text("SELECT alert_status FROM flow_errors WHERE dag_id = 'support_ticket_assigned'")
        ).one()
    assert status == "caller_input"


# --- Flow 3 -----------------------------------------------------------------------------------------


def test_resolution_emails_the_customer_loads_reporting_and_sends_the_survey(run_dag, mock, connections):
    mock.seed()
    ticket = new_ticket(mock)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 3, "assigned_by": "admin"})
    result = run_dag(
        "support_ticket_resolved",
        {"ticket_id": ticket["id"], "agent_id": 3, "resolution_summary": "Password reset.\nPlease log in <again>."},
    )
    assert result.state == "success"
    outputs = result.outputs["report"]
    assert outputs["resolution_status"] == "resolved" and outputs["customer_notification_status"] == "sent"
    assert outputs["survey_status"] == "sent" and "survey_url" not in outputs  # the customer's token
    resolution, survey = mock.mail()
    assert "Resolved" in resolution["subject"] and "Please log in &lt;again&gt;." in resolution["body"]
    assert "Ada Lovelace" in resolution["body"]
    assert "/survey/" in survey["body"]
    (fact,) = ReportingStore().fetch_all("ticket_facts")
    assert fact["ticket_id"] == ticket["id"] and fact["status"] == "resolved" and fact["agent_id"] == 3
    assert fact["resolution_hours"] is not None and "maria" not in fact["customer_key"]


def test_resolution_without_survey_and_rerun(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    conf = {"ticket_id": ticket["id"], "agent_id": 3, "resolution_summary": "Done.", "send_survey": False}
    when = datetime(2026, 11, 22, tzinfo=UTC)
    first = run_dag("support_ticket_resolved", conf, logical_date=when)
    again = run_dag("support_ticket_resolved", conf, logical_date=when)
    assert first.outputs["report"]["survey_status"] == "not_requested"
    assert again.outputs["report"]["customer_notification_status"] == "already_sent"
    assert len(mock.mail()) == 1 and len(ReportingStore().fetch_all("ticket_facts")) == 1


# --- Flow 6 -----------------------------------------------------------------------------------------


def resolved_ticket(mock, agent_id: int = 3) -> dict:
    ticket = new_ticket(mock)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": agent_id, "assigned_by": "admin"})
    return mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": agent_id, "resolution_summary": "Done."})


def test_low_rating_creates_a_planner_task_for_the_supervisor(run_dag, mock):
    mock.seed()
    ticket = resolved_ticket(mock, agent_id=6)
    result = run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 1, "comment": "Too slow <!>"})
    assert result.state == "success"
    outputs = result.outputs["report"]
    (task,) = mock.get("/_mock/tasks")["items"]
    assert outputs["followup_task_id"] == task["id"] and outputs["feedback_processing_status"] == "processed"
    assert f"#{ticket['id']}" in task["title"] and task["planId"] == "support-follow-ups"
    # Donald Knuth's supervisor, by directory id as Graph wants it
    assert list(task["assignments"]) == [directory_id("alan.turing@support.example.com")]
    assert task["dueDateTime"]
    assert any("tickets" in ref for ref in task["details"]["references"])
    (thanks,) = mock.mail()
    assert thanks["to"] == ["maria@example.org"] and "supervisor will review" in thanks["body"]
    agent = mock.get("/api/agents/6")
    assert agent["ratings_count"] == 1 and agent["low_ratings"] == 1
    store = ReportingStore()
    (fact,) = store.fetch_all("feedback_facts")
    assert fact["rating"] == 1 and fact["low_rating"] and fact["followup_task_id"] == task["id"]
    perf = {row["agent_id"]: row for row in store.fetch_all("agent_daily_performance")}
    today = datetime.now(UTC).date().isoformat()
    ratings_today = [
        f["rating"] for f in mock.get("/api/feedback", created_on=today, limit=1000)["items"] if f["agent_id"] == 6
    ]
    assert perf[6]["day"].isoformat() == today and perf[6]["tickets_resolved"] >= 1
    assert perf[6]["feedback_count"] == len(ratings_today) and perf[6]["low_ratings"] == sum(
        r <= 2 for r in ratings_today
    )


def test_a_supervisor_missing_from_the_directory_is_a_clear_reason(run_dag, mock, capfd):
    mock.seed()
    ticket = resolved_ticket(mock, agent_id=6)
    mock.post("/_mock/directory/left", {"upn": "alan.turing@support.example.com"})
    result = run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 1})
    assert result.state == "failed" and result.task_states["create_follow_up"] == "failed"
    reason = "supervisor alan.turing@support.example.com of agent #6 is not in the Microsoft Entra directory"
    assert reason in capfd.readouterr().out  # the task log names the address; the error log masks it
    reason = reason.replace("alan.turing@", "a***@")
    assert mock.get("/_mock/tasks")["items"] == []
    (error,) = [e for e in ReportingStore().fetch_all("flow_errors") if e["dag_id"] == "support_feedback_received"]
    assert reason in error["message"] and error["task_id"] == "create_follow_up"
    kept = [f for f in mock.get("/api/feedback", limit=1000)["items"] if f["ticket_id"] == ticket["id"]]
    assert [f["rating"] for f in kept] == [1]  # the feedback is kept


def test_feedback_for_a_ticket_not_yet_resolved_is_refused_with_a_reason(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 3, "assigned_by": "admin"})
    result = run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 1})
    assert result.state == "failed" and result.task_states["save_feedback"] == "failed"
    assert result.note == (
        f"wrong_state: ticket_id: ticket {ticket['id']} is assigned, not resolved;"
        " feedback is taken for resolved tickets"
    )
    assert customer_mail(mock) == [] and mock.get("/_mock/tasks")["items"] == []


def test_good_rating_creates_no_task_and_rerun_thanks_once(run_dag, mock):
    mock.seed()
    ticket = resolved_ticket(mock)
    conf = {"ticket_id": ticket["id"], "rating": 5}
    when = datetime(2026, 11, 23, tzinfo=UTC)
    first = run_dag("support_feedback_received", conf, logical_date=when)
    again = run_dag("support_feedback_received", conf, logical_date=when)
    assert first.outputs["report"]["followup_task_id"] is None
    assert again.outputs["report"]["customer_notification_status"] == "already_sent"
    assert mock.get("/_mock/tasks")["items"] == [] and len(mock.mail()) == 1
    assert mock.get("/api/agents/3")["ratings_count"] == 1


def test_low_rating_rerun_creates_one_planner_task(run_dag, mock):
    mock.seed()
    ticket = resolved_ticket(mock)
    when = datetime(2026, 11, 24, tzinfo=UTC)
    first = run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 2}, logical_date=when)
    again = run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 2}, logical_date=when)
    assert first.outputs["report"]["followup_task_id"] == again.outputs["report"]["followup_task_id"]
    assert len(mock.get("/_mock/tasks")["items"]) == 1


def test_the_reminder_follows_the_ticket_to_a_new_agent_and_leaves_when_it_is_resolved(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)

    def calendar() -> list[dict]:
        return [e for e in mock.get("/_mock/events")["items"] if f"#{ticket['id']}" in e["subject"]]

    run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    (first,) = calendar()
    assert first["mailbox"] == "edsger.dijkstra@support.example.com"

    when = datetime(2026, 11, 22, tzinfo=UTC)
    conf = {"ticket_id": ticket["id"], "agent_id": 5, "assigned_by": "admin"}
    run_dag("support_ticket_assigned", conf, logical_date=when)
    (moved,) = calendar()
    assert moved["mailbox"] == mock.get("/api/agents/5")["email"] and moved["id"] != first["id"]
    run_dag("support_ticket_assigned", conf, logical_date=when)  # the same run again
    assert calendar() == [moved]

    resolution = {"ticket_id": ticket["id"], "agent_id": 5, "resolution_summary": "Done.", "send_survey": False}
    resolved = run_dag("support_ticket_resolved", resolution, logical_date=when)
    assert resolved.state == "success" and resolved.outputs["remove_reminder"] == "removed"
    assert calendar() == []
    again = run_dag("support_ticket_resolved", resolution, logical_date=when)
    assert again.state == "success" and again.outputs["remove_reminder"] == "none"


def test_a_reminder_deleted_in_outlook_is_no_failure(run_dag, mock):
    mock.seed()
    ticket = new_ticket(mock)
    run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"})
    (event,) = mock.get("/_mock/events")["items"]
    import requests

    # the agent deletes it in Outlook (a mock token: the mock checks the form, not the grant)
    gone = requests.delete(
        f"{mock.url}/graph/v1.0/users/{event['mailbox']}/events/{event['id']}",
        timeout=10,
        headers={"Authorization": "Bearer mock-the-agents-outlook"},
    )
    assert gone.status_code == 204
    resolved = run_dag(
        "support_ticket_resolved",
        {"ticket_id": ticket["id"], "agent_id": 4, "resolution_summary": "Done.", "send_survey": False},
    )
    assert resolved.state == "success" and resolved.outputs["remove_reminder"] == "already_gone"


# --- what docs/powerapps.md promises the app --------------------------------------------------------


def test_the_outcomes_powerapps_reads_are_the_ones_its_guide_documents(run_dag, mock):
    """docs/powerapps.md's table is the contracts' outcomes, and each flow's run answers exactly
    those fields (a nullable one may be left out)."""
    from pathlib import Path

    from support_flows.authoring import catalog

    guide = (Path(__file__).resolve().parents[2] / "docs" / "powerapps.md").read_text()
    assert catalog.outcome_table() in guide, "docs/powerapps.md: run python -m support_flows.authoring.catalog"
    answering = {d.dag_id: d.outcome for d in catalog.DAGS.values() if d.outcome}
    assert set(answering) == {d.dag_id for d in catalog.DAGS.values() if d.powerapps_action}
    mock.seed()
    confs = {
        "support_ticket_created": PASSWORD_TICKET,
        "support_ticket_assigned": {"ticket_id": new_ticket(mock)["id"], "agent_id": 4, "assigned_by": "Admin"},
        "support_ticket_resolved": {
            "ticket_id": mock.post(
                f"/api/tickets/{new_ticket(mock)['id']}/assign", {"agent_id": 3, "assigned_by": "a"}
            )["id"],
            "agent_id": 3,
            "resolution_summary": "Done.",
        },
        "support_feedback_received": {"ticket_id": resolved_ticket(mock)["id"], "rating": 2, "comment": "Slow."},
    }
    for dag_id, fields in answering.items():
        result = run_dag(dag_id, confs[dag_id])
        assert result.state == "success", (dag_id, result)
        always = {name for name, spec in fields.items() if not spec.get("x-nullable")}
        assert always <= set(result.result) <= set(fields), (dag_id, set(result.result) ^ set(fields))
