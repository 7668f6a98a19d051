"""One call per flow: PowerApps starts a flow and gets its outcome back in the same request.

    POST {airflow}/support/v1/flows/{dag_id}?wait_seconds=20      body: the flow's fields
    GET  {airflow}/support/v1/flows/{dag_id}/runs/{run_id}?wait_seconds=20
    GET  {airflow}/support/v1/flows                                the flows the caller may start

Power Automate's own answer for apps ("Respond to a PowerApp or flow") is one call with typed
outputs; Airflow's REST API needs three (trigger, poll the run, read the result task's XCom), and
its ``/wait`` streams NDJSON, which Power Platform cannot read as one body. This FastAPI app,
mounted in the API server by the plugin, is that one call:

- **Who**: Airflow's auth manager decides, as for a trigger through ``/api/v2`` (the caller's
  bearer token, or the integration key the ``ApiKeyAuth`` middleware turned into one); a run is
  read back only by the user who started it (anyone else gets 404, so run ids do not leak).
- **What**: the body is the flow's conf (its Params); unknown, missing and watcher-only fields are
  refused with 400 naming the field, as the REST guard does, and Airflow validates the Params
  (400). The run is created by Airflow's own trigger route, without the customer's words: those
  are checked here and kept for the run's first step (``support_flows.server.personal``).
- **Waiting**: a waiting call holds no thread and no database connection: one poller per API-server
  worker reads the state of every awaited run in one query (``RunWatch``), and the call sleeps on
  a future. Finished within ``wait_seconds`` (default 20, at most 100: Power Platform gives up on
  a request after 120 s): 200 with the run's state, its outcome fields (its flow's contract) or,
  for a failed run, a reason code and message. Still going: 202 with ``Location`` (the GET above)
  and ``Retry-After``, the asynchronous pattern Power Automate follows by itself.
- **Repeats**: an ``Idempotency-Key`` header (or, for a new ticket, its ``request_id``) names the
  run: a retried call gets the first call's run and answer, never a second run; the same key with
  a different body is refused (422).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import weakref
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from support_flows.authoring import catalog
from support_flows.flows.tickets import TICKET_CREATED
from support_flows.server import personal

log = logging.getLogger(__name__)

URL_PREFIX = "/support/v1"
DEFAULT_WAIT_SECONDS = 20
MAX_WAIT_SECONDS = 100  # Power Platform's request timeout is 120 s
POLL_SECONDS = 0.2  # how often the poller reads the awaited runs' states
RETRY_AFTER_SECONDS = 2
RUN_ID_PREFIX = "flow_call__"  # runs named by an idempotency key
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
FINISHED = ("success", "failed")
FAILED_WITHOUT_REASON = {
    "reason_code": "flow_failed",
    "reason_message": "the flow failed; the system administrators were alerted and can retry it in Airflow",
}

app = FastAPI(
    title="Support flows: one call per flow",
    version="1",
    description=__doc__.split("\n\n")[1] if __doc__ else "",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def powerapps_flows() -> list[str]:
    """The flows a PowerApps call may start: the catalog's PowerApps DAGs."""
    return [entry.dag_id for entry in catalog.DAGS.values() if entry.powerapps]


# --- who is calling ----------------------------------------------------------------------------------


async def caller(request: Request):
    """The Airflow user behind the request: its bearer token (the integration key's, put there by
    ``ApiKeyAuth``) or the UI's session cookie; 401 without one."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return await resolve_user_from_token(token.strip())
    return await resolve_user_from_token(request.cookies.get(COOKIE_NAME_JWT_TOKEN))


def may(user, dag_id: str, method: str) -> bool:
    """Airflow's auth manager on the DAG's runs: POST to start one, PUT to manage anyone's."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method=method, access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )


# --- starting a run ---------------------------------------------------------------------------------


def run_id_for(user_name: str, dag_id: str, key: str) -> str:
    """The run an idempotency key names: the same user, flow and key give the same run."""
    digest = hashlib.sha256(json.dumps([user_name, dag_id, key]).encode()).hexdigest()[:32]
    return f"{RUN_ID_PREFIX}{digest}"


_dag_bags: dict[str, Any] = {}


def _dag_bag():
    """The API server's DAG bag for serialized DAGs (one per worker, made on first use)."""
    if "bag" not in _dag_bags:
        from airflow.api_fastapi.common.dagbag import create_dag_bag

        _dag_bags["bag"] = create_dag_bag()
    return _dag_bags["bag"]


def existing_run(dag_id: str, run_id: str) -> dict | None:
    """A run's state, conf and who started it, or None."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            sa.select(DagRun.state, DagRun.conf, DagRun.triggering_user_name).where(
                DagRun.dag_id == dag_id, DagRun.run_id == run_id
            )
        ).first()
    return None if row is None else {"state": str(row.state), "conf": row.conf or {}, "owner": row[2] or ""}


def start_run(dag_id: str, conf: dict, run_id: str | None, user, request: Request) -> str:
    """Create the run through Airflow's own trigger route (its Param validation, its run ids), as
    the user; returns the run id. A run id that exists already raises ``RunExists``."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
    from airflow.utils.session import create_session
    from sqlalchemy.exc import IntegrityError

    body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf=conf)
    try:
        with create_session() as session:
            run = trigger_dag_run(
                dag_id=dag_id, body=body, dag_bag=_dag_bag(), user=user, session=session, request=request
            )
            created = run.run_id
            # Airflow's audit log, as its own trigger route writes it (the fields' names, not their
            # values: they are a customer's data)
            from airflow.models.log import Log

            session.add(
                Log(
                    event="trigger_dag_run",
                    dag_id=dag_id,
                    run_id=created,
                    owner=user.get_name(),
                    extra=json.dumps({"via": "support one-call API", "fields": sorted(conf)}),
                )
            )
    except IntegrityError:
        raise RunExists(run_id) from None
    return created


class RunExists(Exception):
    pass


# --- waiting ----------------------------------------------------------------------------------------


def read_states(runs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The state of each awaited run, in one query."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    states = {}
    with create_session() as session:
        for start in range(0, len(runs), 500):
            chunk = runs[start : start + 500]
            rows = session.execute(
                sa.select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(
                    sa.or_(*(sa.and_(DagRun.dag_id == d, DagRun.run_id == r) for d, r in chunk))
                )
            )
            states.update({(row.dag_id, row.run_id): str(row.state) for row in rows})
    return states


class RunWatch:
    """Every call waiting in this event loop shares one poller: each round reads the states of all
    awaited runs in one query (in a worker thread, for that moment only) and wakes the calls whose
    run finished. A waiting call holds a future, not a thread or a database connection."""

    def __init__(self, poll_seconds: float = POLL_SECONDS, reader=read_states):
        self.poll_seconds, self.reader = poll_seconds, reader
        self._waiting: dict[tuple[str, str], tuple[asyncio.Future, int]] = {}
        self._poller: asyncio.Task | None = None

    async def finished(self, dag_id: str, run_id: str, timeout: float) -> str | None:
        """The run's final state once it has one, or None after ``timeout`` seconds."""
        key = (dag_id, run_id)
        future, count = self._waiting.get(key, (None, 0))
        if future is None:
            future = asyncio.get_running_loop().create_future()
        self._waiting[key] = (future, count + 1)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout) if timeout > 0 else None
        except TimeoutError:
            return None
        finally:
            future, count = self._waiting.get(key, (future, 1))
            if count <= 1:
                self._waiting.pop(key, None)
            else:
                self._waiting[key] = (future, count - 1)

    async def _poll(self) -> None:
        while self._waiting:
            try:
                states = await asyncio.to_thread(self.reader, list(self._waiting))
            except Exception:  # the database is away for a moment: the calls wait on, or time out
                log.exception("one-call API: cannot read run states")
                states = {}
            for key, state in states.items():
                entry = self._waiting.get(key)
                if entry and state in FINISHED and not entry[0].done():
                    entry[0].set_result(state)
            await asyncio.sleep(self.poll_seconds)


_watches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def watch() -> RunWatch:
    """This event loop's watch (an API-server worker has one loop; tests may start several)."""
    loop = asyncio.get_running_loop()
    if loop not in _watches:
        _watches[loop] = RunWatch()
    return _watches[loop]


# --- answering --------------------------------------------------------------------------------------


def outcome_of(dag_id: str, run_id: str) -> dict:
    """The finished run's answer: its state and outcome fields, or why it failed."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from support_flows.server import failure_reasons

    with create_session() as session:
        state = str(session.scalar(sa.select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)))
        if state == "success":
            row = session.scalars(
                XComModel.get_many(run_id=run_id, key="return_value", dag_ids=dag_id).where(
                    XComModel.dag_result.is_(True)
                )
            ).first()
            value = XComModel.deserialize_value(row) if row is not None else {}
            return {"state": state, "reason_code": None, "reason_message": None, **(value or {})}
        if state == "failed":
            row = session.scalars(
                XComModel.get_many(run_id=run_id, key=failure_reasons.XCOM_KEY, dag_ids=dag_id)
            ).first()
            if row is not None:
                reason = XComModel.deserialize_value(row)
                return {"state": state, "reason_code": reason["code"], "reason_message": reason["message"]}
            return {"state": state, **FAILED_WITHOUT_REASON}
    return {"state": state, "reason_code": None, "reason_message": None}


async def answer(request: Request, dag_id: str, run_id: str, wait_seconds: float) -> JSONResponse:
    """200 with the outcome when the run finishes within ``wait_seconds``, else 202 and where to ask."""
    await watch().finished(dag_id, run_id, wait_seconds)
    body = {"run_id": run_id, **await asyncio.to_thread(outcome_of, dag_id, run_id)}
    if body["state"] in FINISHED:
        return JSONResponse(body)
    location = location_of(request, dag_id, run_id)
    return JSONResponse(body, status_code=202, headers={"Location": location, "Retry-After": str(RETRY_AFTER_SECONDS)})


def location_of(request: Request, dag_id: str, run_id: str) -> str:
    """Where the run's outcome will be: under Airflow's ``[api] base_url`` when it is set (the
    address callers reach it at, https behind a proxy), else the address this request came to."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="").rstrip("/")
    if base.startswith(("http://", "https://")):
        return f"{base}{URL_PREFIX}/flows/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    return str(request.url_for("flow_run", dag_id=dag_id, run_id=run_id))


def _wait_seconds(request: Request) -> float:
    text = request.query_params.get("wait_seconds")
    if text is None:
        return DEFAULT_WAIT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_WAIT_SECONDS:  # NaN fails too
        raise HTTPException(
            400,
            f"wait_seconds: {text!r} is not a number of seconds from 0 to {MAX_WAIT_SECONDS} "
            "(Power Platform waits at most 120 s for an answer)",
        )
    return seconds


def extra_flows() -> list[str]:
    """DAGs the one-call API serves beside the PowerApps flows, from ``SUPPORT_FLOW_CALLS_EXTRA_DAGS``
    in the API server's environment (comma-separated; for benchmarks: the floor's trivial DAG).
    The package checks no fields for them; Airflow's Params and authorisation still apply."""
    import os

    return [name.strip() for name in os.environ.get("SUPPORT_FLOW_CALLS_EXTRA_DAGS", "").split(",") if name.strip()]


def _flow(dag_id: str) -> str:
    if dag_id not in powerapps_flows() and dag_id not in extra_flows():
        raise HTTPException(404, f"flow {dag_id!r}: no such flow (flows: {', '.join(powerapps_flows())})")
    return dag_id


@app.get("/flows", name="flows")
async def flows(request: Request) -> dict:
    """The flows the caller may start (the connector's connection test: 401 for a wrong key)."""
    user = await caller(request)
    allowed = [dag_id for dag_id in powerapps_flows() if await asyncio.to_thread(may, user, dag_id, "POST")]
    return {"flows": allowed}


async def _fields(dag_id: str, request: Request) -> tuple[dict, dict]:
    """The body's fields, checked as the REST guard checks a trigger's conf: (the customer's words,
    the rest). The customer's words never reach Airflow: they are kept for the run's first step
    (``support_flows.server.personal``)."""
    from support_flows.server.api_guard import BodyRefused, check_run_body

    try:
        conf = json.loads(await request.body() or b"{}")
    except ValueError as err:
        raise HTTPException(400, f"body: not JSON ({err})") from None
    if not isinstance(conf, dict):
        raise HTTPException(400, "body: a JSON object of the flow's fields")
    try:
        check_run_body(dag_id, {"body": conf}, "body", None)
    except BodyRefused as refused:
        raise HTTPException(refused.status, refused.detail) from None
    fields, rest = personal.split(dag_id, conf)
    found = personal.problem(dag_id, fields, prefix="body") if fields else None
    if found:
        raise HTTPException(400, found)
    return fields, rest


async def _keep(dag_id: str, run_id: str | None, fields: dict) -> str | None:
    """The run id the fields are kept under (a new one when the call names none)."""
    if not fields:
        return run_id
    try:
        return await asyncio.to_thread(personal.keep_for_run, dag_id, fields, run_id)
    except personal.NotKept:
        raise HTTPException(503, personal.NOT_KEPT) from None


async def _repeated(dag_id: str, run_id: str, user, conf: dict, fields: dict) -> None:
    """A call whose idempotency key names a run that exists: the same caller and body answer that
    run; anyone else's is 409, another body 422."""
    earlier = await asyncio.to_thread(existing_run, dag_id, run_id)
    if earlier is None or earlier["owner"] != user.get_name():
        raise HTTPException(409, "Idempotency-Key: a run with this key is being made; repeat the call")
    kept = await asyncio.to_thread(personal.kept, dag_id, run_id) if fields else None
    if earlier["conf"] != conf or (kept is not None and kept != fields):
        raise HTTPException(422, "Idempotency-Key: used before with a different body; use a new key for a new request")
    log.info("one-call API: %s repeated with key; answering run %s", dag_id, run_id)


@app.post("/flows/{dag_id}", name="start_flow")
async def start_flow(dag_id: str, request: Request) -> JSONResponse:
    """Start the flow with the body's fields and answer its outcome (or 202 and where to ask)."""
    _flow(dag_id)
    user = await caller(request)
    if not await asyncio.to_thread(may, user, dag_id, "POST"):
        raise HTTPException(403, f"{user.get_name()} may not start {dag_id}")
    wait_seconds = _wait_seconds(request)
    fields, conf = await _fields(dag_id, request)
    key = request.headers.get("idempotency-key") or (
        conf.get("request_id") if dag_id == TICKET_CREATED.dag_id else None
    )
    if key is not None and not IDEMPOTENCY_KEY.match(str(key)):
        raise HTTPException(400, "Idempotency-Key: 1 to 200 printable characters without spaces")
    run_id = await _keep(dag_id, run_id_for(user.get_name(), dag_id, str(key)) if key is not None else None, fields)
    try:
        run_id = await asyncio.to_thread(start_run, dag_id, conf, run_id, user, request)
    except RunExists:
        await _repeated(dag_id, run_id, user, conf, fields)
    return await answer(request, dag_id, run_id, wait_seconds)


@app.get("/flows/{dag_id}/runs/{run_id}", name="flow_run")
async def flow_run(dag_id: str, run_id: str, request: Request) -> JSONResponse:
    """A run this caller started: its outcome once finished (waiting up to ``wait_seconds``)."""
    _flow(dag_id)
    user = await caller(request)
    wait_seconds = _wait_seconds(request)
    run = await asyncio.to_thread(existing_run, dag_id, run_id)
    if run is None or (run["owner"] != user.get_name() and not await asyncio.to_thread(may, user, dag_id, "PUT")):
        raise HTTPException(404, f"the run {run_id} of {dag_id} was not found")
    return await answer(request, dag_id, run_id, wait_seconds)
