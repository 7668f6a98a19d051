"""The API-server middleware that checks trigger bodies for this package's DAGs, where Airflow
has no equivalent (who may trigger is Airflow's own authorisation: ``support_flows.server.access``).

- Airflow accepts conf keys that no Param declares: a trigger whose conf holds an unknown (say,
  misspelled) field is answered 400 naming the field, and no run is created.
- Airflow 3 requires ``logical_date`` in the body (``null`` for "now"), but Power Platform leaves
  out a body field that the maker does not fill in: a body without it gets ``null``, as Airflow 2
  did. A body that has one keeps it.
"""

from __future__ import annotations

import json
import re

from support_flows.core.catalog import allowed_conf_keys, unknown_conf_keys

TRIGGER_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")


class UnknownConfFieldGuard:
    """Pure ASGI middleware: reads the trigger body once, then replays it to Airflow (with
    ``logical_date`` added when missing)."""

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
            if isinstance(payload, dict) and "logical_date" not in payload:
                body = json.dumps({**payload, "logical_date": None}).encode()
        except ValueError:
            pass  # Airflow answers malformed JSON itself
        if unknown:
            allowed = ", ".join(sorted(allowed_conf_keys(match["dag_id"]) or ()))
            detail = f"conf.{unknown[0]}: unknown field for {match['dag_id']} (allowed: {allowed})"
            answer = json.dumps({"detail": detail}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return None

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        headers = [(n, v) for n, v in scope.get("headers") or [] if n != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        return await self.app({**scope, "headers": headers}, replay, send)
