"""The one-call API (``/support/v1/flows/{dag_id}``) on the README stack, called with the PowerApps
connection's integration key as the connector calls it: one request starts a flow and answers its
outcome; a retried request answers the first run; a slow run answers 202 and where to ask."""

from __future__ import annotations

import time

import pytest
import requests

from e2e_support import NEW_TICKET, Client, mock_get
from support_flows.authoring.catalog import check_outcome

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Maker:
    """A PowerApps connection: the stack's integration key on every call."""

    def __init__(self, stack, key: str | None = None):
        self.base = f"{stack.airflow_url}/support/v1"
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = key or stack.api_key_file.read_text().strip()

    @staticmethod
    def flows() -> list[str]:
        from support_flows.server.flow_calls import powerapps_flows

        return powerapps_flows()

    def call(self, dag_id: str, body: dict, *, headers: dict | None = None, **params) -> requests.Response:
        return self.session.post(f"{self.base}/flows/{dag_id}", json=body, headers=headers, params=params, timeout=130)


def mails_to(stack, address: str) -> list[dict]:
    return [m for m in mock_get(stack, "/_mock/mail")["items"] if m["to"] == [address]]


def test_each_flow_is_one_call_that_answers_its_typed_outcome(stack):
    maker = Maker(stack)
    address = "one.call@example.org"
    created = maker.call(  # (up to 90 s: in a random order this may be a busy stack's first run)
        "support_ticket_created", {**NEW_TICKET, "customer_email": address, "request_id": "one-call-1"}, wait_seconds=90
    )
    assert created.status_code == 200, created.text
    answer = created.json()
    assert answer["state"] == "success" and answer["reason_code"] is None and answer["run_id"]
    assert answer["status"] == "ai_responded" and answer["customer_notified"] is True
    check_outcome("support_ticket_created", {k: v for k, v in answer.items() if k not in outcomes_run_fields()})
    ticket_id = answer["ticket_id"]
    assert [f"#{ticket_id}" in m["subject"] for m in mails_to(stack, address)] == [True]  # the customer has it
    # Airflow's audit log has the trigger, by the key's user, naming the fields Airflow got: the
    # customer's were kept out of Airflow (server/personal.py)
    audit = Client(stack, "admin").session.get(
        f"{stack.airflow_url}/api/v2/eventLogs",
        params={"dag_id": "support_ticket_created", "run_id": answer["run_id"], "event": "trigger_dag_run"},
        timeout=30,
    )
    (entry,) = audit.json()["event_logs"]
    assert entry["owner"] == "powerapps" and "request_id" in entry["extra"]
    assert "customer_email" not in entry["extra"] and address not in entry["extra"]

    steps = [
        ("support_ticket_assigned", {"ticket_id": ticket_id, "agent_id": 3, "assigned_by": "PowerApps admin"},
         {"assignment_status": "assigned", "agent_notification_status": "sent"}),
        ("support_ticket_resolved", {"ticket_id": ticket_id, "agent_id": 3, "resolution_summary": "Reset."},
         {"resolution_status": "resolved", "customer_notification_status": "sent", "survey_status": "sent"}),
        ("support_feedback_received", {"ticket_id": ticket_id, "rating": 2},
         {"rating": 2, "feedback_processing_status": "processed"}),
    ]  # fmt: skip
    for dag_id, body, expected in steps:
        response = maker.call(dag_id, body)
        assert response.status_code == 200, (dag_id, response.text)
        answer = response.json()
        assert answer["state"] == "success", (dag_id, answer)
        assert {k: answer.get(k) for k in expected} == expected, (dag_id, answer)
        check_outcome(dag_id, {k: v for k, v in answer.items() if k not in outcomes_run_fields()})
    assert answer["followup_task_id"] in {t["id"] for t in mock_get(stack, "/_mock/tasks")["items"]}


def outcomes_run_fields() -> set[str]:
    return {"run_id", "state", "reason_code", "reason_message"}


def test_a_retried_call_answers_the_first_run_and_nothing_happens_twice(stack):
    maker, admin = Maker(stack), Client(stack, "admin")
    address = "retried.call@example.org"
    body = {**NEW_TICKET, "customer_email": address, "request_id": None, "subject": "Retried"}
    body.pop("request_id")
    before = admin.run_count("support_ticket_created")
    first = maker.call("support_ticket_created", body, headers={"Idempotency-Key": "pa-retry-7"})
    again = maker.call("support_ticket_created", body, headers={"Idempotency-Key": "pa-retry-7"})
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert admin.run_count("support_ticket_created") == before + 1
    assert len(mails_to(stack, address)) == 1
    changed = maker.call(
        "support_ticket_created", {**body, "subject": "Other"}, headers={"Idempotency-Key": "pa-retry-7"}
    )
    assert changed.status_code == 422 and "Idempotency-Key" in changed.json()["detail"]
    # a new ticket's request_id is its key without the header
    by_request_id = [maker.call("support_ticket_created", {**body, "request_id": "pa-request-9"}) for _ in range(2)]
    assert by_request_id[0].json()["run_id"] == by_request_id[1].json()["run_id"]
    assert admin.run_count("support_ticket_created") == before + 2


def test_a_run_still_going_answers_202_then_its_location_answers_the_outcome(stack):
    maker = Maker(stack)
    started = maker.call("support_ticket_created", {**NEW_TICKET, "request_id": "one-call-202"}, wait_seconds=0)
    assert started.status_code == 202, started.text
    assert started.json()["state"] in ("queued", "running") and int(started.headers["Retry-After"]) >= 1
    location = started.headers["Location"]
    from urllib.parse import unquote

    assert location.startswith(stack.airflow_url) and started.json()["run_id"] in unquote(location)
    deadline = time.monotonic() + 120
    while True:  # as Power Automate does: GET Location after Retry-After until it is not 202
        polled = maker.session.get(location, timeout=130)
        if polled.status_code != 202 or time.monotonic() > deadline:
            break
        time.sleep(int(polled.headers["Retry-After"]))
    assert polled.status_code == 200 and polled.json()["state"] == "success", polled.text
    assert polled.json()["run_id"] == started.json()["run_id"] and polled.json()["ticket_id"] >= 1


def test_a_run_that_fails_on_its_input_answers_the_reason(stack):
    response = Maker(stack).call("support_ticket_assigned", {"ticket_id": 987654, "agent_id": 3, "assigned_by": "PA"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["state"] == "failed" and answer["reason_code"] == "unknown_ticket"
    assert answer["reason_message"] == "ticket_id: ticket 987654 does not exist"


@pytest.mark.parametrize(
    "dag_id, body, params, status, named",
    [
        ("support_no_such_flow", {}, {}, 404, "support_no_such_flow"),
        ("support_daily_summary", {}, {}, 404, "support_daily_summary"),  # not a PowerApps flow
        ("support_ticket_created", {**NEW_TICKET, "customer_emial": "x@example.org"}, {}, 400, "customer_emial"),
        ("support_ticket_created", {**NEW_TICKET, "customer_email": "not-an-address"}, {}, 400, "customer_email"),
        ("support_ticket_created", {**NEW_TICKET, "ticket_id": 5}, {}, 400, "ticket_id"),  # the watcher's field
        ("support_feedback_received", {"ticket_id": 1, "rating": 6}, {}, 400, "rating"),
        # PostgreSQL stores no NUL: refused naming the field, not a server error (schemathesis found it)
        ("support_ticket_assigned", {"ticket_id": 1, "agent_id": 3, "assigned_by": "a\x00b"}, {}, 400, "assigned_by"),
        ("support_ticket_created", NEW_TICKET, {"wait_seconds": 101}, 400, "wait_seconds"),
        ("support_ticket_created", ["a list"], {}, 400, "body"),
    ],
)
def test_bad_calls_are_refused_naming_what_is_wrong_and_start_nothing(stack, dag_id, body, params, status, named):
    admin = Client(stack, "admin")
    counted = dag_id if dag_id in Maker.flows() else "support_ticket_created"
    before = admin.run_count(counted)
    response = Maker(stack).call(dag_id, body, **params)
    assert response.status_code == status and named in str(response.json()["detail"]), response.text
    assert admin.run_count(counted) == before


def test_keys_and_runs_that_are_not_yours(stack):
    anonymous = requests.post(
        f"{stack.airflow_url}/support/v1/flows/support_ticket_created", json=NEW_TICKET, timeout=30
    )
    assert anonymous.status_code == 401
    wrong = Maker(stack, key="sfk_000000000000_" + "x" * 43).call("support_ticket_created", NEW_TICKET)
    assert wrong.status_code == 401
    maker = Maker(stack)
    assert maker.session.get(f"{maker.base}/flows", timeout=30).json() == {"flows": Maker.flows()}
    assert set(Maker.flows()) == {
        "support_ticket_created",
        "support_ticket_assigned",
        "support_ticket_resolved",
        "support_feedback_received",
    }
    # a run an admin started is not the key's to read: 404, as if it did not exist
    admin = Client(stack, "admin")
    theirs = admin.trigger("support_ticket_created", {**NEW_TICKET, "request_id": "admin-own-run"}).json()["dag_run_id"]
    peek = maker.session.get(f"{maker.base}/flows/support_ticket_created/runs/{theirs}", params={"wait_seconds": 0})
    assert peek.status_code == 404 and theirs in peek.json()["detail"]
    # the key's own run: readable by it, and by an admin (who may manage every run)
    mine = maker.call("support_ticket_created", {**NEW_TICKET, "request_id": "key-own-run"}, wait_seconds=0).json()
    url = f"{maker.base}/flows/support_ticket_created/runs/{mine['run_id']}"
    assert maker.session.get(url, params={"wait_seconds": 0}, timeout=30).status_code in (200, 202)
    assert admin.session.get(url, params={"wait_seconds": 0}, timeout=30).status_code in (200, 202)
