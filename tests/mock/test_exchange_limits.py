"""The mock holds Exchange Online's sending limits and the Outlook service's throttling per sender
mailbox (mock_backend.exchange): 30 messages a minute (the rest wait in the Outbox), 10,000
recipients a day (past it: a non-delivery report), 4 concurrent requests and 10,000 requests in
10 minutes (429 ApplicationThrottled with Retry-After); and the draft-then-send road the flows use
for exactly-once mail, with the fault that accepts a request and loses its answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from mock_backend import create_app
from mock_backend.exchange import Limits

SENDER = "support@helpdesk.test"
MESSAGE = {
    "subject": "Hello",
    "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
    "toRecipients": [{"emailAddress": {"address": "maria@example.org"}}],
}
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def client(tmp_path, clock):
    app = create_app(str(tmp_path / "mock.sqlite"), public_url="http://mock.test")
    test_client = app.test_client()
    test_client.post("/_mock/seed")
    token = test_client.post(
        "/t/oauth2/v2.0/token", data={"grant_type": "client_credentials", "client_id": "app", "client_secret": "s"}
    ).json["access_token"]
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


def send(client, message=MESSAGE, mailbox=SENDER):
    return client.post(f"/graph/v1.0/users/{mailbox}/sendMail", json={"message": message})


def mail(client) -> list[dict]:
    return client.get("/_mock/mail").json["items"]


def test_the_defaults_are_microsofts_published_limits():
    assert Limits() == Limits(
        messages_per_minute=30, recipients_per_day=10_000, concurrent_requests=4, requests_per_10_minutes=10_000
    )


def test_past_30_messages_a_minute_mail_is_accepted_and_leaves_the_outbox_later(client, clock):
    answers = [send(client).status_code for _ in range(75)]
    assert answers == [202] * 75  # never refused: Exchange queues it
    items = mail(client)
    left = [datetime.fromisoformat(m["left_outbox_at"]) for m in items]
    assert left[:30] == [START] * 30
    assert left[30:60] == [START + timedelta(minutes=1)] * 30
    assert left[60:] == [START + timedelta(minutes=2)] * 15
    assert [m["status"] for m in items].count("outbox") == 45
    clock.shift(timedelta(minutes=1))
    assert [m["status"] for m in mail(client)].count("outbox") == 15
    clock.shift(timedelta(minutes=1))
    assert {m["status"] for m in mail(client)} == {"sent"}


def test_the_message_rate_is_per_mailbox(client):
    for _ in range(30):
        send(client)
    send(client, mailbox="sysadmin@helpdesk.test")
    assert mail(client)[-1]["status"] == "sent"


def test_past_10000_recipients_a_day_a_message_bounces_with_a_non_delivery_report(client, clock):
    client.put("/_mock/limits", json={"recipients_per_day": 5, "messages_per_minute": 100})
    two = {**MESSAGE, "ccRecipients": [{"emailAddress": {"address": "jo@example.org"}}]}
    assert [send(client, two).status_code for _ in range(3)] == [202, 202, 202]  # 2 + 2 + (2 > 1 left)
    assert [m["status"] for m in mail(client)] == ["sent", "sent", "undeliverable"]
    (report,) = client.get("/_mock/inbox").json["items"]
    assert report["mailbox"] == SENDER and report["subject"] == "Undeliverable: Hello"
    assert "SubmissionQuotaExceededException" in report["body"]
    assert send(client).status_code == 202 and mail(client)[-1]["status"] == "sent"  # one recipient still fits
    clock.shift(timedelta(hours=24))  # a rolling day later the count has rolled over
    assert send(client, two).status_code == 202 and mail(client)[-1]["status"] == "sent"


def test_past_10000_requests_in_10_minutes_graph_answers_429_until_the_window_moves(client, clock):
    client.put("/_mock/limits", json={"requests_per_10_minutes": 3})
    assert [send(client).status_code for _ in range(3)] == [202] * 3
    throttled = send(client)
    assert throttled.status_code == 429
    assert throttled.json["error"]["code"] == "ApplicationThrottled"
    assert "10 minutes" in throttled.json["error"]["message"]
    assert int(throttled.headers["Retry-After"]) == 600
    assert client.get(f"/graph/v1.0/users/{SENDER}/messages?$filter=internetMessageId eq '<a@b>'").status_code == 429
    assert send(client, mailbox="sysadmin@helpdesk.test").status_code == 202  # per mailbox
    clock.shift(timedelta(minutes=10))
    assert send(client).status_code == 202


def test_a_time_scale_runs_the_windows_faster(client, clock):
    client.put("/_mock/limits", json={"time_scale": 24, "messages_per_minute": 2})
    for _ in range(3):
        send(client)
    assert datetime.fromisoformat(mail(client)[-1]["left_outbox_at"]) == START + timedelta(seconds=2.5)


@pytest.mark.parametrize(
    "body, named",
    [({"messages_per_minute": 0}, "messages_per_minute"), ({"per_hour": 3}, "per_hour"), ([], None)],
)
def test_limits_that_cannot_be_are_refused_naming_the_field(client, body, named):
    answer = client.put("/_mock/limits", json=body)
    assert answer.status_code == 400
    assert answer.json["field"] == named
    assert client.get("/_mock/limits").json["messages_per_minute"] == 30


def test_a_reset_restores_the_limits_and_forgets_the_counts(client):
    client.put("/_mock/limits", json={"messages_per_minute": 1})
    send(client)
    client.post("/_mock/reset")
    client.post("/_mock/seed")
    assert client.get("/_mock/limits").json["messages_per_minute"] == 30
    assert send(client).status_code == 202 and mail(client)[0]["status"] == "sent"


# --- drafts: the road to exactly-once ------------------------------------------------------------------


def test_a_draft_is_not_sent_until_sent_and_cannot_be_sent_twice(client):
    marked = {**MESSAGE, "internetMessageId": "<mail-1@support-flows>"}
    created = client.post(f"/graph/v1.0/users/{SENDER}/messages", json=marked)
    assert created.status_code == 201 and created.json["isDraft"] is True
    assert mail(client) == []
    find = f"/graph/v1.0/users/{SENDER}/messages?$filter=internetMessageId eq '<mail-1@support-flows>'"
    assert [m["isDraft"] for m in client.get(find).json["value"]] == [True]
    draft_id = created.json["id"]
    assert client.post(f"/graph/v1.0/users/{SENDER}/messages/{draft_id}/send").status_code == 202
    (sent,) = mail(client)
    assert sent["to"] == ["maria@example.org"] and sent["message"]["internetMessageId"] == "<mail-1@support-flows>"
    again = client.post(f"/graph/v1.0/users/{SENDER}/messages/{draft_id}/send")
    assert again.status_code == 404 and again.json["error"]["code"] == "ErrorItemNotFound"
    assert [m["isDraft"] for m in client.get(find).json["value"]] == [False]  # now in Sent Items
    assert len(mail(client)) == 1


def test_a_malformed_internet_message_id_and_other_filters_are_refused(client):
    bad = client.post(f"/graph/v1.0/users/{SENDER}/messages", json={**MESSAGE, "internetMessageId": "no-brackets"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "ErrorInvalidInternetMessageId"
    other = client.get(f"/graph/v1.0/users/{SENDER}/messages?$filter=subject eq 'x'")
    assert other.status_code == 400


def test_a_fault_that_accepts_does_the_work_and_then_loses_the_answer(client):
    client.post("/_mock/faults", json=[{"path": "/sendMail$", "accept": True}])
    lost = send(client)
    assert lost.status_code == 504 and lost.json["error"]["code"] == "GatewayTimeout"
    assert len(mail(client)) == 1  # Graph took it: a blind retry would send it twice
    assert send(client).status_code == 202


def test_a_fault_that_accepts_must_answer_an_error(client):
    answer = client.post("/_mock/faults", json=[{"path": "x", "accept": True, "status": 200}])
    assert answer.status_code == 400 and "accepts" in answer.json["error"]


def test_a_plans_tasks_can_be_listed(client):
    created = client.post("/graph/v1.0/planner/tasks", json={"planId": "support-follow-ups", "title": "Call back"})
    assert created.status_code == 201, created.json
    listed = client.get("/graph/v1.0/planner/plans/support-follow-ups/tasks").json["value"]
    assert [t["id"] for t in listed] == [created.json["id"]]
    assert client.get("/graph/v1.0/planner/plans/nope/tasks").status_code == 404
