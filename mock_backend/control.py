"""``/_mock/``: what the Microsoft side received, the request log, reset, seeding, fault injection."""

from __future__ import annotations

import json
import uuid

from flask import Blueprint, Response, current_app, request

from mock_backend import ApiError, db
from mock_backend.faults import FaultRule
from mock_backend.seed import seed_demo, seed_scale
from mock_backend.store import DATA_TABLES, Tx, now_ts

bp = Blueprint("control", __name__, url_prefix="/_mock")


def _addresses(recipients) -> list[str]:
    return [r["emailAddress"]["address"] for r in recipients or []]


@bp.get("/mail")
def list_mail():
    """Every e-mail Graph accepted: from, to, cc, subject, body, custom headers, attachments; when it
    left the Outbox (``left_outbox_at``: Exchange's 30 a minute) and its ``status``: ``sent``,
    ``outbox`` (still waiting to leave) or ``undeliverable`` (past 10,000 recipients a day: the
    non-delivery report is in ``/_mock/inbox``)."""
    items = []
    now = now_ts()
    for row in db().execute("SELECT * FROM graph_mail ORDER BY id"):
        message = json.loads(row["message"])
        items.append(
            {
                "id": row["id"],
                "from": row["mailbox"],
                "to": _addresses(message.get("toRecipients")),
                "cc": _addresses(message.get("ccRecipients")),
                "subject": message.get("subject"),
                "content_type": (message.get("body") or {}).get("contentType"),
                "body": (message.get("body") or {}).get("content"),
                "headers": {h["name"]: h["value"] for h in message.get("internetMessageHeaders") or []},
                "attachments": [a.get("name") for a in message.get("attachments") or []],
                "received_at": row["received_at"],
                "left_outbox_at": row["left_outbox_at"] or row["received_at"],
                "status": "outbox"
                if row["status"] == "sent" and (row["left_outbox_at"] or "") > now
                else row["status"],
                "message": message,
            }
        )
    return {"items": items}


@bp.get("/inbox")
def list_inbox():
    """What arrived in our own mailboxes: Exchange's non-delivery reports."""
    rows = db().execute("SELECT mailbox, message, received_at FROM graph_inbox ORDER BY id")
    items = []
    for row in rows:
        message = json.loads(row["message"])
        items.append(
            {
                "mailbox": row["mailbox"],
                "from": message["from"]["emailAddress"]["address"],
                "subject": message.get("subject"),
                "body": (message.get("body") or {}).get("content"),
                "headers": {h["name"]: h["value"] for h in message.get("internetMessageHeaders") or []},
                "received_at": row["received_at"],
            }
        )
    return {"items": items}


@bp.get("/limits")
def get_limits():
    """Exchange Online's limits the mock holds (mock_backend.exchange)."""
    return current_app.config["EXCHANGE"].describe()


@bp.put("/limits")
def set_limits():
    """Change some limits (``{"messages_per_minute": 5, "time_scale": 24}``) until the next reset;
    the counts so far are kept."""
    from mock_backend.exchange import Limits

    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "request body: expected an object of limit names to numbers", None)
    exchange = current_app.config["EXCHANGE"]
    try:
        exchange.limits = Limits.parse(body, exchange.limits)
    except (TypeError, ValueError) as err:
        raise ApiError(400, str(err), str(err).split(":")[0]) from None
    return exchange.describe()


@bp.get("/events")
def list_calendar_events():
    """Calendar events the flows created through Graph, every mailbox's."""
    rows = db().execute("SELECT mailbox, transaction_id, event FROM graph_events ORDER BY id")
    return {"items": [{"mailbox": r["mailbox"], **json.loads(r["event"])} for r in rows]}


@bp.get("/tasks")
def list_tasks():
    """Planner tasks with their details (description, references) folded in, as Planner shows them."""
    rows = db().execute(
        "SELECT t.task, d.details FROM graph_tasks t"
        " LEFT JOIN graph_task_details d ON d.task_id = json_extract(t.task, '$.id') ORDER BY t.id"
    )
    return {"items": [{**json.loads(r["task"]), "details": json.loads(r["details"] or "{}")} for r in rows]}


@bp.get("/files")
def list_files():
    """Files uploaded to SharePoint through Graph: site, path, size, content type, version, times."""
    rows = db().execute(
        "SELECT site_id, path, length(content) AS size, content_type, version, created_at, updated_at"
        " FROM graph_files ORDER BY created_at, path"
    )
    return {"items": [dict(r) for r in rows]}


@bp.get("/files/<path:path>")
def get_file(path: str):
    """One uploaded file's content, as it was uploaded."""
    row = db().execute("SELECT content, content_type FROM graph_files WHERE path = ?", (path,)).fetchone()
    if row is None:
        raise ApiError(404, f"path: no file at {path!r}", "path")
    return Response(row["content"], mimetype=row["content_type"].split(";")[0])


@bp.get("/requests")
def list_requests():
    """The request log (method, path, status, time, duration): how tests prove a call or a fault happened."""
    rows = db().execute("SELECT method, path, status, at, duration_ms FROM request_log ORDER BY id")
    return {"items": [dict(r) for r in rows]}


ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def _webhook_problem(kind: str, body) -> str | None:
    """Why the real receiver would refuse ``body``, or None. Slack's incoming webhooks answer 400
    (``no_text``) without ``text`` or ``blocks``. A Teams Workflows webhook ("Send webhook alerts to a
    channel") posts each Adaptive Card of ``attachments``; it answers 202 to anything and then
    fails its run, so nothing reaches the channel: the mock refuses it at once, to be seen."""
    if not isinstance(body, dict):
        return "body: a JSON object is required"
    if kind == "slack":
        if (isinstance(body.get("text"), str) and body["text"]) or (
            isinstance(body.get("blocks"), list) and body["blocks"]
        ):
            return None
        return "text: no_text (Slack takes text or blocks)"
    attachments = body.get("attachments")
    if body.get("type") != "message" or not isinstance(attachments, list) or not attachments:
        return "attachments: a message with Adaptive Card attachments is required (Teams Workflows)"
    for n, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
            return f"attachments[{n}].contentType: {ADAPTIVE_CARD} is required"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or not isinstance(card.get("version"), str):
            return f"attachments[{n}].content: an AdaptiveCard with a version is required"
        if not isinstance(card.get("body"), list) or not card["body"]:
            return f"attachments[{n}].content.body: the card shows nothing"
    return None


def _webhook_text(kind: str, body: dict) -> str:
    """What a person sees in the channel: Slack's text, or the card's text blocks."""
    if kind == "slack":
        return body.get("text") or ""
    return "\n".join(
        element.get("text", "")
        for attachment in body["attachments"]
        for element in attachment["content"]["body"]
        if isinstance(element, dict) and element.get("type") == "TextBlock"
    )


@bp.post("/webhook/<kind>")
def receive_webhook(kind: str):
    """A chat webhook the second alert channel posts to, as strict as the real one: ``teams`` (a
    Workflows webhook: an Adaptive Card) or ``slack`` (an incoming webhook: ``text``)."""
    if kind not in ("teams", "slack"):
        raise ApiError(404, f"kind: {kind!r} is not a webhook of the mock (teams, slack)", "kind")
    body = request.get_json(silent=True)
    problem = _webhook_problem(kind, body)
    if problem:
        raise ApiError(400, problem, problem.split(":", 1)[0])
    with Tx(db()) as conn:
        conn.execute(
            "INSERT INTO webhook_messages (body, received_at) VALUES (?,?)",
            (json.dumps({"kind": kind, "body": body}), now_ts()),
        )
    return ("", 202) if kind == "teams" else "ok"


@bp.get("/webhook")
def list_webhook_messages():
    """What the chat webhooks received, oldest first: each body, its kind and the text it shows."""
    rows = db().execute("SELECT body, received_at FROM webhook_messages ORDER BY id")
    items = []
    for row in rows:
        stored = json.loads(row["body"])
        kind, body = stored["kind"], stored["body"]
        items.append({"kind": kind, "body": body, "text": _webhook_text(kind, body), "received_at": row["received_at"]})
    return {"items": items}


@bp.post("/reset")
def reset():
    """Empty everything, faults included."""
    with Tx(db()) as conn:
        for table in DATA_TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM sqlite_sequence")
    current_app.config["FAULTS"].clear()
    current_app.config["EXCHANGE"].reset()
    return {"status": "reset"}


@bp.post("/seed")
def seed():
    """Demo data (agents, supervisors, tickets of many ages, feedback), or `{"tickets": N}` for a scale test."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "request body: expected a JSON object", None)
    tickets = body.get("tickets")
    if tickets is not None and (
        not isinstance(tickets, int) or isinstance(tickets, bool) or not 0 <= tickets <= 2_000_000
    ):
        raise ApiError(400, "tickets: expected an integer from 0 to 2000000", "tickets")
    with Tx(db()) as conn:
        summary = seed_scale(conn, tickets) if tickets is not None else seed_demo(conn)
    return summary, 201


@bp.post("/vault")
def set_vault_secrets():
    """Store Key Vault secrets: ``{"name": "value", ...}`` (names as Key Vault allows them)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise ApiError(400, "request body: expected an object of secret names to string values", None)
    with Tx(db()) as conn:
        for name, value in body.items():
            conn.execute(
                "INSERT INTO vault_secrets (name, value, version, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value, version = excluded.version,"
                " updated_at = excluded.updated_at",
                (name, value, uuid.uuid4().hex, now_ts()),
            )
    return {"stored": sorted(body)}, 201


@bp.post("/directory/left")
def user_left():
    """``{"upn": ...}``: the user leaves the Microsoft Entra directory while the backend still names
    them (a supervisor who left the company)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("upn"), str) or "@" not in body["upn"]:
        raise ApiError(400, "upn: expected a user principal name", "upn")
    db().execute("INSERT OR IGNORE INTO graph_users_left (upn) VALUES (?)", (body["upn"].lower(),))
    return {"left": body["upn"].lower()}, 201


@bp.post("/faults")
def add_faults():
    """Make the next matching requests fail: a list of `{path, method, status, times, delay_s, body}`."""
    body = request.get_json(silent=True)
    raw_rules = body if isinstance(body, list) else (body or {}).get("rules") if isinstance(body, dict) else None
    if isinstance(body, dict) and "path" in body:
        raw_rules = [body]
    if not isinstance(raw_rules, list):
        raise ApiError(400, "rules: expected a list of fault rules (or {'rules': [...]})", "rules")
    try:
        rules = [FaultRule.parse(raw, i) for i, raw in enumerate(raw_rules)]
    except (ValueError, TypeError) as err:
        raise ApiError(400, str(err), str(err).split(":")[0]) from None
    current_app.config["FAULTS"].add(rules)
    return {"active": current_app.config["FAULTS"].active()}, 201


@bp.get("/faults")
def list_faults():
    """The faults still waiting for their requests, and how many times each is left."""
    return {"active": current_app.config["FAULTS"].active()}


@bp.delete("/faults")
def clear_faults():
    """Forget every fault not yet used."""
    current_app.config["FAULTS"].clear()
    return {"active": []}
