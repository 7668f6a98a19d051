"""Mail: ``sendMail``, drafts and their ``send``, and looking a message up by its
``internetMessageId``; every message leaves through Exchange's limits (mock_backend.exchange).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from datetime import UTC, datetime

from flask import current_app, request

from mock_backend import db
from mock_backend.graph.common import GraphError, addresses, as_graph, bp, item_body, only, request_body
from mock_backend.graph.directory import existing_mailbox
from mock_backend.graph_schema import graph_schema
from mock_backend.store import Tx, now_ts, to_ts

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
    only(message, MESSAGE_PROPERTIES, "microsoft.graph.message")
    if not addresses(message.get("toRecipients"), "toRecipients"):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is required.")
    addresses(message.get("ccRecipients"), "ccRecipients")
    addresses(message.get("bccRecipients"), "bccRecipients")
    item_body(message.get("body") or {}, "body")
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
    existing_mailbox(mailbox)
    body = request_body()
    only(body, {"message", "saveToSentItems"}, "microsoft.graph.sendMail")
    message = _checked_message(body.get("message"))
    if "saveToSentItems" in body and not isinstance(body["saveToSentItems"], bool):
        raise GraphError(400, "BadRequest", "saveToSentItems must be a Boolean.")
    as_graph(graph_schema().check_action, body, "sendMail")  # after the rules above, with their own codes
    _submit(mailbox, message)
    return "", 202


@bp.post("/users/<mailbox>/messages")
def create_draft(mailbox: str):
    """Graph's `POST /users/{id}/messages`: 201 and a draft (not sent) in the Drafts folder."""
    existing_mailbox(mailbox)
    message = _checked_message(request_body())
    as_graph(graph_schema().check, message, "message")
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
    existing_mailbox(mailbox)
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
    existing_mailbox(mailbox)
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
