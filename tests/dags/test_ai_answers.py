"""After the AI answered: a customer's reply puts the ticket in front of an agent; no reply within
72 hours resolves it as answered by AI and loads it. The daily figures count AI answers apart from
people's backlog. Driven as in production: Flow 1 answers, the backend records the reply, the
watcher starts the reply flow, the hourly DAG closes what waited too long."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from helpers import SEND_MAIL
from support_flows.storage.reporting import ReportingStore

PASSWORD_TICKET = {
    "customer_name": "Maria Garcia",
    "customer_email": "maria@example.org",
    "subject": "Cannot log in",
    "description": "My password stopped working.",
}


pytestmark = pytest.mark.usefixtures("quick_watcher")


def ai_answered_ticket(run_dag, mock) -> dict:
    result = run_dag("support_ticket_created", PASSWORD_TICKET)
    ticket = mock.get(f"/api/tickets/{result.outputs['answer_or_queue']['ticket_id']}")
    assert ticket["status"] == "ai_responded"
    return ticket


def today_stats(mock) -> dict:
    return mock.get("/api/stats/daily", date=datetime.now(UTC).date().isoformat())


def test_a_reply_hands_the_ticket_to_an_agent_through_the_event_feed(run_dag, mock):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    ticket = ai_answered_ticket(run_dag, mock)
    stats = today_stats(mock)
    assert stats["ai_responded"] == 1 and stats["awaiting_customer"] == 1
    assert stats["backlog"] == 0 and stats["unassigned_backlog"] == 0  # nobody has work to do yet

    def reply_runs() -> dict[str, dict]:
        with create_session() as session:
            return {r.run_id: r.conf for r in session.query(DagRun).filter(DagRun.dag_id == "support_customer_replied")}

    earlier = reply_runs()  # (other tests' runs share the metadata database)
    mock.post(f"/api/tickets/{ticket['id']}/replies", {"body": "That did not work, I get an error.", "key": "msg-1"})
    mock.post(f"/api/tickets/{ticket['id']}/replies", {"body": "That did not work, I get an error.", "key": "msg-1"})
    assert run_dag("support_backend_events").state == "success"
    started = [conf for run_id, conf in reply_runs().items() if run_id not in earlier]
    assert [conf["ticket_id"] for conf in started] == [ticket["id"]]  # one run for one reply

    result = run_dag(
        "support_customer_replied", {"ticket_id": ticket["id"]}, logical_date=datetime(2026, 11, 20, tzinfo=UTC)
    )
    assert result.outputs["hand_to_agent"] == {
        "ticket_id": ticket["id"],
        "status": "queued",
        "outcome": "queued_for_agent",
    }
    queue = mock.get("/api/tickets", status="queued", unassigned="true")["items"]
    assert [t["id"] for t in queue] == [ticket["id"]]
    stats = today_stats(mock)
    assert stats["awaiting_customer"] == 0 and stats["backlog"] == 1 and stats["unassigned_backlog"] == 1

    again = run_dag(
        "support_customer_replied", {"ticket_id": ticket["id"]}, logical_date=datetime(2026, 11, 20, tzinfo=UTC)
    )
    assert again.outputs["hand_to_agent"]["outcome"] == "already_waiting"
    notes = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]
    assert [n["author_type"] for n in notes].count("system") == 1 and [n["author_type"] for n in notes].count(
        "customer"
    ) == 1

    # a ticket with the agents is not closed as answered by AI, however long it waits
    later = run_dag("support_close_ai_answers", logical_date=datetime.now(UTC) + timedelta(days=10))
    assert later.outputs["close_unanswered"]["closed"] == 0
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "queued"


def test_no_reply_in_72_hours_resolves_the_ticket_as_answered_by_ai_and_loads_it(run_dag, mock):
    ticket = ai_answered_ticket(run_dag, mock)
    now = datetime.now(UTC).replace(microsecond=0)

    early = run_dag("support_close_ai_answers", logical_date=now + timedelta(hours=71))
    assert early.outputs["close_unanswered"]["closed"] == 0
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "ai_responded"

    closing = run_dag("support_close_ai_answers", logical_date=now + timedelta(hours=73))
    assert closing.state == "success" and closing.outputs["close_unanswered"]["closed"] == 1
    closed = mock.get(f"/api/tickets/{ticket['id']}")
    assert closed["status"] == "resolved" and closed["resolved_by"] == "ai" and closed["agent_id"] is None
    assert "did not reply within 72 hours" in closed["resolution_summary"]
    (fact,) = ReportingStore().fetch_all("ticket_facts")
    assert fact["ticket_id"] == ticket["id"] and fact["status"] == "resolved"
    assert fact["agent_id"] is None and fact["ai_responded"]

    rerun = run_dag("support_close_ai_answers", logical_date=now + timedelta(hours=73))
    assert rerun.outputs["close_unanswered"]["closed"] == 0 and len(ReportingStore().fetch_all("ticket_facts")) == 1
    # the AI's answer, then the satisfaction survey, as for an agent's resolution: nothing more on the rerun
    assert [(m["to"], m["subject"]) for m in mock.mail()] == [
        (["maria@example.org"], f"[Ticket #{ticket['id']}] Cannot log in"),
        (["maria@example.org"], f"[Ticket #{ticket['id']}] How did we do?"),
    ]
    assert closing.outputs["survey_ai_resolved"]["surveys_sent"] == 1
    assert rerun.outputs["survey_ai_resolved"] == {**rerun.outputs["survey_ai_resolved"], "surveys_sent": 0}

    stats = today_stats(mock)
    assert stats["resolved"] == 1 and stats["resolved_by_ai"] == 1
    assert stats["avg_resolution_hours"] is None  # people's resolutions only
    assert stats["awaiting_customer"] == 0 and stats["backlog"] == 0


def test_the_close_hours_are_a_setting(run_dag, mock, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_AI_ANSWER_CLOSE_HOURS", "24")
    ticket = ai_answered_ticket(run_dag, mock)
    result = run_dag("support_close_ai_answers", logical_date=datetime.now(UTC) + timedelta(hours=25))
    assert result.outputs["close_unanswered"]["closed"] == 1
    assert "within 24 hours" in mock.get(f"/api/tickets/{ticket['id']}")["resolution_summary"]


def test_a_reply_for_an_unknown_ticket_fails_with_a_reason(run_dag, mock, capfd):
    result = run_dag("support_customer_replied", {"ticket_id": 987654})
    assert result.state == "failed"
    assert "ticket 987654 does not exist" in capfd.readouterr().out
    assert result.note and "ticket 987654 does not exist" in result.note
    (error,) = [e for e in ReportingStore().fetch_all("flow_errors") if e["dag_id"] == "support_customer_replied"]
    assert "ticket 987654 does not exist" in error["message"]


def test_an_ai_answer_that_never_reached_the_customer_is_never_closed_as_answered(run_dag, mock):
    """Graph refuses every send: Flow 1 fails loudly, and the ticket waits for an agent (queued, a
    note with the AI's suggestion), not 'answered by AI'; the closing DAG leaves it alone."""
    mock.faults({"path": SEND_MAIL, "status": 400, "times": 100})
    result = run_dag("support_ticket_created", PASSWORD_TICKET)
    assert result.state == "failed"
    (ticket,) = mock.get("/api/tickets")["items"]
    assert ticket["status"] == "queued" and ticket["ai_response"] is None
    (note,) = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]
    assert "could not be e-mailed" in note["body"] and "reset your password" in note["body"]
    sent = [r for r in mock.get("/_mock/requests")["items"] if re.search(SEND_MAIL, r["path"])]
    assert sent, "the premise: the answer's e-mail was tried and refused"

    closing = run_dag("support_close_ai_answers", logical_date=datetime.now(UTC) + timedelta(hours=73))
    assert closing.outputs["close_unanswered"]["closed"] == 0
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "queued"
    assert today_stats(mock)["awaiting_customer"] == 0 and today_stats(mock)["backlog"] == 1


def test_an_ai_answered_ticket_the_ledger_never_saw_sent_goes_to_the_agents(run_dag, mock):
    """A ticket marked answered by AI outside the flows (or by an older version that marked it
    before sending): the closing DAG hands it to the agents instead of closing it."""
    created = mock.post("/api/tickets", PASSWORD_TICKET)
    mock.patch(
        f"/api/tickets/{created['id']}", {"ai_response": "Try this.", "ai_confidence": 0.9, "status": "ai_responded"}
    )
    closing = run_dag("support_close_ai_answers", logical_date=datetime.now(UTC) + timedelta(hours=73))
    assert closing.state == "success" and closing.outputs["close_unanswered"]["closed"] == 0
    assert mock.get(f"/api/tickets/{created['id']}")["status"] == "queued"
    (note,) = mock.get(f"/api/tickets/{created['id']}/notes")["items"]
    assert "could not be e-mailed" in note["body"] and "Try this." in note["body"]


def answer_links(mock, ticket_id: int) -> dict[str, str]:
    """The two links of the AI answer's e-mail, as the customer sees them."""
    import re

    (mail,) = [m for m in mock.mail() if f"#{ticket_id}" in m["subject"]]
    found = dict(re.findall(r'href="([^"]+/answer/[^"/]+/(solved|help))"', mail["body"]))
    return {kind: url for url, kind in found.items()}


def watcher_runs(run_dag) -> list[dict]:
    """Run the watcher; the reply-flow confs it started."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    def confs() -> dict[str, dict]:
        with create_session() as session:
            return {r.run_id: r.conf for r in session.query(DagRun).filter(DagRun.dag_id == "support_customer_replied")}

    before = confs()
    assert run_dag("support_backend_events").state == "success"
    return [conf for run_id, conf in confs().items() if run_id not in before]


def test_this_solved_my_problem_resolves_the_ticket_as_confirmed_once(run_dag, mock):
    import requests

    ticket = ai_answered_ticket(run_dag, mock)
    links = answer_links(mock, ticket["id"])
    assert set(links) == {"solved", "help"}
    page = requests.get(links["solved"], timeout=10)  # opening the link (a mail scanner too) changes nothing
    assert page.status_code == 200 and "this solved my problem" in page.text.lower()
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "ai_responded"

    pressed = requests.post(links["solved"], timeout=10)
    assert pressed.status_code == 200 and "Glad it helped" in pressed.text
    again = requests.post(links["solved"], timeout=10)
    assert "already told us" in again.text
    (conf,) = watcher_runs(run_dag)  # one run for one click
    assert conf == {"ticket_id": ticket["id"], "answer_confirmed": True}
    result = run_dag("support_customer_replied", conf)
    assert result.outputs["hand_to_agent"]["outcome"] == "resolved_as_confirmed"
    assert result.outputs["hand_to_agent"]["survey_status"] == "sent"  # the AI's answers are rated too
    resolved = mock.get(f"/api/tickets/{ticket['id']}")
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "ai"
    (fact,) = [f for f in ReportingStore().fetch_all("ticket_facts") if f["ticket_id"] == ticket["id"]]
    assert fact["ai_answer_outcome"] == "confirmed" and fact["status"] == "resolved"
    # the help link after that: the page says so, nothing changes
    late = requests.post(links["help"], data={"words": "One more thing"}, timeout=10)
    assert "already told us" in late.text and watcher_runs(run_dag) == []


def test_i_still_need_help_hands_the_ticket_to_an_agent_with_the_customers_words(run_dag, mock):
    import requests

    ticket = ai_answered_ticket(run_dag, mock)
    links = answer_links(mock, ticket["id"])
    empty = requests.post(links["help"], data={"words": "  "}, timeout=10)
    assert empty.status_code == 400 and "what you still need" in empty.text
    sent = requests.post(links["help"], data={"words": "The reset link has expired."}, timeout=10)
    assert sent.status_code == 200 and "An agent will get back to you" in sent.text
    (conf,) = watcher_runs(run_dag)
    assert conf["ticket_id"] == ticket["id"] and conf["note_id"]
    result = run_dag("support_customer_replied", conf)
    assert result.outputs["hand_to_agent"]["outcome"] == "queued_for_agent"
    notes = mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]
    assert [n["body"] for n in notes if n["author_type"] == "customer"] == ["The reset link has expired."]
    # the other link, now that the ticket is with the agents: nothing changes
    assert "already asked for help" in requests.post(links["solved"], timeout=10).text
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "queued"
    from support_flows.core.facts import ai_answer_outcome

    assert ai_answer_outcome(mock.get(f"/api/tickets/{ticket['id']}")) == "rejected"


def test_a_link_after_the_ticket_moved_on_changes_nothing(run_dag, mock):
    import requests

    ticket = ai_answered_ticket(run_dag, mock)
    links = answer_links(mock, ticket["id"])
    mock.post(f"/api/tickets/{ticket['id']}/replies", {"body": "Hello?"})  # replied by e-mail first
    run_dag("support_customer_replied", {"ticket_id": ticket["id"]})
    page = requests.post(links["solved"], timeout=10)
    assert "already with our team" in page.text
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "queued"
    assert requests.get(links["solved"].replace("/answer/", "/answer/x"), timeout=10).status_code == 404


def test_the_daily_summary_counts_what_became_of_the_ai_answers(run_dag, mock):
    """Deflection in the report: one answer confirmed, one the customer still needed help with;
    the e-mail shows both, and the analysts' row holds them."""
    import requests

    confirmed, rejected = ai_answered_ticket(run_dag, mock), ai_answered_ticket(run_dag, mock)
    requests.post(answer_links(mock, confirmed["id"])["solved"], timeout=10)
    requests.post(answer_links(mock, rejected["id"])["help"], data={"words": "Still broken."}, timeout=10)
    for conf in watcher_runs(run_dag):
        assert run_dag("support_customer_replied", conf).state == "success"
    today = datetime.now(UTC).date().isoformat()
    stats = today_stats(mock)
    assert (stats["ai_confirmed"], stats["ai_rejected"], stats["ai_closed_silent"]) == (1, 1, 0)
    assert stats["resolved_by_ai"] == 1
    assert run_dag("support_daily_summary", {"report_date": today}).state == "success"
    (mail,) = [m for m in mock.mail() if m["subject"].startswith("Daily support summary")]
    assert "AI answers confirmed by the customer (solved)" in mail["body"]
    (day,) = ReportingStore().fetch_all("daily_summary")
    assert (day["ai_confirmed"], day["ai_rejected"], day["ai_closed_silent"]) == (1, 1, 0)
