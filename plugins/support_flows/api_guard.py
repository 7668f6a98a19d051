"""An API-server middleware that closes a gap in Airflow's REST API: it accepts conf keys that no
Param declares. For the DAGs of this package, a trigger whose conf holds an unknown (say,
misspelled) field is answered 400 naming the field, and no run is created."""

from __future__ import annotations

import json
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
