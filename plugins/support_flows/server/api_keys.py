"""Integration keys: how PowerApps' connection authenticates once and keeps working.

Airflow's API takes short-lived JWTs. A Power Platform connection cannot refresh one by itself, so
the connector sends a long-lived key instead (``X-Api-Key``), like the deployment API tokens of
managed Airflow services. ``ApiKeyAuth``, an API-server middleware, checks the key on every request
(``key_store``: hashed at rest, bound to a user, expiring, revocable), lets it reach only the
routes that start flows and answer their outcomes, with a one-request token of its user
(``key_scope``), and keeps the limits (``limits``): a refused key is logged with its key id (never
its secret) and the source address; a source that keeps sending wrong keys is answered 429 with
``Retry-After`` without a database lookup, while keys that worked recently go on working; a key
starts at most ``SUPPORT_KEY_TRIGGERS_PER_MINUTE`` runs a minute, both budgets shared by every
API-server worker and replica.

The keys are managed with the other deploy commands (``support_flows.server.access``)::

    python -m support_flows.server.access keys create --user powerapps --name "PowerApps production" [--expires-in 365d]
    python -m support_flows.server.access keys list
    python -m support_flows.server.access keys revoke <key id>
"""

from __future__ import annotations

import asyncio
import logging

from support_flows.server.api_guard import json_answer
from support_flows.server.key_scope import KEYED_ROUTES_TEXT, keyed_route, starts_a_run, token_for
from support_flows.server.key_store import check_key, digest
from support_flows.server.limits import FailureLimiter, TriggerLimiter

log = logging.getLogger(__name__)

HEADER = b"x-api-key"


class ApiKeyAuth:
    """Pure ASGI middleware: a request with ``X-Api-Key`` goes on with the key's user's bearer token,
    or is answered 401 when the key is unknown, revoked, expired or malformed (429 for a source
    that keeps trying wrong keys)."""

    def __init__(self, app, limiter: FailureLimiter | None = None, triggers: TriggerLimiter | None = None):
        self.app = app
        self.limiter = limiter or FailureLimiter()
        self.triggers = triggers or TriggerLimiter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(name, value) for name, value in scope.get("headers") or [] if name != HEADER]
        keys = [value for name, value in scope.get("headers") or [] if name == HEADER]
        if not keys:
            return await self.app(scope, receive, send)
        key = keys[0].decode("latin-1").strip()
        source = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limiter.blocked_for(source, digest(key))
        if wait > 0:
            seconds = str(max(1, int(wait + 0.999)))
            return await json_answer(
                send,
                429,
                f"X-Api-Key: too many refused keys from {source}; try again in {seconds} s",
                [(b"retry-after", seconds.encode())],
            )
        found = await asyncio.to_thread(check_key, key)
        if found.user_id is None:
            await asyncio.to_thread(self.limiter.failed, source)
            log.warning("integration key refused (%s): key id %s from %s", found.refused, found.key_id or "-", source)
            return await json_answer(send, 401, "X-Api-Key: unknown, revoked, expired or malformed key")
        self.limiter.succeeded(digest(key))
        if not keyed_route(scope):  # authenticated, not authorised: a wrong key is 401 on every route
            return await json_answer(
                send,
                403,
                f"X-Api-Key: an integration key starts flows and reads their outcomes only ({KEYED_ROUTES_TEXT})",
            )
        if starts_a_run(scope) and (wait := await asyncio.to_thread(self.triggers.wait_for, found.key_id)) > 0:
            seconds = str(max(1, int(wait + 0.999)))
            log.warning("integration key %s: over %d runs a minute; refused", found.key_id, self.triggers.per_minute)
            return await json_answer(
                send,
                429,
                f"X-Api-Key: this key started {self.triggers.per_minute} runs in the last minute "
                f"(SUPPORT_KEY_TRIGGERS_PER_MINUTE); try again in {seconds} s",
                [(b"retry-after", seconds.encode())],
            )
        token = await asyncio.to_thread(token_for, found.user_id)
        headers = [(n, v) for n, v in headers if n != b"authorization"] + [
            (b"authorization", f"Bearer {token}".encode())
        ]
        return await self.app({**scope, "headers": headers}, receive, send)
