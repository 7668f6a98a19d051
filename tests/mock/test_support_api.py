"""The mock's Support API: every endpoint, its OpenAPI document, bad input, idempotency, scale."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import jsonschema
import pytest
from flask import request

from helpers import controlled_clock
from mock_backend import create_app
from mock_backend.endpoints import doc_path
from mock_backend.openapi import FORMAT_CHECKER, operations, response_schema

NEW_TICKET = {
    "customer_name": "Maria Garcia",
    "customer_email": "maria@example.org",
    "subject": "Cannot log in",
    "description": "My password stopped working.",
}


def closed(schema):
    """The schema with every object closed to undeclared fields: an answer carrying a field the
    document does not declare fails, so the document says everything the mock emits."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


OPERATION_BY_ROUTE = {(method, path): operation_id for operation_id, (method, path, _) in operations().items()}


def undocumented(response, method: str, rule: str) -> str | None:
    """What in an answer of the Support API its document does not declare: a status not declared
    for the operation, or a JSON body that fails the declared schema or carries an undeclared field."""
    operation_id = OPERATION_BY_ROUTE[(method, doc_path(rule))]
    declared = operations()[operation_id][2]["responses"]
    if str(response.status_code) not in declared:
        return f"{method} {rule} answered {response.status_code}, which {operation_id} does not declare"
    content = declared[str(response.status_code)].get("content", {})
    if "application/json" in content and response.is_json:
        schema = closed(content["application/json"]["schema"])
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER).iter_errors(response.get_json())
        )
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path)
            return f"{method} {rule} {response.status_code} at {where or 'the body'}: {error.message}"
    return None


@pytest.fixture
def client(tmp_path):
    """The mock in-process; every answer any test of this module gets is held to openapi.yaml."""
    app = create_app(str(tmp_path / "mock.sqlite"), public_url="http://mock.test")
    problems: list[str] = []

    @app.after_request
    def held_to_the_document(response):
        rule = request.url_rule
        if rule is not None and (rule.rule.startswith("/api/") or rule.rule == "/health"):
            response.direct_passthrough = False
            if problem := undocumented(response, request.method, rule.rule):
                problems.append(problem)
        return response

    with controlled_clock():  # the test's "today" and the mock's are one day, whenever it runs
        yield app.test_client()
    assert not problems, "answers openapi.yaml does not declare:\n" + "\n".join(problems)


@pytest.fixture
def seeded(client):
    assert client.post("/_mock/seed", json={}).status_code == 201
    return client


def conforms(operation_id: str, response) -> dict:
    """Assert the answer matches the OpenAPI document for that operation and status."""
    schema = response_schema(operation_id, response.status_code)
    jsonschema.validate(response.json, schema, format_checker=FORMAT_CHECKER)
    return response.json


def test_every_route_is_in_the_openapi_document_and_every_operation_is_served(client):
    served = set()
    for rule in client.application.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule == "/health"):
            continue
        path = doc_path(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    documented = {(method, path) for method, path, _ in operations().values()}
    assert served == documented


def test_health(client):
    conforms("health", client.get("/health"))


def test_create_get_update_ticket(client):
    created = conforms("createTicket", client.post("/api/tickets", json=NEW_TICKET))
    assert created["status"] == "new" and created["priority"] == "normal" and created["channel"] == "powerapps"
    got = conforms("getTicket", client.get(f"/api/tickets/{created['id']}"))
    assert got == created
    updated = conforms("updateTicket", client.patch(f"/api/tickets/{created['id']}", json={"status": "queued"}))
    assert updated["status"] == "queued" and updated["updated_at"] >= created["updated_at"]


def test_create_ticket_is_idempotent_by_request_id(client):
    first = client.post("/api/tickets", json={**NEW_TICKET, "request_id": "pa-1"})
    again = client.post("/api/tickets", json={**NEW_TICKET, "request_id": "pa-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["id"] == again.json["id"]
    assert len(client.get("/api/tickets").json["items"]) == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"customer_email": "not-an-address"}, "customer_email"),
        ({"customer_name": ""}, "customer_name"),
        ({"subject": "x" * 201}, "subject"),
        ({"priority": "whenever"}, "priority"),
        ({"channel": "fax"}, "channel"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"description": 42}, "description"),
    ],
)
def test_bad_ticket_gets_400_naming_the_field(client, change, field):
    response = client.post("/api/tickets", json={**NEW_TICKET, **change})
    assert response.status_code == 400
    assert conforms("createTicket", response)["field"] == field
    assert response.json["error"].startswith(field)


def test_missing_field_and_non_json_body(client):
    body = dict(NEW_TICKET)
    del body["subject"]
    response = client.post("/api/tickets", json=body)
    assert response.status_code == 400 and response.json["field"] == "subject"
    response = client.post("/api/tickets", data="nonsense", content_type="text/plain")
    assert response.status_code == 400 and "JSON" in response.json["error"]


def test_unknown_ticket_is_404_naming_it(client):
    response = client.get("/api/tickets/999")
    assert response.status_code == 404
    assert conforms("getTicket", response) == {"error": "ticket_id: ticket 999 does not exist", "field": "ticket_id"}


def test_assign_resolve_and_their_errors(seeded):
    client = seeded
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    response = client.post(f"/api/tickets/{ticket['id']}/assign", json={"agent_id": 99, "assigned_by": "admin"})
    assert response.status_code == 404 and response.json["field"] == "agent_id"
    assigned = conforms(
        "assignTicket", client.post(f"/api/tickets/{ticket['id']}/assign", json={"agent_id": 3, "assigned_by": "admin"})
    )
    assert assigned["status"] == "assigned" and assigned["agent_id"] == 3 and assigned["assigned_by"] == "admin"
    again = client.post(f"/api/tickets/{ticket['id']}/assign", json={"agent_id": 3, "assigned_by": "admin"})
    assert again.json["assigned_at"] == assigned["assigned_at"]  # repeat changes nothing
    resolved = conforms(
        "resolveTicket",
        client.post(f"/api/tickets/{ticket['id']}/resolve", json={"agent_id": 3, "resolution_summary": "Reset done."}),
    )
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    response = client.post(f"/api/tickets/{ticket['id']}/assign", json={"agent_id": 4, "assigned_by": "admin"})
    assert response.status_code == 409


def test_system_notes_do_not_count_as_activity_and_keys_make_notes_idempotent(seeded):
    client = seeded
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    note = client.post(
        f"/api/tickets/{ticket['id']}/notes",
        json={"author": "automation", "author_type": "system", "body": "Escalated.", "key": "esc-1"},
    )
    assert note.status_code == 201
    conforms("addNote", note)
    repeat = client.post(
        f"/api/tickets/{ticket['id']}/notes",
        json={"author": "automation", "author_type": "system", "body": "Escalated.", "key": "esc-1"},
    )
    assert repeat.status_code == 200 and repeat.json["id"] == note.json["id"]
    after_system = client.get(f"/api/tickets/{ticket['id']}").json
    assert after_system["last_activity_at"] == ticket["last_activity_at"]
    assert after_system["updated_at"] > ticket["updated_at"]
    client.post(
        f"/api/tickets/{ticket['id']}/notes", json={"author": "Ada", "author_type": "agent", "body": "Looking."}
    )
    after_agent = client.get(f"/api/tickets/{ticket['id']}").json
    assert after_agent["last_activity_at"] > ticket["last_activity_at"]
    notes = conforms("listNotes", client.get(f"/api/tickets/{ticket['id']}/notes"))
    assert [n["author_type"] for n in notes["items"]] == ["system", "agent"]


def test_ai_response_answers_known_topics_only(client):
    known = client.post("/api/tickets", json=NEW_TICKET).json
    unknown = client.post(
        "/api/tickets", json={**NEW_TICKET, "subject": "Dark mode?", "description": "Please add a dark theme."}
    ).json
    answer = conforms("checkAiResponse", client.post(f"/api/tickets/{known['id']}/ai-response"))
    assert answer["answer"] and answer["confidence"] > 0.9 and answer["topic"] == "password"
    none = conforms("checkAiResponse", client.post(f"/api/tickets/{unknown['id']}/ai-response"))
    assert none["answer"] is None and none["confidence"] == 0


def test_list_filters_and_cursor_pagination(seeded):
    client = seeded
    everything = []
    cursor = None
    while True:
        page = conforms(
            "listTickets",
            client.get("/api/tickets", query_string={"limit": 7, **({"cursor": cursor} if cursor else {})}),
        )
        everything += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [t["id"] for t in everything] == sorted(t["id"] for t in everything)
    assert len(everything) == len({t["id"] for t in everything}) == 40

    stale = (datetime.now(UTC) - timedelta(hours=48)).isoformat()
    page = client.get("/api/tickets", query_string={"status": "assigned", "activity_before": stale}).json
    assert page["items"] and all(t["status"] == "assigned" and t["last_activity_at"] < stale for t in page["items"])
    mine = client.get("/api/tickets", query_string={"agent_id": 3, "status": "assigned,in_progress"}).json["items"]
    assert mine and {t["agent_id"] for t in mine} == {3}
    queue = client.get("/api/tickets", query_string={"unassigned": "true", "status": "queued", "sort": "urgency"}).json[
        "items"
    ]
    assert [t["priority"] for t in queue] == ["urgent", "high", "normal", "low"]
    today = date.today().isoformat()
    created_today = client.get("/api/tickets", query_string={"created_on": today}).json["items"]
    assert all(t["created_at"].startswith(today) for t in created_today)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"status": "lost"}, "status"),
        ({"agent_id": "x"}, "agent_id"),
        ({"limit": 0}, "limit"),
        ({"updated_before": "yesterday"}, "updated_before"),
        ({"created_on": "2026-13-01"}, "created_on"),
        ({"cursor": "garbage"}, "cursor"),
        ({"sort": "random"}, "sort"),
        ({"sort": ""}, "sort"),  # present and empty is not the default (schemathesis found it)
        ({"agent_id": ""}, "agent_id"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_bad_list_parameters_get_400_naming_them(client, query, field):
    response = client.get("/api/tickets", query_string=query)
    assert response.status_code == 400 and response.json["field"] == field


def test_agents_with_workload_and_supervisor(seeded):
    agents = conforms("listAgents", seeded.get("/api/agents")).get("items")
    assert len(agents) == 8
    ada = conforms("getAgent", seeded.get("/api/agents/3"))
    assert ada["supervisor_email"] == "grace.hopper@support.example.com"
    assert ada["workload"] == 3
    supervisors = seeded.get("/api/agents", query_string={"role": "supervisor"}).json["items"]
    assert {a["id"] for a in supervisors} == {1, 2}
    available = seeded.get("/api/agents", query_string={"available": "false"}).json["items"]
    assert [a["id"] for a in available] == [8]
    assert seeded.get("/api/agents/77").status_code == 404


def test_feedback_survey_and_agent_metrics(seeded):
    client = seeded
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    client.post(f"/api/tickets/{ticket['id']}/assign", json={"agent_id": 4, "assigned_by": "admin"})
    response = client.post("/api/surveys", json={"ticket_id": ticket["id"]})
    assert response.status_code == 409  # not resolved yet
    early = client.post("/api/feedback", json={"ticket_id": ticket["id"], "rating": 4})
    assert early.status_code == 409 and early.json == {
        "error": f"ticket_id: ticket {ticket['id']} is assigned, not resolved; feedback is taken for resolved tickets",
        "field": "ticket_id",
    }
    client.post(f"/api/tickets/{ticket['id']}/resolve", json={"agent_id": 4, "resolution_summary": "Done."})
    survey = conforms("createSurvey", client.post("/api/surveys", json={"ticket_id": ticket["id"]}))
    assert survey["url"] == f"http://mock.test/survey/{survey['token']}"
    assert client.post("/api/surveys", json={"ticket_id": ticket["id"]}).json["id"] == survey["id"]
    feedback = client.post(f"/api/surveys/{survey['token']}/responses", json={"rating": 2, "comment": "Slow."})
    assert feedback.status_code == 201
    conforms("submitSurvey", feedback)
    assert feedback.json["agent_id"] == 4 and feedback.json["source"] == "survey"
    assert (
        client.post("/api/feedback", json={"ticket_id": ticket["id"], "rating": 5}).status_code == 200
    )  # one per ticket
    assert conforms("getFeedback", client.get(f"/api/feedback/{feedback.json['id']}"))["rating"] == 2
    agent = conforms(
        "recordAgentFeedback", client.post("/api/agents/4/metrics", json={"feedback_id": feedback.json["id"]})
    )
    again = client.post("/api/agents/4/metrics", json={"feedback_id": feedback.json["id"]}).json
    assert agent["ratings_count"] == again["ratings_count"] == 1 and again["low_ratings"] == 1
    assert client.post("/api/agents/5/metrics", json={"feedback_id": feedback.json["id"]}).status_code == 409
    page = conforms("listFeedback", client.get("/api/feedback", query_string={"limit": 3}))
    assert len(page["items"]) == 3 and page["next_cursor"]
    assert client.post("/api/feedback", json={"ticket_id": ticket["id"], "rating": 6}).json["field"] == "rating"


def test_event_feed_is_ordered_and_read_with_a_cursor(client):
    client.post("/api/tickets", json=NEW_TICKET)
    client.post("/api/inbound/tickets", json={**NEW_TICKET, "channel": "email", "request_id": "mail-1"})
    feed = conforms("listEvents", client.get("/api/events"))
    assert [(e["type"], e["data"]["origin"]) for e in feed["items"]] == [
        ("ticket.created", "api"),
        ("ticket.created", "channel"),
    ]
    later = client.get("/api/events", query_string={"after": feed["items"][0]["id"]}).json
    assert [e["id"] for e in later["items"]] == [feed["items"][1]["id"]] and later["last_id"] == feed["items"][1]["id"]
    assert client.get("/api/events", query_string={"after": later["last_id"]}).json == {
        "items": [],
        "last_id": later["last_id"],
    }


def test_daily_stats_and_history(seeded):
    today = date.today()
    stats = conforms(
        "dailyStats", seeded.get("/api/stats/daily", query_string={"date": today.isoformat(), "tz": "Europe/London"})
    )
    assert stats["date"] == today.isoformat() and stats["backlog"] >= stats["unassigned_backlog"] >= 0
    assert sum(stats["by_priority"].values()) == stats["created"]
    history = conforms("statsHistory", seeded.get("/api/stats/history", query_string={"end": today.isoformat()}))[
        "items"
    ]
    assert len(history) == 14 and history[-1]["date"] == today.isoformat()
    assert sum(day["resolved"] for day in history) > 0
    assert seeded.get("/api/stats/daily").status_code == 400


def test_demo_seed_has_tickets_of_many_ages_and_states(seeded):
    tickets = seeded.get("/api/tickets", query_string={"limit": 1000}).json["items"]
    assert {t["status"] for t in tickets} >= {"assigned", "in_progress", "queued", "ai_responded", "resolved"}
    now = datetime.now(UTC)
    idle = [
        (now - datetime.fromisoformat(t["last_activity_at"].replace("Z", "+00:00"))).total_seconds() / 3600
        for t in tickets
        if t["status"] == "assigned"
    ]
    assert min(idle) < 48 and any(48 <= h < 72 for h in idle) and max(idle) >= 72


@pytest.mark.slow
def test_scale_seed_of_100k_tickets_and_filtered_queries(client):
    assert client.post("/_mock/seed", json={"tickets": 100_000}).json["tickets"] == 100_000
    stale = (datetime.now(UTC) - timedelta(hours=72)).isoformat()
    page = client.get("/api/tickets", query_string={"status": "assigned", "activity_before": stale, "limit": 1000}).json
    assert page["items"] and all(t["last_activity_at"] < stale for t in page["items"])
    plan = client.application.config["DB_PATH"]
    import sqlite3

    conn = sqlite3.connect(plan)
    detail = " ".join(
        row[3]
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM tickets WHERE status IN ('assigned') AND last_activity_at < ? ORDER BY id",
            (stale,),
        )
    )
    assert re.search(r"SEARCH tickets USING (COVERING )?INDEX", detail), detail  # an index, not a scan of 100k rows
    conn.close()


def test_batch_notes_are_idempotent_and_all_or_nothing(seeded):
    client = seeded
    notes = [
        {"ticket_id": t, "author": "support-flows", "author_type": "system", "body": "Escalated.", "key": f"k-{t}"}
        for t in (1, 2, 3)
    ]
    first = conforms("addNotes", client.post("/api/notes/batch", json={"notes": notes}))
    again = client.post("/api/notes/batch", json={"notes": notes}).json
    assert [n["id"] for n in first["items"]] == [n["id"] for n in again["items"]]
    response = client.post("/api/notes/batch", json={"notes": [*notes, {**notes[0], "ticket_id": 999, "key": "k-999"}]})
    assert response.status_code == 404 and response.json["field"] == "notes.ticket_id"
    assert client.post("/api/notes/batch", json={"notes": []}).status_code == 400


def test_the_survey_link_opens_a_page_whose_answer_is_saved_and_announced(seeded):
    client = seeded
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    client.post(f"/api/tickets/{ticket['id']}/assign", json={"agent_id": 4, "assigned_by": "admin"})
    client.post(f"/api/tickets/{ticket['id']}/resolve", json={"agent_id": 4, "resolution_summary": "Done."})
    survey = client.post("/api/surveys", json={"ticket_id": ticket["id"]}).json
    path = survey["url"].removeprefix("http://mock.test")

    page = client.get(path)
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    assert f"ticket #{ticket['id']}" in html and html.count('type="radio" name="rating"') == 5 and "<textarea" in html
    assert client.get("/survey/not-a-token").status_code == 404

    missing = client.post(path, data={"comment": "no stars"})
    assert missing.status_code == 400 and "choose a rating from 1 to 5" in missing.get_data(as_text=True)
    assert "no stars" in missing.get_data(as_text=True)  # what they wrote is kept
    sent = client.post(path, data={"rating": "2", "comment": "Took <a while>."})
    assert sent.status_code == 200 and "Thank you" in sent.get_data(as_text=True)
    (feedback,) = [
        f
        for f in client.get("/api/feedback", query_string={"limit": 1000}).json["items"]
        if f["ticket_id"] == ticket["id"]
    ]
    assert (feedback["rating"], feedback["comment"], feedback["source"]) == (2, "Took <a while>.", "survey")
    events = client.get("/api/events", query_string={"type": "feedback.submitted", "limit": 1000}).json["items"]
    assert events[-1]["data"] == {"feedback_id": feedback["id"], "ticket_id": ticket["id"], "source": "survey"}
    assert "already rated" in client.get(path).get_data(as_text=True)


def test_a_customer_reply_is_a_note_and_an_event_once_per_key(seeded):
    client = seeded
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    reply = client.post(f"/api/tickets/{ticket['id']}/replies", json={"body": "Still broken.", "key": "m-1"})
    assert reply.status_code == 201 and conforms("addCustomerReply", reply)["author_type"] == "customer"
    assert (
        client.post(f"/api/tickets/{ticket['id']}/replies", json={"body": "Still broken.", "key": "m-1"}).status_code
        == 200
    )
    events = client.get("/api/events", query_string={"type": "ticket.customer_replied"}).json["items"]
    assert [e["data"]["ticket_id"] for e in events] == [ticket["id"]]
    assert (
        conforms("getTicket", client.get(f"/api/tickets/{ticket['id']}"))["customer_replied_at"]
        == reply.json["created_at"]
    )
    assert client.post("/api/tickets/99999/replies", json={"body": "x"}).status_code == 404


def test_only_an_ai_answer_can_be_resolved_as_answered_by_ai(seeded):
    client = seeded
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    refused = client.post(f"/api/tickets/{ticket['id']}/resolve", json={"resolution_summary": "x", "resolved_by": "ai"})
    assert refused.status_code == 409 and "only a ticket waiting on the customer" in refused.json["error"]
    no_agent = client.post(f"/api/tickets/{ticket['id']}/resolve", json={"resolution_summary": "x"})
    assert no_agent.status_code == 400 and no_agent.json["field"] == "agent_id"
    client.patch(f"/api/tickets/{ticket['id']}", json={"status": "ai_responded", "ai_response": "Try this."})
    closed = conforms(
        "resolveTicket",
        client.post(f"/api/tickets/{ticket['id']}/resolve", json={"resolution_summary": "x", "resolved_by": "ai"}),
    )
    assert closed["status"] == "resolved" and closed["resolved_by"] == "ai" and closed["agent_id"] is None


def test_requests_share_pooled_connections_and_a_failed_one_leaves_no_transaction_open(tmp_path, monkeypatch):
    import sqlite3

    from mock_backend import db, store

    app = create_app(str(tmp_path / "mock.sqlite"), public_url="http://mock.test")

    @app.post("/_test/half-done")
    def half_done():
        db().execute("BEGIN IMMEDIATE")
        db().execute("DELETE FROM tickets")
        raise RuntimeError("the request fails in the middle of its transaction")

    opened = []
    original = store.connect
    monkeypatch.setattr(store, "connect", lambda path: opened.append(path) or original(path))
    client = app.test_client()
    ticket = client.post("/api/tickets", json=NEW_TICKET).json
    for _ in range(20):
        assert client.get(f"/api/tickets/{ticket['id']}").status_code == 200
    assert len(opened) == 1  # not one per request: closing a WAL database's last connection checkpoints it

    assert client.post("/_test/half-done").status_code == 500
    other = sqlite3.connect(tmp_path / "mock.sqlite", timeout=0.5)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free again: the failed request was rolled back
    other.rollback()
    assert client.get(f"/api/tickets/{ticket['id']}").json["id"] == ticket["id"]


def test_the_sla_bookkeeping_first_response_waiting_periods_and_reopens(seeded):
    """What the SLA clocks read: the agent's responses (a customer's reply does not count), the
    periods the ticket waited on the customer, and reopens (counted for the agent who had it)."""
    client = seeded
    ticket = conforms("createTicket", client.post("/api/tickets", json=NEW_TICKET))
    tid = ticket["id"]
    assert (ticket["first_response_at"], ticket["waiting_periods"], ticket["reopen_count"]) == (None, [], 0)
    agent = client.get("/api/agents", query_string={"role": "agent"}).json["items"][0]
    client.post(f"/api/tickets/{tid}/assign", json={"agent_id": agent["id"], "assigned_by": "admin"})
    client.post(f"/api/tickets/{tid}/replies", json={"body": "Any news?"})
    assert client.get(f"/api/tickets/{tid}").json["first_response_at"] is None  # the customer's words

    asked = conforms("updateTicket", client.patch(f"/api/tickets/{tid}", json={"status": "pending"}))
    assert asked["first_response_at"] == asked["agent_responded_at"] is not None  # a question is a response
    assert [p["until"] for p in asked["waiting_periods"]] == [None]
    back = client.patch(f"/api/tickets/{tid}", json={"status": "assigned"}).json
    assert back["waiting_periods"][0]["until"] is not None
    assert back["first_response_at"] == asked["first_response_at"]  # set once

    day = datetime.now(UTC).date().isoformat()
    responded = client.get("/api/tickets", query_string={"responded_on": day}).json["items"]
    assert tid in [t["id"] for t in responded]

    client.post(
        f"/api/tickets/{tid}/resolve", json={"agent_id": agent["id"], "resolution_summary": "Reset the password."}
    )
    reopened = client.patch(f"/api/tickets/{tid}", json={"status": "queued"}).json
    assert reopened["reopen_count"] == 1
    stats = conforms("dailyStats", client.get("/api/stats/daily", query_string={"date": day}))
    assert stats["reopened"] >= 1
    assert next(a for a in stats["by_agent"] if a["agent_id"] == agent["id"])["reopened"] == 1
