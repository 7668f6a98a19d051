"""The Microsoft Graph v1.0 subset the flows use, with Graph's real paths and bodies, and the
Microsoft identity platform's client-credentials token endpoint (plus the OpenID discovery document
that MSAL reads before asking for a token)."""

from __future__ import annotations

import json
import secrets
import uuid

from flask import Blueprint, jsonify, request, url_for

from mock_backend import db
from mock_backend.store import Tx, now_ts

bp = Blueprint("graph", __name__, url_prefix="/graph/v1.0")
token_bp = Blueprint("identity", __name__)

TOKEN_PREFIX = "mock-"  # tokens are not stored, so clients' cached tokens survive a restart of the mock


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(GraphError)
def _graph_error(err: GraphError):
    return jsonify(error={"code": err.code, "message": err.message}), err.status


@bp.before_request
def _require_bearer_token():
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not header.startswith("Bearer ") or not token.startswith(TOKEN_PREFIX):
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or was not issued by this tenant.")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Expected a JSON object body.")
    return body


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


# --- identity platform -------------------------------------------------------------------------------


@token_bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str):
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
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return {"error": "unsupported_grant_type", "error_description": "Only client_credentials is supported."}, 400
    if not form.get("client_id") or not (form.get("client_secret") or form.get("client_assertion")):
        return {"error": "invalid_client", "error_description": "client_id and client_secret are required."}, 401
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}"
    return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}


# --- mail ------------------------------------------------------------------------------------------------


@bp.post("/users/<mailbox>/sendMail")
def send_mail(mailbox: str):
    body = _body()
    message = body.get("message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidRequest", "message is required.")
    if not _addresses(message.get("toRecipients"), "toRecipients"):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is required.")
    _addresses(message.get("ccRecipients"), "ccRecipients")
    _addresses(message.get("bccRecipients"), "bccRecipients")
    content = message.get("body") or {}
    if not isinstance(content, dict) or content.get("contentType", "text").lower() not in ("text", "html"):
        raise GraphError(400, "ErrorInvalidRequest", "body.contentType must be Text or HTML.")
    for header in message.get("internetMessageHeaders") or []:
        if not str(header.get("name", "")).lower().startswith("x-"):
            raise GraphError(400, "InvalidInternetMessageHeader", "Custom headers must start with 'x-'.")
    db().execute(
        "INSERT INTO graph_mail (mailbox, message, received_at) VALUES (?,?,?)",
        (mailbox, json.dumps(message), now_ts()),
    )
    return "", 202


# --- calendar ---------------------------------------------------------------------------------------------


@bp.post("/users/<mailbox>/events")
def create_event(mailbox: str):
    body = _body()
    for field in ("subject", "start", "end"):
        if not body.get(field):
            raise GraphError(400, "ErrorInvalidRequest", f"{field} is required.")
    for field in ("start", "end"):
        if not isinstance(body[field], dict) or not body[field].get("dateTime"):
            raise GraphError(400, "ErrorInvalidRequest", f"{field}.dateTime is required.")
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


@bp.put("/sites/<site_id>/drive/root:/<path:item_path>:/content")
def upload_file(site_id: str, item_path: str):
    content = request.get_data()
    content_type = request.content_type or "application/octet-stream"
    now = now_ts()
    with Tx(db()) as conn:
        row = conn.execute("SELECT version, created_at FROM graph_files WHERE site_id = ? AND path = ?", (site_id, item_path)).fetchone()
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


@bp.post("/planner/tasks")
def create_planner_task():
    body = _body()
    for field in ("planId", "title"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise GraphError(400, "BadRequest", f"{field} is required.")
    task = {"id": uuid.uuid4().hex[:28], "createdDateTime": now_ts(), "percentComplete": 0, **body}
    db().execute("INSERT INTO graph_tasks (task, created_at) VALUES (?,?)", (json.dumps(task), now_ts()))
    return task, 201
