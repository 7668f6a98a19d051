"""The mock's Microsoft Graph subset and its /_mock/ inspection, seeding and fault injection."""

from __future__ import annotations

import time

import pytest

from mock_backend import create_app


@pytest.fixture
def client(tmp_path):
    return create_app(str(tmp_path / "mock.sqlite"), public_url="http://mock.test").test_client()


@pytest.fixture
def auth(client):
    token = client.post(
        "/mock-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app",
            "client_secret": "s",
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json["access_token"]
    return {"Authorization": f"Bearer {token}"}


MESSAGE = {
    "subject": "Hello",
    "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
    "toRecipients": [{"emailAddress": {"address": "maria@example.org"}}],
    "internetMessageHeaders": [{"name": "x-support-flows-key", "value": "k1"}],
}


def test_token_endpoint_follows_client_credentials(client):
    assert client.post("/t/oauth2/v2.0/token", data={"grant_type": "password"}).status_code == 400
    assert client.post("/t/oauth2/v2.0/token", data={"grant_type": "client_credentials"}).status_code == 401
    discovery = client.get("/t/v2.0/.well-known/openid-configuration").json
    assert discovery["token_endpoint"].endswith("/t/oauth2/v2.0/token")


def test_graph_refuses_anonymous_calls(client):
    response = client.post("/graph/v1.0/users/support@helpdesk.test/sendMail", json={"message": MESSAGE})
    assert response.status_code == 401 and response.json["error"]["code"] == "InvalidAuthenticationToken"


def test_send_mail_lands_in_the_outbox(client, auth):
    response = client.post(
        "/graph/v1.0/users/support@helpdesk.test/sendMail",
        json={"message": MESSAGE, "saveToSentItems": True},
        headers=auth,
    )
    assert response.status_code == 202
    (mail,) = client.get("/_mock/mail").json["items"]
    assert mail["from"] == "support@helpdesk.test" and mail["to"] == ["maria@example.org"]
    assert (
        mail["subject"] == "Hello" and mail["body"] == "<p>Hi</p>" and mail["headers"] == {"x-support-flows-key": "k1"}
    )


@pytest.mark.parametrize(
    "message, code",
    [
        ({**MESSAGE, "toRecipients": []}, "ErrorInvalidRecipients"),
        ({**MESSAGE, "toRecipients": [{"emailAddress": {"address": "nobody"}}]}, "ErrorInvalidRecipients"),
        ({**MESSAGE, "internetMessageHeaders": [{"name": "Subject", "value": "x"}]}, "InvalidInternetMessageHeader"),
    ],
)
def test_bad_mail_is_refused_like_graph_does(client, auth, message, code):
    response = client.post("/graph/v1.0/users/support@helpdesk.test/sendMail", json={"message": message}, headers=auth)
    assert response.status_code == 400 and response.json["error"]["code"] == code
    assert client.get("/_mock/mail").json["items"] == []


def test_calendar_event_honours_transaction_id(client, auth):
    event = {
        "subject": "Follow up",
        "start": {"dateTime": "2026-11-26T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-26T10:30:00", "timeZone": "UTC"},
        "transactionId": "ticket-7-reminder",
    }
    first = client.post("/graph/v1.0/users/support@helpdesk.test/events", json=event, headers=auth)
    second = client.post("/graph/v1.0/users/support@helpdesk.test/events", json=event, headers=auth)
    assert first.status_code == second.status_code == 201 and first.json["id"] == second.json["id"]
    assert len(client.get("/_mock/events").json["items"]) == 1
    assert (
        client.post("/graph/v1.0/users/support@helpdesk.test/events", json={"subject": "x"}, headers=auth).status_code
        == 400
    )


def test_sharepoint_upload_and_read_back(client, auth):
    path = "/graph/v1.0/sites/support-reports/drive/root:/Reports/2026/11/summary.csv:/content"
    first = client.put(path, data=b"a,b\n1,2\n", headers={**auth, "Content-Type": "text/csv"})
    assert first.status_code == 201 and first.json["name"] == "summary.csv" and first.json["size"] == 8
    again = client.put(path, data=b"a,b\n1,3\n", headers={**auth, "Content-Type": "text/csv"})
    assert again.status_code == 200 and again.json["version"] == 2
    (listed,) = client.get("/_mock/files").json["items"]
    assert listed["path"] == "Reports/2026/11/summary.csv" and listed["version"] == 2
    assert client.get("/_mock/files/Reports/2026/11/summary.csv").data == b"a,b\n1,3\n"
    assert client.get("/_mock/files/nothing/here").status_code == 404


def test_planner_task(client, auth):
    task = client.post(
        "/graph/v1.0/planner/tasks", json={"planId": "support-follow-ups", "title": "Call the customer"}, headers=auth
    )
    assert task.status_code == 201 and task.json["id"]
    assert client.get("/_mock/tasks").json["items"][0]["title"] == "Call the customer"
    assert client.post("/graph/v1.0/planner/tasks", json={"title": "no plan"}, headers=auth).status_code == 400


def test_faults_fail_the_next_matching_requests_then_clear(client):
    client.post(
        "/_mock/faults", json=[{"path": "^/api/agents$", "method": "GET", "status": 503, "times": 2, "retry_after": 3}]
    )
    first = client.get("/api/agents")
    assert first.status_code == 503 and first.headers["Retry-After"] == "3"
    assert client.post("/api/agents").status_code == 405  # method does not match the rule
    assert client.get("/api/agents").status_code == 503
    assert client.get("/api/agents").status_code == 200  # used up
    assert client.get("/_mock/faults").json["active"] == []


def test_fault_with_body_answers_malformed_200_and_delay_slows(client):
    client.post(
        "/_mock/faults",
        json=[{"path": "/health", "body": "not json{"}, {"path": "/health", "delay_s": 0.3, "status": None}],
    )
    response = client.get("/health")
    assert response.status_code == 200 and response.data == b"not json{"
    started = time.monotonic()
    assert client.get("/health").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_delete_faults_and_bad_rules(client):
    client.post("/_mock/faults", json=[{"path": "x", "times": 5}])
    assert client.delete("/_mock/faults").json == {"active": []}
    response = client.post("/_mock/faults", json=[{"path": "("}])
    assert response.status_code == 400 and "regular expression" in response.json["error"]
    assert client.post("/_mock/faults", json=[{"path": "x", "colour": "red"}]).json["field"] == "rules[0].colour"


def test_request_log_and_reset(client):
    client.get("/health")
    client.get("/api/tickets/5")
    log = client.get("/_mock/requests").json["items"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/health", 200),
        ("GET", "/api/tickets/5", 404),
    ]
    client.post("/_mock/seed", json={"tickets": 50})
    assert client.post("/_mock/reset").json == {"status": "reset"}
    assert client.get("/_mock/requests").json["items"] == []
    assert client.get("/api/tickets").json["items"] == []


def test_seed_validates_its_body(client):
    assert client.post("/_mock/seed", json={"tickets": -1}).status_code == 400
    assert client.post("/_mock/seed", json={"tickets": "many"}).json["field"] == "tickets"
    assert client.post("/_mock/seed", json={"tickets": 25}).json == {"agents": 8, "tickets": 25, "feedback": 0}


def test_state_survives_a_restart(tmp_path):
    path = str(tmp_path / "mock.sqlite")
    first = create_app(path).test_client()
    first.post("/_mock/seed", json={})
    again = create_app(path).test_client()
    assert len(again.get("/api/agents").json["items"]) == 8


# --- the chat webhooks: as strict as Teams Workflows and Slack ---------------------------------------


def test_the_webhook_sinks_take_what_the_real_receivers_show_and_refuse_the_rest(mock):
    import requests

    from support_flows.clients import alert_webhook

    text = "[support-flows] support_ticket_assigned.notify_agent failed\nthe mailbox refused the alert: why"
    for kind in ("teams", "slack"):
        ok = requests.post(f"{mock.url}/_mock/webhook/{kind}", json=alert_webhook.payload(text, kind), timeout=10)
        assert ok.status_code in (200, 202), (kind, ok.text)
    # the retired connectors' plain text on a Workflows webhook shows nothing; a card on Slack neither
    wrong = {"teams": {"text": text}, "slack": alert_webhook.payload(text, "teams")}
    for kind, body in wrong.items():
        refused = requests.post(f"{mock.url}/_mock/webhook/{kind}", json=body, timeout=10)
        assert refused.status_code == 400, (kind, refused.text)
    bad_card = alert_webhook.payload(text, "teams")
    bad_card["attachments"][0]["content"]["body"] = []
    assert requests.post(f"{mock.url}/_mock/webhook/teams", json=bad_card, timeout=10).status_code == 400
    received = mock.get("/_mock/webhook")["items"]
    assert [(m["kind"], m["text"].splitlines()[0]) for m in received] == [
        ("teams", "[support-flows] support_ticket_assigned.notify_agent failed"),
        ("slack", "[support-flows] support_ticket_assigned.notify_agent failed"),
    ]


def test_the_webhooks_format_comes_from_the_connection_or_its_url():
    import pytest

    from support_flows.clients.alert_webhook import receiver_format

    assert (
        receiver_format("https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual", {}) == "teams"
    )
    assert receiver_format("https://hooks.slack.com/services/T/B/X", {}) == "slack"
    assert receiver_format("https://hooks.slack.com/services/T/B/X", {"format": "Teams"}) == "teams"
    with pytest.raises(ValueError, match="extra format 'discord'"):
        receiver_format("https://example.org/hook", {"format": "discord"})
