"""The Microsoft Graph v1.0 subset the flows use, with Graph's real paths and bodies, and the
Microsoft identity platform's client-credentials token endpoint (plus the OpenID discovery document
that MSAL reads before asking for a token).

It is as strict as Graph where the flows could go wrong (each rule has a test in
tests/mock/test_graph_rules.py): request bodies and required fields, the directory (``GET
/users/{upn}``; Planner assigns by user id), Planner's read-only task details and ETags, its
percent-encoded reference keys, size limits, Outlook's 4 concurrent requests per mailbox (429 with
Retry-After) and Graph's error body ``{"error": {"code", "message", "innerError"}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from mock_backend import db, tenant
from mock_backend.graph_schema import graph_schema
from mock_backend.store import Tx, now_ts, to_ts

bp = Blueprint("graph", __name__, url_prefix="/graph/v1.0")
token_bp = Blueprint("identity", __name__)

TOKEN_PREFIX = "mock-"  # tokens are not stored, so clients' cached tokens survive a restart of the mock
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # Outlook's request limit (sendMail) and OneDrive's simple upload limit
USER_NAMESPACE = uuid.UUID("5b0f4c1e-61a4-4c55-9c7e-0f3c2d6a9e10")


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def graph_error_response(status: int, code: str, message: str, retry_after: float | None = None) -> Response:
    """An error as Graph answers it: ``{"error": {"code", "message", "innerError": {...}}}``."""
    response = jsonify(
        error={
            "code": code,
            "message": message,
            "innerError": {
                "date": now_ts()[:19],
                "request-id": str(uuid.uuid4()),
                "client-request-id": request.headers.get("client-request-id") or str(uuid.uuid4()),
            },
        }
    )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(GraphError)
def _graph_error(err: GraphError):
    return graph_error_response(err.status, err.code, err.message)


@bp.before_request
def _require_bearer_token():
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not header.startswith("Bearer ") or not token.startswith(TOKEN_PREFIX):
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or was not issued by this tenant.")


def _body() -> dict:
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise GraphError(413, "RequestEntityTooLarge", f"The request is larger than {MAX_REQUEST_BYTES} bytes.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Expected a JSON object body.")
    return body


def _as_graph(check, *args) -> None:
    """Graph's own schema (``graph_schema``) over a body: what its reader refuses is a 400 BadRequest."""
    from mock_backend.graph_schema import SchemaError

    try:
        check(*args)
    except SchemaError as err:
        raise GraphError(400, "BadRequest", str(err)) from None


def _only(body: dict, allowed: set[str], type_name: str) -> None:
    """Graph's OData reader refuses properties its type does not have."""
    for name in body:
        if name not in allowed and not name.startswith("@odata."):
            raise GraphError(400, "BadRequest", f"The property '{name}' does not exist on type '{type_name}'.")


def _addresses(recipients: object, field: str) -> list[str]:
    if recipients is None:
        return []
    if not isinstance(recipients, list):
        raise GraphError(400, "ErrorInvalidRecipients", f"{field} must be a list of recipients.")
    out = []
    for item in recipients:
        address = (item or {}).get("emailAddress", {}).get("address") if isinstance(item, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise GraphError(400, "ErrorInvalidRecipients", f"{field} holds an invalid recipient: {item!r}.")
        out.append(address)
    return out


def _item_body(content: object, field: str) -> None:
    """An itemBody: ``{"contentType": "text" | "html", "content": str}``."""
    if content is None:
        return
    if not isinstance(content, dict) or str(content.get("contentType", "text")).lower() not in ("text", "html"):
        raise GraphError(400, "ErrorInvalidRequest", f"{field}.contentType must be Text or HTML.")
    if not isinstance(content.get("content", ""), str):
        raise GraphError(400, "ErrorInvalidRequest", f"{field}.content must be a string.")


# --- throttling ------------------------------------------------------------------------------------------


def throttled_response(reason: str, retry_after: float) -> Response:
    """Outlook's answer past a mailbox's limits (mock_backend.exchange): 429 ApplicationThrottled."""
    return graph_error_response(429, "ApplicationThrottled", reason, retry_after=max(1, round(retry_after + 0.499)))


# --- identity platform -------------------------------------------------------------------------------


@token_bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str):
    """The tenant's OpenID configuration, which MSAL reads before asking for a token."""
    base = request.host_url.rstrip("/")
    return {
        "issuer": f"{base}/{tenant}/v2.0",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_types_supported": ["code", "token"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }


@token_bp.post("/<tenant>/oauth2/v2.0/token")
def issue_token(tenant: str):
    """The identity platform's client-credentials token for Graph."""
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return {"error": "unsupported_grant_type", "error_description": "Only client_credentials is supported."}, 400
    if not form.get("client_id") or not (form.get("client_secret") or form.get("client_assertion")):
        return {"error": "invalid_client", "error_description": "client_id and client_secret are required."}, 401
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}"
    return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}


# --- directory -------------------------------------------------------------------------------------------


def directory_id(upn: str) -> str:
    """The object id the mock's directory gives a user: stable, derived from the UPN."""
    return str(uuid.uuid5(USER_NAMESPACE, upn.strip().lower()))


def _directory_user(key: str) -> dict | None:
    """A user by object id or UPN. The directory is the backend's agents (UPN = e-mail address) and
    the tenant's own mailboxes (``tenant.MAILBOXES``: the support mailbox, the admins' lists)."""
    rows = (
        db()
        .execute("SELECT name, email FROM agents WHERE lower(email) NOT IN (SELECT upn FROM graph_users_left)")
        .fetchall()
    )
    people = [(row["name"], row["email"]) for row in rows]
    for name, email in [*people, *((mailbox.split("@")[0], mailbox) for mailbox in sorted(tenant.mailboxes()))]:
        if key.lower() in (email.lower(), directory_id(email)):
            return {"id": directory_id(email), "displayName": name, "mail": email, "userPrincipalName": email}
    return None


@bp.get("/users/<key>")
def get_user(key: str):
    """``GET /users/{id | userPrincipalName}``: the user, or Graph's 404 for one not in the directory."""
    user = _directory_user(key)
    if user is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
        )
    return user


def _existing_mailbox(mailbox: str) -> None:
    """Graph answers a mailbox that is not in the directory with 404 ErrorInvalidUser, for mail and
    calendars alike: a wrong ``sender_mailbox`` fails here, as it would in the tenant."""
    if _directory_user(mailbox) is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid.")


# --- mail ------------------------------------------------------------------------------------------------

MESSAGE_PROPERTIES = {
    "subject",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "from",
    "sender",
    "internetMessageHeaders",
    "attachments",
    "importance",
    "categories",
    "isReadReceiptRequested",
    "isDeliveryReceiptRequested",
    "internetMessageId",
}


def _attachments(items: object) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        raise GraphError(400, "ErrorInvalidRequest", "attachments must be a list.")
    for n, item in enumerate(items):
        if not isinstance(item, dict) or item.get("@odata.type") != "#microsoft.graph.fileAttachment":
            raise GraphError(
                400, "ErrorInvalidRequest", f"attachments[{n}] needs @odata.type #microsoft.graph.fileAttachment."
            )
        if not item.get("name") or not isinstance(item.get("contentBytes"), str):
            raise GraphError(400, "ErrorInvalidRequest", f"attachments[{n}] needs name and contentBytes.")
        try:
            base64.b64decode(item["contentBytes"], validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(400, "ErrorInvalidRequest", f"attachments[{n}].contentBytes is not base64.") from None


def _checked_message(message: object) -> dict:
    """A message as sendMail and a draft take it: Graph's rules first (with their own codes), then
    Graph's schema."""
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidRequest", "message is required.")
    _only(message, MESSAGE_PROPERTIES, "microsoft.graph.message")
    if not _addresses(message.get("toRecipients"), "toRecipients"):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is required.")
    _addresses(message.get("ccRecipients"), "ccRecipients")
    _addresses(message.get("bccRecipients"), "bccRecipients")
    _item_body(message.get("body") or {}, "body")
    for header in message.get("internetMessageHeaders") or []:
        if not str(header.get("name", "")).lower().startswith("x-"):
            raise GraphError(400, "InvalidInternetMessageHeader", "Custom headers must start with 'x-'.")
    _attachments(message.get("attachments"))
    message_id = message.get("internetMessageId")
    if message_id is not None and not (isinstance(message_id, str) and INTERNET_MESSAGE_ID.match(message_id)):
        raise GraphError(400, "ErrorInvalidInternetMessageId", "internetMessageId must look like <local@domain>.")
    return message


INTERNET_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


def _recipient_count(message: dict) -> int:
    return sum(len(message.get(field) or []) for field in ("toRecipients", "ccRecipients", "bccRecipients"))


def _submit(mailbox: str, message: dict) -> str:
    """The message leaves ``mailbox`` through Exchange's limits (mock_backend.exchange): into Sent
    Items, leaving the Outbox when the message rate allows, or a non-delivery report past the
    recipient rate. Its new id (an item's id changes when it moves to Sent Items)."""
    leaves, delivered = current_app.config["EXCHANGE"].submit(mailbox, _recipient_count(message))
    item_id = _new_item_id()
    conn = db()
    conn.execute(
        "INSERT INTO graph_mail (mailbox, message, received_at, left_outbox_at, status, item_id, internet_message_id)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            mailbox,
            json.dumps(message),
            now_ts(),
            to_ts(datetime.fromtimestamp(leaves, UTC)),
            "sent" if delivered else "undeliverable",
            item_id,
            message.get("internetMessageId"),
        ),
    )
    if not delivered:
        conn.execute(
            "INSERT INTO graph_inbox (mailbox, message, received_at) VALUES (?,?,?)",
            (mailbox, json.dumps(_non_delivery_report(mailbox, message)), now_ts()),
        )
    return item_id


def _non_delivery_report(mailbox: str, message: dict) -> dict:
    limit = current_app.config["EXCHANGE"].limits.recipients_per_day
    return {
        "from": {"emailAddress": {"name": "Microsoft Outlook", "address": f"postmaster@{mailbox.split('@')[-1]}"}},
        "toRecipients": [{"emailAddress": {"address": mailbox}}],
        "subject": f"Undeliverable: {message.get('subject') or ''}",
        "body": {
            "contentType": "text",
            "content": (
                "Your message couldn't be delivered because you exceeded your sending limit"
                f" ({limit} recipients in 24 hours). 550 5.2.2 STOREDRV.Submission.Exception:"
                "SubmissionQuotaExceededException"
            ),
        },
        "internetMessageHeaders": [{"name": "x-original-message-id", "value": message.get("internetMessageId") or ""}],
    }


def _new_item_id() -> str:
    return "AAMk" + secrets.token_urlsafe(30)


@bp.post("/users/<mailbox>/sendMail")
def send_mail(mailbox: str):
    """Graph's `POST /users/{id}/sendMail`: 202, and the message leaves through Exchange's limits."""
    _existing_mailbox(mailbox)
    body = _body()
    _only(body, {"message", "saveToSentItems"}, "microsoft.graph.sendMail")
    message = _checked_message(body.get("message"))
    if "saveToSentItems" in body and not isinstance(body["saveToSentItems"], bool):
        raise GraphError(400, "BadRequest", "saveToSentItems must be a Boolean.")
    _as_graph(graph_schema().check_action, body, "sendMail")  # after the rules above, with their own codes
    _submit(mailbox, message)
    return "", 202


@bp.post("/users/<mailbox>/messages")
def create_draft(mailbox: str):
    """Graph's `POST /users/{id}/messages`: 201 and a draft (not sent) in the Drafts folder."""
    _existing_mailbox(mailbox)
    message = _checked_message(_body())
    _as_graph(graph_schema().check, message, "message")
    draft = {
        **message,
        "id": _new_item_id(),
        "isDraft": True,
        "createdDateTime": now_ts(),
        "internetMessageId": message.get("internetMessageId") or f"<{secrets.token_hex(12)}@mock.outlook.com>",
    }
    db().execute(
        "INSERT INTO graph_drafts (id, mailbox, message, internet_message_id, created_at) VALUES (?,?,?,?,?)",
        (draft["id"], mailbox.lower(), json.dumps(draft), draft["internetMessageId"], now_ts()),
    )
    return draft, 201


@bp.post("/users/<mailbox>/messages/<message_id>/send")
def send_draft(mailbox: str, message_id: str):
    """Graph's `POST /users/{id}/messages/{id}/send`: 202 and the draft leaves; a draft already sent
    is no longer there (its item moved to Sent Items with a new id): 404 ErrorItemNotFound."""
    _existing_mailbox(mailbox)
    if request.get_data():
        raise GraphError(400, "BadRequest", "send takes no request body.")
    with Tx(db()) as conn:
        row = conn.execute(
            "SELECT message FROM graph_drafts WHERE id = ? AND mailbox = ?", (message_id, mailbox.lower())
        ).fetchone()
        if row is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        draft = json.loads(row["message"])
        conn.execute("DELETE FROM graph_drafts WHERE id = ?", (message_id,))
        _submit(mailbox, {k: v for k, v in draft.items() if k in MESSAGE_PROPERTIES})
    return "", 202


_BY_MESSAGE_ID = re.compile(r"^internetMessageId eq '((?:[^']|'')*)'$")


@bp.get("/users/<mailbox>/messages")
def find_messages(mailbox: str):
    """Graph's `GET /users/{id}/messages?$filter=internetMessageId eq '<...>'` over every folder
    (drafts and Sent Items here): the one filter the flows use; others are 400 in this mock."""
    _existing_mailbox(mailbox)
    match = _BY_MESSAGE_ID.match(request.args.get("$filter", ""))
    if not match:
        raise GraphError(400, "BadRequest", "This mock filters messages by internetMessageId eq '<...>' only.")
    wanted = match.group(1).replace("''", "'")
    conn = db()
    found = [
        {"id": r["id"], "isDraft": True, "internetMessageId": wanted, "createdDateTime": r["created_at"]}
        for r in conn.execute(
            "SELECT id, created_at FROM graph_drafts WHERE mailbox = ? AND internet_message_id = ?",
            (mailbox.lower(), wanted),
        )
    ]
    found += [
        {"id": r["item_id"], "isDraft": False, "internetMessageId": wanted, "sentDateTime": r["received_at"]}
        for r in conn.execute(
            "SELECT item_id, received_at FROM graph_mail WHERE lower(mailbox) = ? AND internet_message_id = ?",
            (mailbox.lower(), wanted),
        )
    ]
    return {"value": found}


# --- calendar ---------------------------------------------------------------------------------------------

EVENT_PROPERTIES = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "transactionId",
    "showAs",
    "importance",
    "sensitivity",
    "categories",
    "isAllDay",
    "isOnlineMeeting",
    "allowNewTimeProposals",
    "responseRequested",
}


def _date_time_time_zone(value: object, field: str) -> datetime:
    """A dateTimeTimeZone: ``{"dateTime": "2026-11-26T10:00:00", "timeZone": "UTC"}``, both required."""
    if not isinstance(value, dict) or not value.get("dateTime") or not value.get("timeZone"):
        raise GraphError(400, "ErrorInvalidRequest", f"{field} needs dateTime and timeZone.")
    zone = str(value["timeZone"])
    if not zone.endswith(" Standard Time"):  # Windows names are accepted too
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise GraphError(
                400,
                "TimeZoneNotSupportedException",
                f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'.",
            ) from None
    try:
        return datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        raise GraphError(400, "ErrorInvalidRequest", f"{field}.dateTime is not an ISO 8601 time.") from None


@bp.post("/users/<mailbox>/events")
def create_event(mailbox: str):
    """Graph's `POST /users/{id}/events`: a calendar event in an existing mailbox, its body read against Graph's schema."""
    _existing_mailbox(mailbox)
    body = _body()
    _only(body, EVENT_PROPERTIES, "microsoft.graph.event")
    start = _date_time_time_zone(body.get("start"), "start")
    end = _date_time_time_zone(body.get("end"), "end")
    if body["start"]["timeZone"] == body["end"]["timeZone"] and end < start:
        raise GraphError(400, "ErrorInvalidRequest", "The end of the event is before its start.")
    _as_graph(graph_schema().check, body, "event")  # after the rules above, with their own codes
    _item_body(body.get("body"), "body")
    transaction_id = body.get("transactionId")
    with Tx(db()) as conn:
        if transaction_id:
            row = conn.execute(
                "SELECT event FROM graph_events WHERE mailbox = ? AND transaction_id = ?", (mailbox, transaction_id)
            ).fetchone()
            if row is not None:
                return json.loads(row["event"]), 201
        event = {
            "id": uuid.uuid4().hex,
            "createdDateTime": now_ts(),
            "organizer": {"emailAddress": {"address": mailbox}},
            **body,
        }
        conn.execute(
            "INSERT INTO graph_events (mailbox, transaction_id, event, created_at) VALUES (?,?,?,?)",
            (mailbox, transaction_id, json.dumps(event), now_ts()),
        )
    return event, 201


@bp.delete("/users/<mailbox>/events/<event_id>")
def delete_event(mailbox: str, event_id: str):
    """Graph's event delete: 204, or 404 (ErrorItemNotFound) for an event that is not there."""
    with Tx(db()) as conn:
        rows = conn.execute("SELECT id, event FROM graph_events WHERE mailbox = ?", (mailbox,)).fetchall()
        found = [r["id"] for r in rows if json.loads(r["event"])["id"] == event_id]
        if not found:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        conn.execute("DELETE FROM graph_events WHERE id = ?", (found[0],))
    return "", 204


# --- SharePoint (OneDrive API on a site's default drive) ---------------------------------------------------


@bp.get("/sites/<site_id>")
def get_site(site_id: str):
    """``GET /sites/{site-id}``: a site of the tenant (``tenant.SITES``), or Graph's 404."""
    if site_id not in tenant.SITES:
        raise GraphError(404, "itemNotFound", "Requested site could not be found")
    return {"id": site_id, "displayName": tenant.SITES[site_id], "webUrl": f"{request.host_url}sites/{site_id}"}


@bp.put("/sites/<site_id>/drive/root:/<path:item_path>:/content")
def upload_file(site_id: str, item_path: str):
    """Simple upload: up to 4 MB (larger files need an upload session, which the flows do not use),
    into a site of the tenant (Graph: 404 itemNotFound for another)."""
    if site_id not in tenant.SITES:
        raise GraphError(404, "itemNotFound", "Requested site could not be found")
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise GraphError(
            413, "RequestEntityTooLarge", "The simple upload API supports files up to 4 MB; use an upload session."
        )
    content = request.get_data()
    content_type = request.content_type or "application/octet-stream"
    now = now_ts()
    with Tx(db()) as conn:
        row = conn.execute(
            "SELECT version, created_at FROM graph_files WHERE site_id = ? AND path = ?", (site_id, item_path)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO graph_files (site_id, path, content, content_type, version, created_at, updated_at)"
                " VALUES (?,?,?,?,1,?,?)",
                (site_id, item_path, content, content_type, now, now),
            )
            version, created, status = 1, now, 201
        else:
            version, created, status = row["version"] + 1, row["created_at"], 200
            conn.execute(
                "UPDATE graph_files SET content = ?, content_type = ?, version = ?, updated_at = ?"
                " WHERE site_id = ? AND path = ?",
                (content, content_type, version, now, site_id, item_path),
            )
    return {
        "id": f"{site_id}:{item_path}",
        "name": item_path.rsplit("/", 1)[-1],
        "size": len(content),
        "createdDateTime": created,
        "lastModifiedDateTime": now,
        "webUrl": url_for("control.get_file", path=item_path, _external=True),
        "file": {"mimeType": content_type},
        "version": version,
    }, status


# --- Planner -------------------------------------------------------------------------------------------

TASK_PROPERTIES = {
    "planId",
    "bucketId",
    "title",
    "assignments",
    "dueDateTime",
    "startDateTime",
    "percentComplete",
    "priority",
    "orderHint",
    "assigneePriority",
    "appliedCategories",
    "conversationThreadId",
    "previewType",
}
DETAILS_PROPERTIES = {"description", "previewType", "references", "checklist"}
_RAW_IN_REFERENCE_KEY = re.compile(r"[.:@#]")


def _assignments(assignments: object) -> None:
    """plannerAssignments: keyed by the assignee's user id, each with @odata.type and an orderHint."""
    if not isinstance(assignments, dict):
        raise GraphError(400, "BadRequest", "assignments must be an object keyed by user id.")
    for user_id, assignment in assignments.items():
        try:
            uuid.UUID(user_id)
        except ValueError:
            raise GraphError(400, "BadRequest", f"The assignment key '{user_id}' is not a user id (a GUID).") from None
        if _directory_user(user_id) is None:
            raise GraphError(404, "Request_ResourceNotFound", f"The user '{user_id}' does not exist in the directory.")
        if not isinstance(assignment, dict) or assignment.get("@odata.type") != "#microsoft.graph.plannerAssignment":
            raise GraphError(
                400,
                "BadRequest",
                f"The assignment of '{user_id}' needs @odata.type #microsoft.graph.plannerAssignment.",
            )
        if not isinstance(assignment.get("orderHint"), str) or not assignment["orderHint"]:
            raise GraphError(
                400, "BadRequest", f"The assignment of '{user_id}' needs an orderHint (\" !\" for a new one)."
            )


def _timestamp(value: object, field: str) -> None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise GraphError(
            400, "BadRequest", f"{field} must be an ISO 8601 time with an offset, e.g. 2026-11-26T00:00:00Z."
        )


@bp.get("/planner/plans/<plan_id>")
def get_planner_plan(plan_id: str):
    """``GET /planner/plans/{plan-id}``: a plan of the tenant (``tenant.PLANS``), or Graph's 404."""
    if plan_id not in tenant.PLANS:
        raise GraphError(404, "NotFound", "The requested item is not found.")
    return {"id": plan_id, "title": tenant.PLANS[plan_id], "createdDateTime": "2026-01-01T00:00:00Z"}


@bp.get("/planner/plans/<plan_id>/tasks")
def list_plan_tasks(plan_id: str):
    """``GET /planner/plans/{plan-id}/tasks``: the plan's tasks (what a client reads to see whether a
    task it may have created is there)."""
    if plan_id not in tenant.PLANS:
        raise GraphError(404, "NotFound", "The requested item is not found.")
    rows = db().execute("SELECT task FROM graph_tasks WHERE json_extract(task, '$.planId') = ? ORDER BY id", (plan_id,))
    return {"value": [json.loads(r["task"]) for r in rows]}


@bp.post("/planner/tasks")
def create_planner_task():
    """Graph's `POST /planner/tasks`: a task in a plan of the tenant, assigned by user id."""
    body = _body()
    _only(body, TASK_PROPERTIES, "microsoft.graph.plannerTask")  # details are read-only here
    for field in ("planId", "title"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise GraphError(400, "BadRequest", f"{field} is required.")
    if body["planId"] not in tenant.PLANS:
        raise GraphError(404, "NotFound", "The requested item is not found.")
    if "assignments" in body:
        _assignments(body["assignments"])
    for field in ("dueDateTime", "startDateTime"):
        if body.get(field) is not None:
            _timestamp(body[field], field)
    _as_graph(graph_schema().check, body, "plannerTask")  # after the rules above, with their own codes
    task = {"id": secrets.token_urlsafe(21)[:28], "createdDateTime": now_ts(), "percentComplete": 0, **body}
    with Tx(db()) as conn:
        conn.execute("INSERT INTO graph_tasks (task, created_at) VALUES (?,?)", (json.dumps(task), now_ts()))
        conn.execute(
            "INSERT INTO graph_task_details (task_id, details, etag) VALUES (?,?,?)",
            (
                task["id"],
                json.dumps({"description": "", "previewType": "automatic", "references": {}, "checklist": {}}),
                _new_etag(),
            ),
        )
    return task, 201


def _new_etag() -> str:
    return f'W/"{secrets.token_hex(8)}"'


def _details_row(conn, task_id: str):
    row = conn.execute("SELECT details, etag FROM graph_task_details WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        raise GraphError(404, "NotFound", f"The requested item '{task_id}' is not found.")
    return row


@bp.get("/planner/tasks/<task_id>/details")
def get_planner_task_details(task_id: str):
    """Graph's task details (description, references) with the ETag an update must send."""
    row = _details_row(db(), task_id)
    response = jsonify({"@odata.etag": row["etag"], "id": task_id, **json.loads(row["details"])})
    response.headers["ETag"] = row["etag"]
    return response


def _references(references: object) -> None:
    """plannerExternalReferences: keys are http(s) URLs with . : @ # percent-encoded (OData property
    names); values carry @odata.type, or are null to remove a reference."""
    if not isinstance(references, dict):
        raise GraphError(400, "BadRequest", "references must be an object keyed by encoded URL.")
    for key, value in references.items():
        if _RAW_IN_REFERENCE_KEY.search(key):
            raise GraphError(400, "BadRequest", f"The reference key '{key}' must percent-encode '.', ':', '@' and '#'.")
        if urlparse(unquote(key)).scheme not in ("http", "https"):
            raise GraphError(400, "BadRequest", f"The reference key '{key}' is not an encoded http(s) URL.")
        if value is None:
            continue
        if not isinstance(value, dict) or "plannerExternalReference" not in str(value.get("@odata.type", "")):
            raise GraphError(
                400, "BadRequest", f"The reference '{key}' needs @odata.type microsoft.graph.plannerExternalReference."
            )


@bp.patch("/planner/tasks/<task_id>/details")
def update_planner_task_details(task_id: str):
    """Planner updates need the ETag they change (If-Match): 412 when it is stale."""
    body = _body()
    _only(body, DETAILS_PROPERTIES, "microsoft.graph.plannerTaskDetails")
    _as_graph(graph_schema().check, body, "plannerTaskDetails")
    if "references" in body:
        _references(body["references"])
    if not request.headers.get("If-Match"):
        raise GraphError(400, "BadRequest", "The If-Match header is required to update a Planner object.")
    with Tx(db()) as conn:
        row = _details_row(conn, task_id)
        if request.headers["If-Match"] != row["etag"]:
            raise GraphError(412, "PreconditionFailed", "The If-Match header does not match the item's current ETag.")
        details = json.loads(row["details"])
        for field, value in body.items():
            if field in ("references", "checklist"):
                merged = {**details.get(field, {}), **value}
                details[field] = {k: v for k, v in merged.items() if v is not None}
            else:
                details[field] = value
        conn.execute(
            "UPDATE graph_task_details SET details = ?, etag = ? WHERE task_id = ?",
            (json.dumps(details), _new_etag(), task_id),
        )
    return "", 204
