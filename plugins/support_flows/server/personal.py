"""The API server's side of keeping customers' words out of Airflow's metadata.

A trigger of a flow with personal fields (``catalog.personal_fields``: a new ticket's customer name,
address, subject and description, a rating's comment) reaches Airflow without them: the REST
guard (``api_guard``) and the one-call API (``flow_calls``) check each field by its Param, keep
them in ``support_internal.intake`` under the run id they give the run (``manual__<time>_<random>``,
or the one-call API's idempotent id), and hand Airflow the rest of the conf. Airflow's run conf and
audit log then hold references (the run id, the request id), never the customer's words; the
run's first step reads the fields back (``authoring.dag_defaults.step``).

Only for a caller Airflow's auth manager lets start the flow: anyone else's request goes on without
the fields (Airflow answers it 401 or 403), so no one can fill the table without the right to start
a run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import datetime

from support_flows.authoring import catalog
from support_flows.core import times

log = logging.getLogger(__name__)

_store: dict = {}


NOT_KEPT = "the request cannot be taken now (its fields could not be stored); try again"


class NotKept(Exception):
    """The fields could not be kept (the reporting database is away): the request is refused (503,
    ``NOT_KEPT``)."""


def new_run_id(now: datetime) -> str:
    """A run id like Airflow's own for a manual run, made unique: the fields are kept under it
    before the run exists."""
    return f"manual__{now.isoformat()}_{secrets.token_hex(4)}"


def split(dag_id: str, conf: dict) -> tuple[dict, dict]:
    """(the personal fields ``conf`` has, the rest of it)."""
    personal = set(catalog.personal_fields(dag_id))
    fields = {name: value for name, value in conf.items() if name in personal and value is not None}
    return fields, {name: value for name, value in conf.items() if name not in fields}


def problem(dag_id: str, fields: dict, prefix: str = "conf") -> str | None:
    """The first personal field whose value its Param refuses, named; Airflow no longer sees them."""
    for name, value in fields.items():
        found = catalog.field_problem(dag_id, name, value)
        if found:
            return found.replace("conf.", f"{prefix}.", 1)
    return None


def _engine():
    if "engine" not in _store:
        from support_flows.storage.reporting import ReportingStore

        _store["engine"] = ReportingStore().engine
    return _store["engine"]


def keep_for_run(dag_id: str, fields: dict, run_id: str | None = None) -> str:
    """Keep the fields under ``run_id`` (a new run id when none is given); the run id. ``NotKept``
    when they cannot be kept. A run that had some already keeps those (a repeated call)."""
    run_id = run_id or new_run_id(times.now())
    keep(dag_id, run_id, fields)
    return run_id


def keep(dag_id: str, run_id: str, fields: dict) -> bool:
    """Keep the run's fields (False: the run had some already, kept as they were)."""
    from support_flows.storage import intake

    try:
        return intake.put(_engine(), dag_id, run_id, fields, times.now())
    except Exception as err:  # noqa: BLE001 - whatever keeps the database away, the request cannot go on
        log.error("cannot keep the personal fields of a run of %s: %s", dag_id, type(err).__name__)
        raise NotKept(str(type(err).__name__)) from None


def kept(dag_id: str, run_id: str) -> dict | None:
    from support_flows.storage import intake

    return intake.read(_engine(), dag_id, run_id)


async def caller_may_start(scope: dict, dag_id: str) -> bool:
    """Whether the request's caller (its bearer token, the key's, or the UI's cookie) may start runs
    of ``dag_id``, by Airflow's auth manager; False without a valid one."""
    from fastapi import HTTPException
    from starlette.requests import Request

    from support_flows.server.flow_calls import caller, may

    try:
        user = await caller(Request(scope))
    except HTTPException:
        return False
    return await asyncio.to_thread(may, user, dag_id, "POST")


async def trigger_body(scope: dict, dag_id: str, body: bytes) -> bytes:
    """A REST trigger's body without its personal fields, which are kept for the run the body now
    names; unchanged when it has none. ``BodyRefused`` for a field its Param refuses, or when they
    cannot be kept."""
    from support_flows.server.api_guard import BodyRefused

    split_body = await asyncio.to_thread(_split_body, dag_id, body)  # before anyone is authenticated: off the loop
    if split_body is None:
        return body
    payload, fields, rest = split_body
    if not await caller_may_start(scope, dag_id):  # Airflow answers 401 or 403; the fields never reach it
        return json.dumps({**payload, "conf": rest}).encode()
    try:
        run_id = await asyncio.to_thread(keep_for_run, dag_id, fields)
    except NotKept:
        raise BodyRefused(503, NOT_KEPT) from None
    return json.dumps({**payload, "conf": rest, "dag_run_id": run_id}).encode()


def _split_body(dag_id: str, body: bytes) -> tuple[dict, dict, dict] | None:
    """(the body, its conf's personal fields, the rest of its conf), or None when it has no personal
    field; ``BodyRefused`` for a field its Param refuses."""
    from support_flows.server.api_guard import BodyRefused

    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None
    conf = payload.get("conf") if isinstance(payload, dict) else None
    if not isinstance(conf, dict):
        return None
    fields, rest = split(dag_id, conf)
    if not fields:
        return None
    found = problem(dag_id, fields)
    if found:
        raise BodyRefused(400, found)
    return payload, fields, rest
