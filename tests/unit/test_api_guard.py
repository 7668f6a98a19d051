"""The REST guard as the API server runs it (an ASGI middleware in front of Airflow): hostile bodies
get 4xx and never reach Airflow, under any base-URL prefix, on every endpoint that starts runs.
The live stack's answers to the same bodies are in tests/e2e/test_bad_input.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from support_flows.server.api_guard import MAX_BODY_BYTES, MAX_DEPTH, BodyRefused, UnknownConfFieldGuard, checked_body

TICKET = {
    "customer_name": "Ana",
    "customer_email": "ana@example.org",
    "subject": "Printer",
    "description": "It jams.",
}


class Airflow:
    """Stands in for Airflow behind the guard: records the body it was handed."""

    def __init__(self):
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send):
        message = await receive()
        self.bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def call(
    path: str, body: bytes, *, root_path: str = "", chunk: int | None = None, method: str = "POST", length=None
) -> tuple[int, dict, Airflow]:
    airflow = Airflow()
    guard = UnknownConfFieldGuard(airflow)
    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    messages = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)]
    headers = [(b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body) if length is None else length).encode()))
    scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "headers": headers}
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    status = sent[0]["status"]
    answer = json.loads(sent[1]["body"]) if sent[1]["body"] else {}
    return status, answer, airflow


TRIGGER = "/api/v2/dags/support_ticket_created/dagRuns"


@pytest.mark.parametrize("root_path", ["", "/airflow", "/support/airflow"])
def test_an_unknown_field_is_refused_under_any_base_url_prefix(root_path):
    body = json.dumps({"conf": {**TICKET, "priorty": "high"}}).encode()
    status, answer, airflow = call(TRIGGER, body, root_path=root_path)
    assert status == 400 and answer["detail"].startswith("conf.priorty: unknown field for support_ticket_created")
    assert airflow.bodies == []


@pytest.mark.parametrize("run_id", ["backend_event__12", "anything"])
def test_a_caller_chosen_run_id_is_refused_naming_the_field(run_id):
    status, answer, airflow = call(TRIGGER, json.dumps({"dag_run_id": run_id, "conf": TICKET}).encode())
    assert status == 400 and answer["detail"].startswith("dag_run_id: runs of support_ticket_created get their id")
    assert airflow.bodies == []


RESOLVE = "/api/v2/dags/support_ticket_resolved/dagRuns"
RESOLUTION = {"ticket_id": 1, "agent_id": 3, "resolution_summary": "Reset the password."}


def test_a_null_run_id_and_a_missing_logical_date_pass_with_logical_date_null():
    status, _, airflow = call(RESOLVE, json.dumps({"dag_run_id": None, "conf": RESOLUTION}).encode(), chunk=7)
    assert status == 200
    assert json.loads(airflow.bodies[0]) == {"dag_run_id": None, "conf": RESOLUTION, "logical_date": None}


def test_run_ids_of_dags_outside_the_catalog_are_airflows_business():
    body = json.dumps({"dag_run_id": "mine", "logical_date": None}).encode()
    status, _, airflow = call("/api/v2/dags/support_error_log/dagRuns", body)
    assert status == 200 and airflow.bodies == [body]


@pytest.mark.parametrize("path", ["/api/v2/backfills", "/api/v2/backfills/dry_run"])
def test_a_backfill_of_a_catalog_dag_gets_the_same_conf_check(path):
    body = {
        "dag_id": "support_ticket_resolved",
        "from_date": "2026-11-01T00:00:00Z",
        "to_date": "2026-11-02T00:00:00Z",
        "dag_run_conf": {"ticket_id": 1, "agent_id": 2, "resolution_summry": "x"},
    }
    status, answer, airflow = call(path, json.dumps(body).encode())
    assert status == 400 and answer["detail"].startswith("dag_run_conf.resolution_summry: unknown field")
    assert airflow.bodies == []


@pytest.mark.parametrize("path", [TRIGGER, "/api/v2/variables", "/api/v2/backfills"])
def test_a_deeply_nested_body_is_a_400_not_a_server_error(path):
    body = b'{"conf": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer, airflow = call(path, body)
    assert status == 400 and answer["detail"] == f"body: JSON nested deeper than {MAX_DEPTH} levels"
    assert airflow.bodies == []


def test_brackets_inside_strings_do_not_count_as_nesting():
    deep_text = "[{" * 500
    status, _, airflow = call(RESOLVE, json.dumps({"conf": {**RESOLUTION, "resolution_summary": deep_text}}).encode())
    assert status == 200 and json.loads(airflow.bodies[0])["conf"]["resolution_summary"] == deep_text


# --- a customer's words never reach Airflow (server/personal.py) ---------------------------------------


@pytest.fixture
def kept(monkeypatch) -> dict:
    """The caller may start the flow; what the guard keeps for the run, by run id."""
    from support_flows.server import personal

    stored: dict = {}

    async def may_start(scope, dag_id):
        return True

    monkeypatch.setattr(personal, "caller_may_start", may_start)
    monkeypatch.setattr(personal, "keep", lambda dag_id, run_id, fields: stored.setdefault(run_id, (dag_id, fields)))
    return stored


def test_a_triggers_personal_fields_are_kept_for_its_run_and_never_reach_airflow(kept):
    body = {"conf": {**TICKET, "priority": "high", "request_id": "pa-7"}}
    status, _, airflow = call(TRIGGER, json.dumps(body).encode())
    assert status == 200
    handed = json.loads(airflow.bodies[0])
    assert handed["conf"] == {"priority": "high", "request_id": "pa-7"}  # references, no customer's words
    assert handed["dag_run_id"].startswith("manual__") and handed["logical_date"] is None
    assert kept == {handed["dag_run_id"]: ("support_ticket_created", TICKET)}
    for value in TICKET.values():
        assert value not in airflow.bodies[0].decode()


def test_a_rating_comment_is_kept_too_and_a_rating_without_one_goes_on_unchanged(kept):
    rating = {"ticket_id": 4, "rating": 2}
    path = "/api/v2/dags/support_feedback_received/dagRuns"
    _, _, airflow = call(path, json.dumps({"conf": {**rating, "comment": "Too slow."}}).encode())
    assert json.loads(airflow.bodies[0])["conf"] == rating and list(kept.values()) == [
        ("support_feedback_received", {"comment": "Too slow."})
    ]
    _, _, airflow = call(path, json.dumps({"conf": rating}).encode())
    assert "dag_run_id" not in json.loads(airflow.bodies[0]) and len(kept) == 1


def test_without_the_right_to_start_the_flow_the_fields_are_dropped_not_kept():
    """No valid token (nor the key's): Airflow answers 401 to what is left; nothing is kept, so
    nobody fills the table without the right to start a run."""
    status, _, airflow = call(TRIGGER, json.dumps({"conf": TICKET}).encode())
    assert status == 200 and json.loads(airflow.bodies[0])["conf"] == {}
    assert "dag_run_id" not in json.loads(airflow.bodies[0])


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("customer_email", "not-an-address", "not a valid email"),
        ("customer_email", "a@b.org\n", "not in the expected form"),
        ("customer_name", "x" * 201, "longer than 200 characters"),
        ("subject", "", "shorter than 1 character"),
    ],
)
def test_a_personal_field_its_param_refuses_is_400_naming_it_without_repeating_it(kept, field, value, why):
    status, answer, airflow = call(TRIGGER, json.dumps({"conf": {**TICKET, field: value}}).encode())
    assert status == 400 and answer["detail"] == f"conf.{field}: {why}"
    assert airflow.bodies == [] and kept == {}


def test_when_the_fields_cannot_be_kept_the_trigger_is_503_and_nothing_reaches_airflow(kept, monkeypatch):
    from support_flows.server import personal

    def down(dag_id, run_id, fields):
        raise personal.NotKept("OperationalError")

    monkeypatch.setattr(personal, "keep", down)
    status, answer, airflow = call(TRIGGER, json.dumps({"conf": TICKET}).encode())
    assert status == 503 and "try again" in answer["detail"] and airflow.bodies == []


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_an_oversized_body_is_a_413_read_no_further(declared):
    body = json.dumps({"conf": {**TICKET, "description": "x" * (MAX_BODY_BYTES + 1)}}).encode()
    status, answer, airflow = call(TRIGGER, body, chunk=65536, length=None if declared else 0)
    assert status == 413 and answer["detail"].startswith("body:") and str(MAX_BODY_BYTES) in answer["detail"]
    assert airflow.bodies == []


def test_the_largest_legal_payload_passes():
    body = json.dumps({"conf": {**TICKET, "description": "x" * 20000, "subject": "y" * 200}}).encode()
    assert call(TRIGGER, body)[0] == 200


def test_the_task_execution_api_is_not_read():
    body = b"[" * 100
    status, _, airflow = call("/execution/task-instances/1/state", body, method="PATCH")
    assert status == 200 and airflow.bodies == [body]


@pytest.mark.parametrize("field", ["customer_name", "customer_email", "subject", "description"])
def test_a_new_ticket_without_a_required_field_is_refused_naming_it(field):
    conf = {k: v for k, v in TICKET.items() if k != field}
    status, answer, airflow = call(TRIGGER, json.dumps({"conf": conf}).encode())
    assert status == 400 and answer["detail"].startswith(f"conf.{field}: required for support_ticket_created")
    assert airflow.bodies == []
    status, answer, _ = call(TRIGGER, json.dumps({"conf": {**TICKET, field: None}}).encode())
    assert status == 400 and answer["detail"].startswith(f"conf.{field}: required")


def test_the_watchers_ticket_id_is_refused_from_the_rest_api():
    status, answer, airflow = call(TRIGGER, json.dumps({"conf": {"ticket_id": 4}}).encode())
    assert status == 400 and answer["detail"] == "conf.ticket_id: set by the event watcher only; leave it out"
    assert airflow.bodies == []


def test_materialising_an_asset_of_a_catalog_dag_gets_the_same_checks(monkeypatch):
    from support_flows.server import api_guard

    monkeypatch.setattr(api_guard, "sole_producer", lambda asset_id: {7: "support_daily_summary"}.get(asset_id))
    path = "/api/v2/assets/7/materialize"
    status, answer, airflow = call(path, json.dumps({"conf": {"report_dat": "2026-11-30"}}).encode())
    assert status == 400 and answer["detail"].startswith("conf.report_dat: unknown field for support_daily_summary")
    status, answer, _ = call(path, json.dumps({"dag_run_id": "mine", "conf": {}}).encode())
    assert status == 400 and answer["detail"].startswith("dag_run_id: runs of support_daily_summary")
    assert airflow.bodies == []
    body = json.dumps({"conf": {"report_date": "2026-11-30"}}).encode()
    assert call(path, body)[0] == 200
    assert call("/api/v2/assets/8/materialize", json.dumps({"dag_run_id": "x"}).encode())[0] == 200  # not ours


def test_the_asset_lookup_finds_the_one_producer(airflow_db):
    from support_flows.server.api_guard import sole_producer

    assert sole_producer(987654) is None  # no such asset: Airflow answers 404 itself


@pytest.mark.parametrize(
    "path, body, named",
    [
        (
            "/api/v2/dags/support_ticket_assigned/dagRuns",
            {"conf": {"ticket_id": 1, "agent_id": 2, "assigned_by": "a\x00b"}},
            "conf.assigned_by",
        ),
        ("/api/v2/dags/support_ticket_created/dagRuns", {"conf": {"subject": ["x", "\x00"]}}, "conf.subject[1]"),
    ],
)
def test_a_nul_character_in_a_field_is_400_naming_it_not_a_server_error(path, body, named):
    """PostgreSQL cannot store a NUL in text or JSON: Airflow would answer 500 (schemathesis found it)."""
    with pytest.raises(BodyRefused) as refused:
        checked_body(path, json.dumps(body).encode())
    assert refused.value.status == 400 and refused.value.detail.startswith(f"{named}: contains a NUL")


# Hostile bodies of every shape, at the cap: the guard runs before authentication, so anyone can send
# them. The old string scanner (a backtracking regex) held the event loop for 359 s on the first.
_ROOM = MAX_BODY_BYTES - 64
HOSTILE_BODIES = {
    "escaped quotes, unterminated": b'"' + b'\\"' * (_ROOM // 2),
    "unterminated string in conf": b'{"conf": {"description": "' + b"a" * _ROOM,
    "deep arrays": b"[" * _ROOM,
    "deep objects": b'{"a":' * (_ROOM // 5),
    "many keys": b'{"conf": {' + b",".join(b'"k%d": 1' % i for i in range(_ROOM // 12)) + b"}}",
    "long unicode escapes": b'{"conf": {"description": "' + b"\\u00e9" * (_ROOM // 6) + b'"}}',
    "only backslashes": b'"' + b"\\" * _ROOM,
    "only quotes": b'"' * _ROOM,
    "brackets in an unterminated string": b'"' + b"[{" * (_ROOM // 2),
}


@pytest.mark.parametrize("shape", HOSTILE_BODIES, ids=list(HOSTILE_BODIES))
def test_a_hostile_body_is_answered_at_once_and_the_loop_stays_free(shape):
    """Every check before authentication is linear and off the event loop: the hostile body gets its
    4xx (or goes on to Airflow, which answers malformed JSON itself) within 0.5 s, and a health probe
    sent at the same moment is answered within 0.1 s."""
    import time

    body = HOSTILE_BODIES[shape]
    assert len(body) <= MAX_BODY_BYTES

    async def scenario():
        airflow = Airflow()
        guard = UnknownConfFieldGuard(airflow)

        async def request(path: str, payload: bytes, method: str = "POST") -> tuple[int, float]:
            started = time.perf_counter()
            messages = [{"type": "http.request", "body": payload, "more_body": False}]
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers}
            sent = []

            async def receive():
                return messages.pop(0) if messages else {"type": "http.disconnect"}

            async def send(message):
                sent.append(message)

            await guard(scope, receive, send)
            return sent[0]["status"], time.perf_counter() - started

        async def probe() -> float:
            await asyncio.sleep(0.005)  # once the hostile body is in the guard's hands
            return (await request("/api/v2/monitor/health", b"", method="GET"))[1]

        hostile, probe_took = await asyncio.gather(request(TRIGGER, body), probe())
        return hostile, probe_took, airflow

    (status, took), probe_took, airflow = asyncio.run(scenario())
    assert took < 0.5, f"{shape}: answered in {took:.2f} s"
    assert probe_took < 0.1, f"{shape}: the health probe waited {probe_took:.2f} s"
    # refused by the guard, or handed on unchanged for Airflow to answer (malformed JSON: 422)
    assert 400 <= status < 500 or (status == 200 and body in airflow.bodies)
