"""What every Graph area of the mock shares: the blueprints, Graph's error format, the bearer
token check, reading a body (size, OData's unknown properties, Graph's own schema) and the 429 of
Outlook's throttling (mock_backend.exchange).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request

from mock_backend.store import now_ts

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


def request_body() -> dict:
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise GraphError(413, "RequestEntityTooLarge", f"The request is larger than {MAX_REQUEST_BYTES} bytes.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Expected a JSON object body.")
    return body


def as_graph(check, *args) -> None:
    """Graph's own schema (``graph_schema``) over a body: what its reader refuses is a 400 BadRequest."""
    from mock_backend.graph_schema import SchemaError

    try:
        check(*args)
    except SchemaError as err:
        raise GraphError(400, "BadRequest", str(err)) from None


def only(body: dict, allowed: set[str], type_name: str) -> None:
    """Graph's OData reader refuses properties its type does not have."""
    for name in body:
        if name not in allowed and not name.startswith("@odata."):
            raise GraphError(400, "BadRequest", f"The property '{name}' does not exist on type '{type_name}'.")


def addresses(recipients: object, field: str) -> list[str]:
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


def item_body(content: object, field: str) -> None:
    """An itemBody: ``{"contentType": "text" | "html", "content": str}``."""
    if content is None:
        return
    if not isinstance(content, dict) or str(content.get("contentType", "text")).lower() not in ("text", "html"):
        raise GraphError(400, "ErrorInvalidRequest", f"{field}.contentType must be Text or HTML.")
    if not isinstance(content.get("content", ""), str):
        raise GraphError(400, "ErrorInvalidRequest", f"{field}.content must be a string.")


def throttled_response(reason: str, retry_after: float) -> Response:
    """Outlook's answer past a mailbox's limits (mock_backend.exchange): 429 ApplicationThrottled."""
    return graph_error_response(429, "ApplicationThrottled", reason, retry_after=max(1, round(retry_after + 0.499)))
