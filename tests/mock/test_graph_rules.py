"""The mock refuses what Microsoft Graph v1.0 refuses, for every call the flows make: each rule here
is one a real tenant enforces (Graph's reference pages for sendMail, event, driveItem simple upload,
plannerTask, plannerTaskDetails, plannerExternalReferences, user; Outlook's throttling limits), and
each test sends the wrong request and checks Graph's answer, in Graph's error format."""

from __future__ import annotations

import base64
import threading
import time
import uuid

import pytest
import requests

from mock_backend import create_app
from mock_backend.graph import MAX_REQUEST_BYTES, directory_id


@pytest.fixture
def client(tmp_path):
    app = create_app(str(tmp_path / "mock.sqlite"), public_url="http://mock.test")
    test_client = app.test_client()
    test_client.post("/_mock/seed")
    return test_client


def bearer(client) -> dict:
    token = client.post(
        "/t/oauth2/v2.0/token", data={"grant_type": "client_credentials", "client_id": "app", "client_secret": "s"}
    ).json["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(client):
    return bearer(client)


def refused(response, status: int, code: str | None = None) -> dict:
    """Graph's error body: {"error": {"code", "message", "innerError": {"date", "request-id", ...}}}."""
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["message"] and set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    if code:
        assert error["code"] == code
    return error


MESSAGE = {
    "subject": "Hello",
    "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
    "toRecipients": [{"emailAddress": {"address": "maria@example.org"}}],
}
EVENT = {
    "subject": "Follow up",
    "body": {"contentType": "HTML", "content": "<p>Check</p>"},
    "start": {"dateTime": "2026-11-26T10:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2026-11-26T10:30:00", "timeZone": "UTC"},
}
ALAN = "alan.turing@support.example.com"


# --- directory ---------------------------------------------------------------------------------------


def test_users_are_found_by_upn_or_id_and_unknown_users_are_404(client, auth):
    by_upn = client.get(f"/graph/v1.0/users/{ALAN}", headers=auth)
    assert by_upn.status_code == 200 and by_upn.json["id"] == directory_id(ALAN)
    assert str(uuid.UUID(by_upn.json["id"])) == by_upn.json["id"]
    assert client.get(f"/graph/v1.0/users/{by_upn.json['id']}", headers=auth).json["userPrincipalName"] == ALAN
    refused(client.get("/graph/v1.0/users/nobody@support.example.com", headers=auth), 404, "Request_ResourceNotFound")
    client.post("/_mock/directory/left", json={"upn": ALAN})
    refused(client.get(f"/graph/v1.0/users/{ALAN}", headers=auth), 404, "Request_ResourceNotFound")


def test_the_tenants_mailboxes_are_in_the_directory(client, auth):
    """The support mailbox and the admins' lists exist as users, so a preflight can look them up."""
    from mock_backend import tenant

    for mailbox in sorted(tenant.MAILBOXES):
        found = client.get(f"/graph/v1.0/users/{mailbox.upper()}", headers=auth)
        assert found.status_code == 200 and found.json["userPrincipalName"] == mailbox


def test_sites_and_plans_are_looked_up_and_unknown_ones_are_404(client, auth):
    """GET /sites/{id} and GET /planner/plans/{id}: the tenant's own, else Graph's 404."""
    from mock_backend import tenant

    site = client.get(f"/graph/v1.0/sites/{tenant.SHAREPOINT_SITE_ID}", headers=auth)
    assert site.status_code == 200 and site.json["id"] == tenant.SHAREPOINT_SITE_ID and site.json["webUrl"]
    refused(client.get("/graph/v1.0/sites/no-such-site", headers=auth), 404, "itemNotFound")
    plan = client.get(f"/graph/v1.0/planner/plans/{tenant.PLANNER_PLAN_ID}", headers=auth)
    assert plan.status_code == 200 and plan.json["id"] == tenant.PLANNER_PLAN_ID and plan.json["title"]
    refused(client.get("/graph/v1.0/planner/plans/no-such-plan", headers=auth), 404)
    refused(client.get(f"/graph/v1.0/sites/{tenant.SHAREPOINT_SITE_ID}"), 401, "InvalidAuthenticationToken")


EVENT = {
    "subject": "Follow up",
    "start": {"dateTime": "2026-11-27T09:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2026-11-27T09:30:00", "timeZone": "UTC"},
}


def test_mail_from_a_mailbox_the_tenant_does_not_have_is_404_invalid_user(client, auth):
    refused(
        client.post("/graph/v1.0/users/nobody@helpdesk.test/sendMail", json={"message": MESSAGE}, headers=auth),
        404,
        "ErrorInvalidUser",
    )
    ok = client.post("/graph/v1.0/users/SUPPORT@helpdesk.test/sendMail", json={"message": MESSAGE}, headers=auth)
    assert ok.status_code == 202  # a user principal name is case-insensitive


def test_an_event_in_a_calendar_the_tenant_does_not_have_is_404_invalid_user(client, auth):
    refused(
        client.post("/graph/v1.0/users/nobody@helpdesk.test/events", json=EVENT, headers=auth), 404, "ErrorInvalidUser"
    )
    agent = client.get("/api/agents/3").json["email"]  # the directory holds the backend's agents
    assert client.post(f"/graph/v1.0/users/{agent}/events", json=EVENT, headers=auth).status_code == 201


def test_an_upload_to_a_site_the_tenant_does_not_have_is_404(client, auth):
    path = "/graph/v1.0/sites/no-such-site/drive/root:/Reports/x.csv:/content"
    refused(client.put(path, data=b"a,b", headers={**auth, "Content-Type": "text/csv"}), 404, "itemNotFound")


def test_a_task_in_a_plan_the_tenant_does_not_have_is_404(client, auth):
    body = {"planId": "no-such-plan", "title": "Call the customer"}
    refused(client.post("/graph/v1.0/planner/tasks", json=body, headers=auth), 404)


def test_every_graph_error_has_graphs_shape(client, auth):
    refused(client.get("/graph/v1.0/no/such/thing", headers=auth), 404)
    refused(
        client.post("/graph/v1.0/users/support@helpdesk.test/sendMail", json={"message": MESSAGE}),
        401,
        "InvalidAuthenticationToken",
    )
    client.post("/_mock/faults", json={"path": "sendMail", "status": 503})
    refused(
        client.post("/graph/v1.0/users/support@helpdesk.test/sendMail", json={"message": MESSAGE}, headers=auth), 503
    )


# --- mail --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, code",
    [
        ({"message": {**MESSAGE, "toRecipients": []}}, "ErrorInvalidRecipients"),
        ({"message": {**MESSAGE, "toRecipients": "maria@example.org"}}, "ErrorInvalidRecipients"),
        ({"message": {**MESSAGE, "body": {"contentType": "Markdown", "content": "x"}}}, "ErrorInvalidRequest"),
        ({"message": {**MESSAGE, "to": ["maria@example.org"]}}, "BadRequest"),  # not a message property
        ({"message": MESSAGE, "saveToSentItems": "yes"}, "BadRequest"),
        (
            {"message": {**MESSAGE, "attachments": [{"name": "chart.png", "contentBytes": "AAAA"}]}},
            "ErrorInvalidRequest",
        ),
        (
            {
                "message": {
                    **MESSAGE,
                    "attachments": [
                        {
                            "@odata.type": "#microsoft.graph.fileAttachment",
                            "name": "chart.png",
                            "contentBytes": "not base64!",
                        }
                    ],
                }
            },
            "ErrorInvalidRequest",
        ),
        ({"mail": MESSAGE}, "BadRequest"),
    ],
)
def test_send_mail_refuses_what_graph_refuses(client, auth, body, code):
    refused(client.post("/graph/v1.0/users/support@helpdesk.test/sendMail", json=body, headers=auth), 400, code)
    assert client.get("/_mock/mail").json["items"] == []


def test_send_mail_takes_a_file_attachment_and_refuses_more_than_4_mb(client, auth):
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "chart.png",
        "contentBytes": base64.b64encode(b"\x89PNG").decode(),
        "isInline": True,
        "contentId": "chart",
    }
    ok = client.post(
        "/graph/v1.0/users/support@helpdesk.test/sendMail",
        json={"message": {**MESSAGE, "attachments": [attachment]}},
        headers=auth,
    )
    assert ok.status_code == 202
    big = {**attachment, "contentBytes": base64.b64encode(b"x" * MAX_REQUEST_BYTES).decode()}
    refused(
        client.post(
            "/graph/v1.0/users/support@helpdesk.test/sendMail",
            json={"message": {**MESSAGE, "attachments": [big]}},
            headers=auth,
        ),
        413,
    )
    assert len(client.get("/_mock/mail").json["items"]) == 1


# --- calendar ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {**EVENT, "start": {"dateTime": "2026-11-26T10:00:00"}},  # no timeZone
        {**EVENT, "start": "2026-11-26T10:00:00Z"},  # not a dateTimeTimeZone
        {**EVENT, "start": {"dateTime": "2026-11-26T10:00:00", "timeZone": "PST"}},  # an abbreviation
        {**EVENT, "end": {"dateTime": "2026-11-26T09:00:00", "timeZone": "UTC"}},  # ends before it starts
        {**EVENT, "body": {"contentType": "rtf", "content": "x"}},
        {**EVENT, "reminder": 15},  # not an event property
    ],
)
def test_events_are_refused_like_graph_does(client, auth, event):
    refused(client.post("/graph/v1.0/users/support@helpdesk.test/events", json=event, headers=auth), 400)
    assert client.get("/_mock/events").json["items"] == []


def test_events_take_iana_and_windows_zone_names(client, auth):
    for zone in ("Europe/Berlin", "Pacific Standard Time"):
        event = {**EVENT, "start": {**EVENT["start"], "timeZone": zone}, "end": {**EVENT["end"], "timeZone": zone}}
        assert (
            client.post("/graph/v1.0/users/support@helpdesk.test/events", json=event, headers=auth).status_code == 201
        )


# --- SharePoint ----------------------------------------------------------------------------------------


def test_simple_upload_takes_at_most_4_mb(client, auth):
    path = "/graph/v1.0/sites/support-reports/drive/root:/Reports/big.csv:/content"
    refused(client.put(path, data=b"x" * (MAX_REQUEST_BYTES + 1), headers={**auth, "Content-Type": "text/csv"}), 413)
    assert (
        client.put(path, data=b"x" * MAX_REQUEST_BYTES, headers={**auth, "Content-Type": "text/csv"}).status_code == 201
    )


# --- Planner -------------------------------------------------------------------------------------------


def assignment(order_hint: str | None = " !") -> dict:
    out = {"@odata.type": "#microsoft.graph.plannerAssignment"}
    if order_hint is not None:
        out["orderHint"] = order_hint
    return out


@pytest.mark.parametrize(
    "task, status",
    [
        ({"title": "no plan"}, 400),
        ({"planId": "support-follow-ups"}, 400),
        ({"planId": "support-follow-ups", "title": "t", "assignments": {ALAN: assignment()}}, 400),  # keyed by address
        (
            {"planId": "support-follow-ups", "title": "t", "assignments": {directory_id(ALAN): assignment(None)}},
            400,
        ),  # no orderHint
        (
            {"planId": "support-follow-ups", "title": "t", "assignments": {directory_id(ALAN): {"orderHint": " !"}}},
            400,
        ),  # no @odata.type
        (
            {"planId": "support-follow-ups", "title": "t", "assignments": {str(uuid.uuid4()): assignment()}},
            404,
        ),  # nobody
        (
            {"planId": "support-follow-ups", "title": "t", "details": {"description": "x"}},
            400,
        ),  # details are read-only here
        ({"planId": "support-follow-ups", "title": "t", "dueDateTime": "next Tuesday"}, 400),
        ({"planId": "support-follow-ups", "title": "t", "dueDateTime": "2026-11-27T00:00:00"}, 400),  # no offset
    ],
)
def test_planner_tasks_are_refused_like_graph_does(client, auth, task, status):
    refused(client.post("/graph/v1.0/planner/tasks", json=task, headers=auth), status)
    assert client.get("/_mock/tasks").json["items"] == []


def test_planner_details_need_the_current_etag_and_encoded_reference_keys(client, auth):
    task = client.post(
        "/graph/v1.0/planner/tasks",
        json={
            "planId": "support-follow-ups",
            "title": "t",
            "assignments": {directory_id(ALAN): assignment()},
            "dueDateTime": "2026-11-27T00:00:00Z",
        },
        headers=auth,
    ).json
    url = f"/graph/v1.0/planner/tasks/{task['id']}/details"
    reference = {"@odata.type": "microsoft.graph.plannerExternalReference", "alias": "Ticket #7", "type": "Other"}
    good = {"references": {"https%3A%2F%2Fportal%2Eexample%2Ecom%2Ftickets%2F7": reference}}
    etag = client.get(url, headers=auth).json["@odata.etag"]

    refused(client.patch(url, json=good, headers=auth), 400)  # no If-Match
    refused(client.patch(url, json=good, headers={**auth, "If-Match": 'W/"stale"'}), 412, "PreconditionFailed")
    for key in (
        "https%3A%2F%2Fportal.example.com%2Ftickets%2F7",  # '.' left as is
        "https://portal%2Eexample%2Ecom/tickets/7",  # ':' left as is
        "ftp%3A%2F%2Fportal%2Eexample%2Ecom",
    ):  # not http(s)
        refused(client.patch(url, json={"references": {key: reference}}, headers={**auth, "If-Match": etag}), 400)
    refused(
        client.patch(
            url,
            json={"references": {next(iter(good["references"])): {"alias": "x"}}},
            headers={**auth, "If-Match": etag},
        ),
        400,
    )  # no @odata.type
    refused(client.patch(url, json={"notes": "x"}, headers={**auth, "If-Match": etag}), 400)

    assert client.patch(url, json=good, headers={**auth, "If-Match": etag}).status_code == 204
    refused(client.patch(url, json=good, headers={**auth, "If-Match": etag}), 412)  # the ETag changed
    (stored,) = client.get("/_mock/tasks").json["items"]
    assert stored["details"]["references"] == good["references"]


# --- throttling ----------------------------------------------------------------------------------------


def test_a_mailbox_takes_4_concurrent_requests_and_the_5th_gets_429_with_retry_after(mock):
    # the mock over HTTP: concurrent requests need a threaded server
    token = requests.post(
        f"{mock.url}/t/oauth2/v2.0/token",
        timeout=10,
        data={"grant_type": "client_credentials", "client_id": "app", "client_secret": "s"},
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    mock.faults({"path": "support@support.example.com/sendMail", "delay_s": 1.5, "status": None, "times": 4})
    send = lambda mailbox: requests.post(  # noqa: E731
        f"{mock.url}/graph/v1.0/users/{mailbox}/sendMail", json={"message": MESSAGE}, headers=headers, timeout=10
    )
    answers: list[int] = []
    slow = [
        threading.Thread(target=lambda: answers.append(send("support@support.example.com").status_code))
        for _ in range(4)
    ]
    for thread in slow:
        thread.start()
    try:
        time.sleep(0.5)  # the four are being served (held by the delay)
        fifth = send("Support@Support.Example.COM")  # the same mailbox, spelled differently
        assert fifth.status_code == 429 and float(fifth.headers["Retry-After"]) > 0
        assert fifth.json()["error"]["code"] == "ApplicationThrottled"
        assert send("sysadmin@support.example.com").status_code == 202  # the limit is per mailbox
    finally:
        for thread in slow:
            thread.join()
    assert answers == [202] * 4
    assert send("support@support.example.com").status_code == 202  # slots are given back
    assert len(mock.mail()) == 6
