"""What a support team expects from a help desk (issue 35), driven as in production and observed
where the team looks: contact reasons on the ticket, in the day's report and in the analysts'
views; the satisfaction survey for the AI's answers too, and satisfaction split by who answered;
a lifecycle that ends (a pending ticket reminded once, then resolved; a resolved ticket closed,
after which a reply opens a new linked ticket)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from support_flows.storage.reporting import ReportingStore

pytestmark = pytest.mark.usefixtures("quick_watcher")

SPANISH_PASSWORD = {
    "customer_name": "Lucía Pérez",
    "customer_email": "lucia@example.es",
    "subject": "No puedo entrar",
    "description": "Hola, olvidé mi contraseña y no puedo entrar en mi cuenta.",
}
FRENCH_FAULT = {
    "customer_name": "Jean Martin",
    "customer_email": "jean@example.fr",
    "subject": "Application en panne",
    "description": "Bonjour, mon application ne marche pas depuis ce matin, je vois une page blanche.",
}


def create(run_dag, mock, request: dict) -> dict:
    result = run_dag("support_ticket_created", request)
    assert result.state == "success", result
    return mock.get(f"/api/tickets/{result.outputs['answer_or_queue']['ticket_id']}")


def customer_mail(mock, address: str) -> list[str]:
    return [m["subject"] for m in mock.mail() if m["to"] == [address]]


def test_the_ai_check_gives_the_ticket_its_contact_reason_and_language(run_dag, mock):
    answered = create(run_dag, mock, SPANISH_PASSWORD)
    assert answered["status"] == "ai_responded"
    assert (answered["topic"], answered["language"]) == ("password", "es")
    (mail,) = [m for m in mock.mail() if m["to"] == ["lucia@example.es"]]  # the answer, in her language
    assert (
        mail["subject"] == f"[Ticket n.º {answered['id']}] No puedo entrar"
        and "¿Ha resuelto esto su problema?" in mail["body"]
    )

    queued = create(run_dag, mock, FRENCH_FAULT)  # a topic the AI knows but cannot answer
    assert queued["status"] == "queued" and queued["ai_response"] is None
    assert (queued["topic"], queued["language"]) == ("technical", "fr")
    (mail,) = [m for m in mock.mail() if m["to"] == ["jean@example.fr"]]
    assert mail["subject"].startswith(f"[Ticket n° {queued['id']}] Nous avons reçu votre demande")

    # the request's own labels win over the AI's (PowerApps' form asked the customer)
    chosen = create(run_dag, mock, {**SPANISH_PASSWORD, "customer_email": "l2@example.es", "topic": "account",
                                    "language": "en"})  # fmt: skip
    assert (chosen["topic"], chosen["language"]) == ("account", "en") and chosen["status"] == "ai_responded"


def test_a_label_that_is_not_one_is_refused_naming_the_field(run_dag, mock):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="param language: 'Spanish' does not match"):
        run_dag("support_ticket_created", {**SPANISH_PASSWORD, "language": "Spanish"})
    assert mock.get("/api/tickets")["items"] == []  # nothing was created


def test_contact_reasons_and_satisfaction_by_who_answered_reach_the_report_and_the_views(run_dag, mock):
    mock.seed()  # the agents, and a demo day whose figures ours add to
    today = datetime.now(UTC).date()
    seeded = mock.get("/api/stats/daily", date=today.isoformat())
    before = {t["topic"]: t for t in seeded["by_topic"]}
    by_ai = create(run_dag, mock, SPANISH_PASSWORD)
    by_agent = create(run_dag, mock, FRENCH_FAULT)
    # the AI's answer is left without a reply: resolved as answered by AI, and surveyed
    closing = run_dag("support_close_ai_answers", logical_date=datetime.now(UTC) + timedelta(hours=73))
    assert closing.state == "success" and closing.outputs["survey_ai_resolved"]["surveys_sent"] == 1
    assert customer_mail(mock, "lucia@example.es")[-1] == f"[Ticket n.º {by_ai['id']}] ¿Qué tal le atendimos?"
    import re

    import requests

    (survey,) = [m for m in mock.mail() if m["subject"] == customer_mail(mock, "lucia@example.es")[-1]]
    page = requests.get(re.search(r'href="([^"]+/survey/[^"]+)"', survey["body"]).group(1), timeout=10)
    assert '<html lang="es">' in page.text and "¿Qué tal le atendimos con el ticket" in page.text  # the page too
    # an agent resolves the other
    mock.post(f"/api/tickets/{by_agent['id']}/assign", {"agent_id": 3, "assigned_by": "admin"})
    resolved = run_dag(
        "support_ticket_resolved",
        {"ticket_id": by_agent["id"], "agent_id": 3, "resolution_summary": "Cleared the cache.", "send_survey": True},
    )
    assert resolved.state == "success", resolved
    for ticket_id, rating in ((by_ai["id"], 5), (by_agent["id"], 2)):
        assert run_dag("support_feedback_received", {"ticket_id": ticket_id, "rating": rating}).state == "success"

    stats = mock.get("/api/stats/daily", date=today.isoformat())
    topics = {t["topic"]: t for t in stats["by_topic"]}
    for figure, added in (("created", 1), ("resolved", 1), ("resolved_by_ai", 0), ("feedback_count", 1)):
        assert topics["technical"][figure] == before["technical"][figure] + added, figure
    assert topics["password"]["created"] == before["password"]["created"] + 1
    assert topics["password"]["resolved_by_ai"] == before["password"]["resolved_by_ai"] + 1
    assert seeded["satisfaction"]["ai_answered"]["count"] == 0  # the seed's ratings are all agents'
    assert stats["satisfaction"]["ai_answered"] == {"count": 1, "avg_rating": 5.0}
    assert stats["satisfaction"]["agent_answered"]["count"] == seeded["satisfaction"]["agent_answered"]["count"] + 1

    report = run_dag("support_daily_summary", {"report_date": today.isoformat()})
    assert report.state == "success", report
    (mail,) = [m for m in mock.mail() if m["subject"].startswith("Daily support summary")]
    assert "Contact reasons" in mail["body"] and ">technical<" in mail["body"]
    assert "Satisfaction with the AI&#39;s answers" in mail["body"] and "5.0 of 5 (1 rating)" in mail["body"]
    (row,) = ReportingStore().fetch_all("daily_summary")
    assert (row["ai_answered_ratings"], row["ai_answered_avg_rating"]) == (1, 5.0)
    agents = stats["satisfaction"]["agent_answered"]
    assert (row["agent_answered_ratings"], row["agent_answered_avg_rating"]) == (agents["count"], agents["avg_rating"])

    store = ReportingStore()
    facts = {f["ticket_id"]: f for f in store.fetch_all("ticket_facts")}
    assert (facts[by_ai["id"]]["topic"], facts[by_ai["id"]]["language"]) == ("password", "es")
    prefix = "analytics." if store.engine.dialect.name == "postgresql" else ""
    with store.engine.connect() as conn:
        reasons = {r.topic: r for r in conn.execute(sa.text(f"SELECT * FROM {prefix}contact_reasons"))}
        split = dict(
            conn.execute(
                sa.text(f"SELECT answered_by, avg(rating) FROM {prefix}satisfaction GROUP BY answered_by")
            ).all()
        )
    assert reasons["password"].deflected == 1 and float(reasons["password"].deflection_rate) == 1.0
    assert reasons["technical"].deflected == 0 and float(reasons["technical"].avg_rating) == 2.0
    assert {k: float(v) for k, v in split.items()} == {"ai": 5.0, "agent": 2.0}  # the seed's are not loaded


def test_the_survey_for_ai_answers_is_a_setting(run_dag, mock, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_SURVEY_AI_ANSWERS", "false")
    ticket = create(run_dag, mock, SPANISH_PASSWORD)
    closing = run_dag("support_close_ai_answers", logical_date=datetime.now(UTC) + timedelta(hours=73))
    assert closing.outputs["close_unanswered"]["closed"] == 1
    assert closing.outputs["survey_ai_resolved"]["surveys_sent"] == 0
    assert customer_mail(mock, "lucia@example.es") == [f"[Ticket n.º {ticket['id']}] {SPANISH_PASSWORD['subject']}"]


def pending_ticket(mock) -> dict:
    """A ticket whose agent asked the customer something (``pending``: the clocks wait on them)."""
    ticket = mock.post("/api/tickets", {**FRENCH_FAULT, "subject": "Export is empty"})
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 3, "assigned_by": "admin"})
    return mock.patch(f"/api/tickets/{ticket['id']}", {"status": "pending"})


def test_a_pending_ticket_is_reminded_once_then_resolved_with_the_customer_told(run_dag, mock, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_REOPEN_DAYS", "30")  # the run's later clock would close it at once
    mock.seed()
    ticket = pending_ticket(mock)
    now = datetime.now(UTC)

    def lifecycle(after: timedelta) -> dict:
        result = run_dag("support_ticket_lifecycle", logical_date=now + after)
        assert result.state == "success", result
        return result.outputs["follow_up_pending"]

    assert lifecycle(timedelta(days=2, hours=23)) == {"reminded": 0, "resolved": 0}
    assert customer_mail(mock, "jean@example.fr") == []

    assert lifecycle(timedelta(days=3, hours=1)) == {"reminded": 1, "resolved": 0}
    reminder = f"[Ticket #{ticket['id']}] We are waiting for your answer: Export is empty"
    assert customer_mail(mock, "jean@example.fr") == [reminder]
    assert lifecycle(timedelta(days=3, hours=1)) == {"reminded": 0, "resolved": 0}  # the rerun: once
    assert lifecycle(timedelta(days=6)) == {"reminded": 0, "resolved": 0}  # 4 working days after the reminder
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "pending"

    assert lifecycle(timedelta(days=7, hours=2)) == {"reminded": 0, "resolved": 1}
    done = mock.get(f"/api/tickets/{ticket['id']}")
    assert done["status"] == "resolved" and "without the customer's answer" in done["resolution_summary"]
    told = f"[Ticket #{ticket['id']}] Resolved without your answer: Export is empty"
    assert customer_mail(mock, "jean@example.fr") == [reminder, told]
    (fact,) = [f for f in ReportingStore().fetch_all("ticket_facts") if f["ticket_id"] == ticket["id"]]
    assert fact["status"] == "resolved"
    notes = [n["body"] for n in mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]]
    assert notes.count("Reminded the customer after 3 working days.") == 1

    assert lifecycle(timedelta(days=7, hours=2)) == {"reminded": 0, "resolved": 0}  # the rerun: nothing twice
    assert customer_mail(mock, "jean@example.fr") == [reminder, told]


def test_a_customer_who_answers_is_not_reminded(run_dag, mock):
    mock.seed()
    ticket = pending_ticket(mock)
    mock.post(f"/api/tickets/{ticket['id']}/replies", {"body": "Here is the file.", "key": "msg-1"})
    result = run_dag("support_customer_replied", {"ticket_id": ticket["id"]})
    assert result.outputs["hand_to_agent"]["status"] == "assigned"  # the agent's turn again
    later = run_dag("support_ticket_lifecycle", logical_date=datetime.now(UTC) + timedelta(days=10))
    assert later.outputs["follow_up_pending"] == {"reminded": 0, "resolved": 0}
    assert customer_mail(mock, "jean@example.fr") == []


def test_a_resolved_ticket_is_closed_after_reopen_days_and_a_reply_then_opens_a_new_ticket(run_dag, mock):
    mock.seed()
    ticket = mock.post("/api/tickets", {**FRENCH_FAULT, "topic": "technical", "language": "fr"})
    mock.post(f"/api/tickets/{ticket['id']}/assign", {"agent_id": 3, "assigned_by": "admin"})
    mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 3, "resolution_summary": "Fixed."})
    now = datetime.now(UTC)

    early = run_dag("support_ticket_lifecycle", logical_date=now + timedelta(days=6, hours=23))
    assert early.state == "success"
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "resolved"

    closing = run_dag("support_ticket_lifecycle", logical_date=now + timedelta(days=7, hours=1))
    assert closing.state == "success" and closing.outputs["close_resolved"]["closed"] >= 1
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "closed"
    (fact,) = [f for f in ReportingStore().fetch_all("ticket_facts") if f["ticket_id"] == ticket["id"]]
    assert fact["status"] == "closed"
    assert customer_mail(mock, "jean@example.fr") == []  # closing tells nobody
    again = run_dag("support_ticket_lifecycle", logical_date=now + timedelta(days=7, hours=1))
    assert again.outputs["close_resolved"]["closed"] == 0

    # one rule: a reply to the closed ticket opens a new one, linked (the clock says 7 days have not
    # passed here; the status decides)
    mock.post(f"/api/tickets/{ticket['id']}/replies", {"body": "It is broken again.", "key": "msg-late"})
    replied = run_dag("support_customer_replied", {"ticket_id": ticket["id"]})
    outcome = replied.outputs["hand_to_agent"]
    assert outcome["outcome"] == "new_ticket" and outcome["status"] == "closed"
    new = mock.get(f"/api/tickets/{outcome['new_ticket_id']}")
    assert new["status"] == "queued" and (new["topic"], new["language"]) == ("technical", "fr")
    assert mock.get(f"/api/tickets/{ticket['id']}")["status"] == "closed"


def queued(mock, n: int, **labels) -> dict:
    ticket = mock.post(
        "/api/tickets",
        {"customer_name": "C", "customer_email": f"c{n}@example.org", "subject": "Help", "description": "?", **labels},
    )
    return mock.patch(f"/api/tickets/{ticket['id']}", {"status": "queued"})


def test_auto_assignment_routes_by_skill_then_language_then_group_and_falls_back_to_anyone(run_dag, mock):
    mock.seed()
    for ticket in mock.get("/api/tickets", status="queued", unassigned="true")["items"]:  # only ours in the queue
        mock.patch(f"/api/tickets/{ticket['id']}", {"status": "in_progress"})
    agents = {a["id"]: a for a in mock.get("/api/agents", role="agent", available="true")["items"]}
    billing_es = queued(mock, 1, topic="billing", language="es")  # Edsger and Margaret handle billing in Spanish
    shipping_es = queued(mock, 2, topic="shipping", language="es")  # Barbara ships, but in English only
    refund_en = queued(mock, 3, topic="refund", language="en")  # Edsger and Barbara handle refunds
    nobody = queued(mock, 4, topic="warranty", language="it")  # no skill, no Italian, no group

    result = run_dag("support_auto_assign")
    assert result.state == "success", result
    made = {a["ticket_id"]: a for a in result.outputs["report"]["assigned"]}

    assert made[billing_es["id"]]["agent_id"] in (4, 7)
    assert made[billing_es["id"]]["routing_match"] == "skill_and_language"
    assert made[shipping_es["id"]]["agent_id"] in (4, 7)  # the customer's language before the skill
    assert made[shipping_es["id"]]["routing_match"] == "language"
    assert (
        made[refund_en["id"]]["agent_id"] in (4, 5) and made[refund_en["id"]]["routing_match"] == "skill_and_language"
    )
    # nobody matches: the agent with the most spare capacity takes it, as before routing
    spare = {aid: a["capacity"] - a["workload"] for aid, a in agents.items()}
    assert made[nobody["id"]]["routing_match"] == "any"
    assert spare[made[nobody["id"]]["agent_id"]] >= max(spare.values()) - 1
    for agent in mock.get("/api/agents", role="agent")["items"]:
        assert agent["workload"] <= agent["capacity"], agent  # never past capacity


def test_the_group_comes_before_anyone_when_nobody_with_the_skill_has_room(run_dag, mock):
    mock.seed()
    for ticket in mock.get("/api/tickets", status="queued", unassigned="true")["items"]:
        mock.patch(f"/api/tickets/{ticket['id']}", {"status": "in_progress"})
    for agent_id in (4, 7):  # the billing skill's agents are away; the billing group gets Edsger's colleague
        mock.patch(f"/api/agents/{agent_id}", {"available": False})
    mock.patch("/api/agents/6", {"group": "billing"})
    ticket = queued(mock, 1, topic="refund", language="de")  # Barbara has the skill, Donald the group and German
    made = run_dag("support_auto_assign").outputs["report"]["assigned"]
    assert [(a["ticket_id"], a["agent_id"], a["routing_match"]) for a in made] == [
        (ticket["id"], 6, "group_and_language")
    ]


def test_an_admins_choice_stands_and_a_note_names_a_better_match(run_dag, mock):
    mock.seed()
    ticket = queued(mock, 1, topic="billing", language="es")
    result = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 5, "assigned_by": "admin"})
    assert result.state == "success", result
    outputs = result.outputs["update_status"]
    assert outputs["agent_id"] == 5 and outputs["routing_match"] == "any"  # Barbara: no billing, no Spanish
    assert mock.get(f"/api/tickets/{ticket['id']}")["agent_id"] == 5
    notes = [n["body"] for n in mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]]
    assert any("a better match with room" in n and "handles billing and speaks es" in n for n in notes), notes
    again = run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 5, "assigned_by": "admin"})
    assert again.state == "success" and again.outputs["update_status"]["routing_match"] == "any"
    notes = [n["body"] for n in mock.get(f"/api/tickets/{ticket['id']}/notes")["items"]]
    assert sum("a better match with room" in n for n in notes) == 1  # a repeated call: no second note

    good = queued(mock, 2, topic="billing", language="es")
    fine = run_dag("support_ticket_assigned", {"ticket_id": good["id"], "agent_id": 7, "assigned_by": "admin"})
    assert fine.outputs["update_status"]["routing_match"] == "skill_and_language"
    assert not any("better match" in n["body"] for n in mock.get(f"/api/tickets/{good['id']}/notes")["items"])
