"""API-server middlewares that tighten Airflow's REST API for this package.

- ``UnknownConfFieldGuard``: Airflow accepts conf keys that no Param declares. For the DAGs of
  this package, a trigger whose conf holds an unknown (say, misspelled) field is answered 400
  naming the field, and no run is created.
- ``EventDagsOnlyGuard``: least privilege for PowerApps. The REST users named in
  ``SUPPORT_EVENT_ONLY_USERS`` (default ``powerapps``) may trigger and read the runs of the event
  DAGs and nothing else (403), whatever their role allows.
"""

from __future__ import annotations

import base64
import json
import os
import re

from support_flows.params import allowed_conf_keys, unknown_conf_keys

TRIGGER_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")


class UnknownConfFieldGuard:
    """Pure ASGI middleware: reads the trigger body once, then replays it to Airflow unchanged."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = TRIGGER_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if not match or scope.get("method") != "POST" or allowed_conf_keys(match["dag_id"]) is None:
            return await self.app(scope, receive, send)

        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)

        unknown = []
        try:
            payload = json.loads(body or b"{}")
            conf = payload.get("conf") if isinstance(payload, dict) else None
            if isinstance(conf, dict):
                unknown = unknown_conf_keys(match["dag_id"], conf)
        except ValueError:
            pass  # Airflow answers malformed JSON itself
        if unknown:
            allowed = ", ".join(sorted(allowed_conf_keys(match["dag_id"]) or ()))
            detail = f"conf.{unknown[0]}: unknown field for {match['dag_id']} (allowed: {allowed})"
            answer = json.dumps({"detail": detail}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
            await send({"type": "http.response.body", "body": answer})
            return None

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


EVENT_DAGS = frozenset({"support_ticket_created", "support_ticket_assigned", "support_ticket_resolved",
                        "support_feedback_received"})
EVENT_RUN_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns(/.*)?$")
OPEN_PATHS = ("/auth/token", "/api/v2/monitor/health", "/api/v2/version")


def _token_subject(scope) -> str | None:
    """The user a request's bearer token (or UI cookie) names. The signature is checked by Airflow
    afterwards; this guard only ever takes rights away, so a forged token gains nothing here."""
    headers = dict(scope.get("headers") or [])
    token = None
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    else:
        for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "_token":
                token = value
    if not token or token.count(".") != 2:
        return None
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    return claims.get("sub") if isinstance(claims, dict) else None


def restricted_users() -> frozenset[str]:
    return frozenset(u.strip() for u in os.environ.get("SUPPORT_EVENT_ONLY_USERS", "powerapps").split(",") if u.strip())


def event_only_allows(method: str, path: str) -> bool:
    if path in OPEN_PATHS:
        return True
    match = EVENT_RUN_PATH.match(path)
    if not match or match["dag_id"] not in EVENT_DAGS:
        return False
    if method == "POST":
        return match.group(2) in (None, "", "/")
    return method in ("GET", "HEAD")


class EventDagsOnlyGuard:
    """Pure ASGI middleware: 403 for what an event-only user may not do."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            user = _token_subject(scope)
            if user and user in restricted_users() and not event_only_allows(scope["method"], scope["path"]):
                answer = json.dumps({"detail": f"user {user} may only trigger and read runs of the event DAGs"}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
                await send({"type": "http.response.body", "body": answer})
                return None
        return await self.app(scope, receive, send)
