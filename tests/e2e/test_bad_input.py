"""At least 50 malformed REST payloads across the event DAGs, sent the way PowerApps sends them:
each is refused with HTTP 400 naming the field, and no run is created. Markup, SQL and odd
Unicode that are valid text are accepted and handled safely (escaped in e-mails)."""

from __future__ import annotations

import pytest

from e2e_support import NEW_TICKET, Client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TICKET = {k: v for k, v in NEW_TICKET.items() if k != "request_id"}
ASSIGN = {"ticket_id": 1, "agent_id": 3, "assigned_by": "admin"}
RESOLVE = {"ticket_id": 1, "agent_id": 3, "resolution_summary": "Done."}
FEEDBACK = {"ticket_id": 1, "rating": 4}


def without(payload: dict, key: str) -> dict:
    return {k: v for k, v in payload.items() if k != key}


MALFORMED = [
    # support_ticket_created: missing fields
    *[
        ("support_ticket_created", without(TICKET, key), key)
        for key in ("customer_name", "customer_email", "subject", "description")
    ],
    # unknown and misspelled fields
    ("support_ticket_created", {**TICKET, "priorty": "high"}, "priorty"),
    ("support_ticket_created", {**TICKET, "ticket_id": 5}, "ticket_id"),
    ("support_ticket_created", {**TICKET, "Customer_Name": "x"}, "Customer_Name"),
    # wrong types
    ("support_ticket_created", {**TICKET, "customer_name": 42}, "customer_name"),
    ("support_ticket_created", {**TICKET, "subject": ["a"]}, "subject"),
    ("support_ticket_created", {**TICKET, "description": {"text": "x"}}, "description"),
    ("support_ticket_created", {**TICKET, "priority": 1}, "priority"),
    ("support_ticket_created", {**TICKET, "channel": True}, "channel"),
    ("support_ticket_created", {**TICKET, "request_id": 123}, "request_id"),
    # empty and oversized strings
    ("support_ticket_created", {**TICKET, "customer_name": ""}, "customer_name"),
    ("support_ticket_created", {**TICKET, "subject": ""}, "subject"),
    ("support_ticket_created", {**TICKET, "description": ""}, "description"),
    ("support_ticket_created", {**TICKET, "customer_name": "x" * 201}, "customer_name"),
    ("support_ticket_created", {**TICKET, "subject": "x" * 201}, "subject"),
    ("support_ticket_created", {**TICKET, "description": "x" * 20001}, "description"),
    ("support_ticket_created", {**TICKET, "request_id": ""}, "request_id"),
    ("support_ticket_created", {**TICKET, "request_id": "r" * 101}, "request_id"),
    # invalid e-mails
    *[
        ("support_ticket_created", {**TICKET, "customer_email": email}, "customer_email")
        for email in (
            "plainaddress",
            "@example.org",
            "maria@",
            "maria@example",
            "maria example@example.org",
            "maria@@example.org",
            "<maria@example.org>",
            "maria@example.org, evil@example.org",
            "",
        )
    ],
    # enums
    ("support_ticket_created", {**TICKET, "priority": "whenever"}, "priority"),
    ("support_ticket_created", {**TICKET, "priority": "HIGH"}, "priority"),
    ("support_ticket_created", {**TICKET, "channel": "fax"}, "channel"),
    # support_ticket_assigned
    *[("support_ticket_assigned", without(ASSIGN, key), key) for key in ASSIGN],
    ("support_ticket_assigned", {**ASSIGN, "ticket_id": 0}, "ticket_id"),
    ("support_ticket_assigned", {**ASSIGN, "ticket_id": -4}, "ticket_id"),
    ("support_ticket_assigned", {**ASSIGN, "ticket_id": "7"}, "ticket_id"),
    ("support_ticket_assigned", {**ASSIGN, "agent_id": 1.5}, "agent_id"),
    ("support_ticket_assigned", {**ASSIGN, "assigned_by": ""}, "assigned_by"),
    ("support_ticket_assigned", {**ASSIGN, "agent": 3}, "agent"),
    # support_ticket_resolved
    *[("support_ticket_resolved", without(RESOLVE, key), key) for key in RESOLVE],
    ("support_ticket_resolved", {**RESOLVE, "resolution_summary": ""}, "resolution_summary"),
    ("support_ticket_resolved", {**RESOLVE, "resolution_summary": "x" * 20001}, "resolution_summary"),
    ("support_ticket_resolved", {**RESOLVE, "send_survey": "yes"}, "send_survey"),
    ("support_ticket_resolved", {**RESOLVE, "survey": True}, "survey"),
    # support_feedback_received
    *[("support_feedback_received", without(FEEDBACK, key), key) for key in FEEDBACK],
    ("support_feedback_received", {**FEEDBACK, "rating": 0}, "rating"),
    ("support_feedback_received", {**FEEDBACK, "rating": 6}, "rating"),
    ("support_feedback_received", {**FEEDBACK, "rating": 4.5}, "rating"),
    ("support_feedback_received", {**FEEDBACK, "rating": "5"}, "rating"),
    ("support_feedback_received", {**FEEDBACK, "comment": "x" * 5001}, "comment"),
    ("support_feedback_received", {**FEEDBACK, "stars": 5}, "stars"),
]


def test_there_are_at_least_50_cases():
    assert len(MALFORMED) >= 50


@pytest.mark.parametrize(
    "dag_id, conf, field", MALFORMED, ids=[f"{d}-{f}-{i}" for i, (d, _, f) in enumerate(MALFORMED)]
)
def test_malformed_payload_is_refused_naming_the_field(stack, dag_id, conf, field):
    client, admin = Client(stack), Client(stack, "admin")  # PowerApps reads no runs: an admin counts them
    before = admin.run_count(dag_id)  # every page, not the first 50
    response = client.trigger(dag_id, conf)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]
    assert admin.run_count(dag_id) == before


@pytest.mark.parametrize(
    "subject",
    [
        "<img src=x onerror=alert(1)>",
        "'; DROP TABLE tickets; --",
        "\u202egnp.exe",
        "Zalgo t\u0337\u0321e\u0334xt",
        "\U0001f4a9 emoji",
        "\u0000nul inside".replace("\u0000", ""),
    ],
)
def test_markup_sql_and_odd_unicode_are_accepted_and_escaped(stack, subject):
    import time

    import requests

    client = Client(stack)
    response = client.trigger("support_ticket_created", {**TICKET, "subject": subject, "description": subject})
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]
    assert client.wait("support_ticket_created", run_id) == "success"
    ticket_id = client.output("support_ticket_created", run_id, "answer_or_queue")["ticket_id"]
    assert requests.get(f"{stack.mock_url}/api/tickets/{ticket_id}", timeout=10).json()["subject"] == subject
    deadline = time.monotonic() + 30
    mail = None
    while mail is None and time.monotonic() < deadline:
        mail = next(
            (
                m
                for m in requests.get(f"{stack.mock_url}/_mock/mail", timeout=10).json()["items"]
                if f"#{ticket_id}]" in m["subject"]
            ),
            None,
        )
        time.sleep(0.2)
    assert mail is not None and "<img src=x" not in mail["body"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"dag_run_id": "backend_event__1", "conf": TICKET}, 400, "dag_run_id: runs of support_ticket_created"),
        (b'{"conf": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "body: JSON nested deeper than"),
        ({"conf": {**TICKET, "description": "x" * 300_000}}, 413, "body: "),
    ],
    ids=["caller-chosen run id", "nested 50,000 deep", "300 kB body"],
)
def test_hostile_bodies_get_4xx_from_the_live_api_server_and_start_nothing(stack, body, status, detail):
    import json

    client, admin = Client(stack), Client(stack, "admin")
    before = admin.run_count("support_ticket_created")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.session.post(
        f"{client.base}/api/v2/dags/support_ticket_created/dagRuns",
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail)
    assert admin.run_count("support_ticket_created") == before
