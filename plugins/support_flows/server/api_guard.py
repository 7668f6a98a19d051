"""The API-server middleware that checks request bodies before Airflow reads them, where Airflow has
no equivalent (who may trigger is Airflow's own authorisation: ``support_flows.server.access``).

Every JSON body sent to Airflow's REST API (``/api/v2/...``) or the one-call API (``/support/v1/...``,
``support_flows.server.flow_calls``, which checks its flows' fields itself), under any ``[api] base_url``
prefix:

- at most ``MAX_BODY_BYTES``, else 413 (read no further);
- nested at most ``MAX_DEPTH`` levels, else 400 (a deep body would make the JSON parser recurse
  until it fails with a server error).

Bodies that start runs of this package's DAGs (a trigger, a backfill or its dry run, the
materialisation of an asset whose one producer is such a DAG):

- an unknown (say, misspelled) conf field is answered 400 naming the field, and no run is created
  (Airflow accepts conf keys that no Param declares); so is a missing field that is required unless
  the event watcher starts the run, and a field only the watcher may set (``ticket_id`` of Flow 1);
- a caller-chosen ``dag_run_id`` is refused with 400: run ids are Airflow's to choose, so nobody can
  take the id the event watcher will give a channel ticket's run (Power Platform never sends one);
- a trigger's personal fields (a new ticket's customer name, address, subject and description, a
  rating's comment) are checked by their Params here and never reach Airflow: they are kept for
  the run's first step in the package's own table, under the run id the body then names
  (``support_flows.server.personal``);
- Airflow 3 requires ``logical_date`` in a trigger body (``null`` for "now"), but Power Platform
  leaves out a body field the maker does not fill in: a body without it gets ``null``, as Airflow
  2 did. A body that has one keeps it.
"""

from __future__ import annotations

import asyncio
import json
import re

from support_flows.authoring.catalog import allowed_conf_keys, conf_problem, personal_fields, watcher_only

MAX_BODY_BYTES = 256 * 1024  # the largest payload (two 20,000-character texts) is a tenth of this
MAX_DEPTH = 32  # the deepest payload is 3 levels (body, conf, a value)
API_PATH = re.compile(r"^/api/v2/|^/support/v1/")  # Airflow's REST API, the one-call API
TRIGGER_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
BACKFILL_PATH = re.compile(r"^/api/v2/backfills(/dry_run)?/?$")
MATERIALIZE_PATH = re.compile(r"^/api/v2/assets/(?P<asset_id>\d+)/materialize/?$")
# A JSON string, its closing quote optional: an unterminated string is consumed to the body's end
# once, not retried from each quote inside it (the old ``"(?:[^"\\]|\\.)*"`` took 359 s on 256 KiB of
# ``"\"\"\"...``); possessive quantifiers, so nothing is ever tried twice. Blanking every string
# this way, then finding the brackets, is linear in the body and runs in C but for the brackets.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


class BodyRefused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def api_path(scope: dict) -> str:
    """The request's path below the API server's root (``[api] base_url``'s path, when the proxy
    passes it on), so the guard holds under any prefix."""
    path, root = scope.get("path", ""), (scope.get("root_path") or "").rstrip("/")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def nesting_depth(body: bytes, stop_above: int | None = None) -> int:
    """How deeply a JSON text nests, counted without parsing it (brackets inside strings do not
    count), in one linear pass; it stops as soon as the depth passes ``stop_above``."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(_STRING.sub(b'""', body)):
        if bracket[0] in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        else:
            depth -= 1
    return deepest


def nul_field(value, where: str) -> str | None:
    """The first field (dotted path) whose text holds a NUL character, keys included, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return where
            if found := nul_field(item, f"{where}.{key}"):
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            if found := nul_field(item, f"{where}[{n}]"):
                return found
    return None


def check_run_body(dag_id: str, payload: dict, conf_field: str, run_id_field: str | None) -> None:
    """400 for what a body that starts runs of ``dag_id`` must not carry."""
    if allowed_conf_keys(dag_id) is None:
        return
    if run_id_field and payload.get(run_id_field) not in (None, ""):
        raise BodyRefused(
            400, f"{run_id_field}: runs of {dag_id} get their id from Airflow; leave the field out (or null)"
        )
    conf = payload.get(conf_field)
    if not isinstance(conf, dict):
        return  # Airflow answers a conf that is not an object itself
    nul = nul_field(conf, conf_field)
    if nul:  # PostgreSQL stores no NUL character in text or JSON: Airflow would fail with a 500
        raise BodyRefused(400, f"{nul}: contains a NUL character (\\u0000), which no field may hold")
    watcher_fields = [name for name in watcher_only(dag_id) if conf.get(name) is not None]
    if watcher_fields:
        raise BodyRefused(400, f"{conf_field}.{watcher_fields[0]}: set by the event watcher only; leave it out")
    problem = conf_problem(dag_id, conf)
    if problem:
        raise BodyRefused(400, problem.replace("conf.", f"{conf_field}.", 1))


def sole_producer(asset_id: int) -> str | None:
    """The DAG that materialising ``asset_id`` would run: its one producer (Airflow refuses an
    asset with several), from the metadata database the API server holds."""
    import sqlalchemy as sa
    from airflow.models.asset import TaskOutletAssetReference
    from airflow.utils.session import create_session

    with create_session() as session:
        dag_ids = session.scalars(
            sa.select(TaskOutletAssetReference.dag_id)
            .where(TaskOutletAssetReference.asset_id == asset_id)
            .group_by(TaskOutletAssetReference.dag_id)
            .limit(2)
        ).all()
    return dag_ids[0] if len(dag_ids) == 1 else None


def checked_body(path: str, body: bytes, materialized_dag: str | None = None) -> bytes:
    """The body to hand to Airflow (``logical_date`` added to a trigger), or ``BodyRefused``.
    ``materialized_dag``: the DAG an asset materialisation at ``path`` would run."""
    if nesting_depth(body, stop_above=MAX_DEPTH) > MAX_DEPTH:
        raise BodyRefused(400, f"body: JSON nested deeper than {MAX_DEPTH} levels")
    trigger, backfill = TRIGGER_PATH.match(path), BACKFILL_PATH.match(path)
    materialize = MATERIALIZE_PATH.match(path) and materialized_dag
    if not (trigger or backfill or materialize):
        return body
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return body  # Airflow answers malformed JSON itself, as 422
    if not isinstance(payload, dict):
        return body
    if trigger:
        check_run_body(trigger["dag_id"], payload, "conf", "dag_run_id")
        if "logical_date" not in payload and allowed_conf_keys(trigger["dag_id"]) is not None:
            return json.dumps({**payload, "logical_date": None}).encode()
    elif materialize:
        check_run_body(materialized_dag, payload, "conf", "dag_run_id")
    elif isinstance(payload.get("dag_id"), str):
        check_run_body(payload["dag_id"], payload, "dag_run_conf", None)
    return body


async def json_answer(send, status: int, detail: str, headers: list | None = None) -> None:
    """Answer an ASGI request ourselves, as Airflow answers errors: ``{"detail": ...}`` as JSON
    (the REST guard's and the integration keys' refusals alike)."""
    answer = json.dumps({"detail": detail}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": answer})


async def _read_body(scope: dict, receive) -> bytes | None:
    """The whole body, or None when the client went away; ``BodyRefused`` past the cap."""
    declared = dict(scope.get("headers") or []).get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyRefused(413, f"body: {int(declared)} bytes, more than the {MAX_BODY_BYTES} this API takes")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyRefused(413, f"body: more than the {MAX_BODY_BYTES} bytes this API takes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class UnknownConfFieldGuard:
    """Pure ASGI middleware: reads a body sent to the REST API once, checks it, then replays it to
    Airflow (a trigger of this package's DAGs with ``logical_date`` added when missing)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        path = api_path(scope)
        if not API_PATH.match(path):
            return await self.app(scope, receive, send)
        try:
            body = await _read_body(scope, receive)
            if body is None:
                return None
            materialize = MATERIALIZE_PATH.match(path)
            produced_by = await asyncio.to_thread(sole_producer, int(materialize["asset_id"])) if materialize else None
            # off the event loop: the loop serves every other request (health probes, the task
            # execution API) while a body is scanned and parsed
            body = await asyncio.to_thread(checked_body, path, body, produced_by)
            trigger = TRIGGER_PATH.match(path)
            if trigger and personal_fields(trigger["dag_id"]):
                from support_flows.server import personal

                body = await personal.trigger_body(scope, trigger["dag_id"], body)
        except BodyRefused as refused:
            # a body past the cap was not read to its end: the connection cannot carry another request
            close = [(b"connection", b"close")] if refused.status == 413 else []
            return await json_answer(send, refused.status, refused.detail, close)

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
