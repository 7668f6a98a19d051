"""The Graph mock held to Microsoft's published schema (mock_backend/graph-v1.0-subset.csdl.xml,
from microsoftgraph/msgraph-metadata): every property the mock accepts exists on its Graph type,
every body is read as Graph's OData reader reads it, and what the flows send passes."""

from __future__ import annotations

import pytest
from test_graph_rules import EVENT, MESSAGE, bearer, refused

from mock_backend import create_app
from mock_backend.graph import calendar, planner
from mock_backend.graph import mail as mail_area
from mock_backend.graph_schema import SchemaError, graph_schema


@pytest.fixture
def client(tmp_path):
    app = create_app(str(tmp_path / "mock.sqlite"), public_url="http://mock.test")
    test_client = app.test_client()
    test_client.post("/_mock/seed")
    return test_client


@pytest.mark.parametrize(
    "accepted, graph_type",
    [
        (mail_area.MESSAGE_PROPERTIES, "message"),
        (calendar.EVENT_PROPERTIES, "event"),
        (planner.TASK_PROPERTIES, "plannerTask"),
        (planner.DETAILS_PROPERTIES, "plannerTaskDetails"),
    ],
)
def test_every_property_the_mock_accepts_is_one_graph_declares(accepted, graph_type):
    declared = graph_schema().properties(graph_type)
    assert accepted <= set(declared), f"not on microsoft.graph.{graph_type}: {sorted(accepted - set(declared))}"


def test_sendmail_takes_graphs_parameters_only():
    schema = graph_schema()
    assert {name.lower() for name in schema.actions["sendMail"].parameters} == {"message", "savetosentitems"}
    with pytest.raises(SchemaError, match="required"):
        schema.check_action({"saveToSentItems": False}, "sendMail")


@pytest.mark.parametrize(
    "path, body, says",
    [
        (
            "/graph/v1.0/users/alan.turing@support.example.com/sendMail",
            {"message": {**MESSAGE, "importance": "urgent"}},
            "not a member of microsoft.graph.importance",
        ),
        (
            "/graph/v1.0/users/alan.turing@support.example.com/sendMail",
            {"message": {**MESSAGE, "isReadReceiptRequested": "yes"}},
            "Edm.Boolean",
        ),
        (
            "/graph/v1.0/users/alan.turing@support.example.com/sendMail",
            {"message": {**MESSAGE, "categories": ["Support", 7]}},
            "Cannot convert the literal 7 to the expected type 'Edm.String'",
        ),
        (
            "/graph/v1.0/users/alan.turing@support.example.com/sendMail",
            {"message": {**MESSAGE, "toRecipients": [{"emailAddress": {"address": "a@example.org", "nick": "A"}}]}},
            "The property 'nick' does not exist on type 'microsoft.graph.emailAddress'",
        ),
        (
            "/graph/v1.0/users/alan.turing@support.example.com/events",
            {**EVENT, "reminderMinutesBeforeStart": "15"},
            "Edm.Int32",
        ),
        (
            "/graph/v1.0/users/alan.turing@support.example.com/events",
            {**EVENT, "showAs": "away"},
            "not a member of microsoft.graph.freeBusyStatus",
        ),
    ],
)
def test_a_body_graphs_schema_refuses_is_400_naming_what(client, path, body, says):
    error = refused(client.post(path, json=body, headers=bearer(client)), 400, "BadRequest")
    assert says in error["message"]


def test_what_the_flows_send_is_graph_shaped(run_dag, mock):
    """Driven through the DAGs: an AI answer and an acknowledgement, a calendar reminder, a
    Planner task with its details; each body the mock kept validates against Graph's schema
    (the mock refuses the rest already, so each flow's own tests hold it too)."""
    mock.seed()
    answered = run_dag(
        "support_ticket_created",
        {
            "customer_name": "Ana",
            "customer_email": "ana@example.org",
            "subject": "Password",
            "description": "I forgot my password and cannot log in.",
            "priority": "normal",
        },
    )
    assert answered.state == "success", answered
    ticket = mock.post(
        "/api/tickets",
        {"customer_name": "Bo", "customer_email": "bo@example.org", "subject": "Broken", "description": "It broke."},
    )
    assert (
        run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 4, "assigned_by": "admin"}).state
        == "success"
    )
    mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 4, "resolution_summary": "Fixed."})
    assert (
        run_dag("support_feedback_received", {"ticket_id": ticket["id"], "rating": 1, "comment": "Slow."}).state
        == "success"
    )

    schema = graph_schema()
    mails, events, tasks = mock.mail(), mock.get("/_mock/events")["items"], mock.get("/_mock/tasks")["items"]
    assert mails and events and tasks
    for mail in mails:
        schema.check(mail["message"], "message")
    for event in events:
        schema.check({k: v for k, v in event.items() if k != "mailbox"}, "event")  # mailbox: the mock's own
    for task in tasks:
        details = task.pop("details")
        schema.check(task, "plannerTask")
        schema.check(details, "plannerTaskDetails")


def test_a_derived_type_must_derive_from_the_declared_one():
    schema = graph_schema()
    schema.check(
        {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.png", "contentBytes": "aGk="}, "attachment"
    )
    with pytest.raises(SchemaError, match="does not derive from microsoft.graph.attachment"):
        schema.check({"@odata.type": "#microsoft.graph.event", "name": "x"}, "attachment")
