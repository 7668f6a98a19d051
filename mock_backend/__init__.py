"""A Flask stand-in for every outside system of the support flows: the Support API, the Microsoft
Graph subset the flows use, and ``/_mock/`` endpoints to inspect what arrived and inject faults.

``create_app()`` builds it; ``python -m mock_backend`` serves it (see ``__main__``).
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from mock_backend import store
from mock_backend.faults import FaultBook


class ApiError(Exception):
    """An error answer: ``{"error": message, "field": field}`` with ``status``."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


POOL_SIZE = 8  # connections kept between requests; more at once are opened and closed


def db():
    """This request's SQLite connection, from the app's pool. Opening and closing one per request
    cost more than most requests' own work: closing the last connection of a WAL database
    checkpoints it, and the stack sends the mock several requests per task."""
    if "db" not in g:
        try:
            g.db = current_app.config["DB_POOL"].get_nowait()
        except queue.Empty:
            g.db = store.connect(current_app.config["DB_PATH"])
    return g.db


def json_body(operation_id: str | None = None) -> dict[str, Any]:
    """The request's JSON object, validated against the operation's schema in openapi.yaml."""
    from mock_backend.openapi import first_error, request_schema

    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "request body: expected a JSON object (Content-Type: application/json)")
    if operation_id:
        problem = first_error(request_schema(operation_id), body)
        if problem:
            raise ApiError(400, *problem)
    elif not isinstance(body, dict):
        raise ApiError(400, "request body: expected a JSON object")
    return body


def create_app(
    db_path: str | None = None, *, public_url: str | None = None, extra_mailboxes: tuple[str, ...] = ()
) -> Flask:
    """Build the mock. ``db_path`` defaults to $MOCK_DB_PATH or a fresh temporary file;
    ``extra_mailboxes`` exist in the directory beside the tenant's own (``tenant.MAILBOXES``)."""
    from mock_backend.answer_page import bp as answer_bp
    from mock_backend.control import bp as control_bp
    from mock_backend.exchange import Exchange
    from mock_backend.graph import bp as graph_bp
    from mock_backend.graph import token_bp
    from mock_backend.support_api import bp as api_bp
    from mock_backend.survey_page import bp as survey_bp
    from mock_backend.vault import bp as vault_bp

    app = Flask(__name__)
    if db_path is None:
        db_path = os.environ.get("MOCK_DB_PATH") or os.path.join(
            tempfile.mkdtemp(prefix="support-mock-"), "mock.sqlite"
        )
    app.config["DB_PATH"] = db_path
    app.config["PUBLIC_URL"] = public_url or os.environ.get("MOCK_PUBLIC_URL", "http://localhost:5000")
    app.config["FAULTS"] = FaultBook()
    app.config["WRITE_LOCK"] = threading.Lock()
    app.config["DB_POOL"] = queue.LifoQueue(maxsize=POOL_SIZE)
    app.config["EXCHANGE"] = Exchange()
    app.config["EXTRA_MAILBOXES"] = frozenset(extra_mailboxes)
    app.json.sort_keys = False
    store.init_db(db_path)

    for blueprint in (api_bp, graph_bp, token_bp, control_bp, vault_bp, survey_bp, answer_bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/health", "health", _health)
    app.before_request(_ids_that_can_exist)
    app.before_request(_start_and_inject_faults)
    app.teardown_request(_release_mailbox)
    app.after_request(_log_request)
    app.after_request(_answer_lost_after_acceptance)  # Flask runs these last first: logged as answered
    app.teardown_appcontext(_close_db)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _health() -> dict:
    """The mock is up (what `run` and the tests wait for)."""
    return {"status": "ok"}


def _is_control(path: str) -> bool:
    return path.startswith("/_mock/")


LARGEST_ID = 2**63 - 1  # SQLite's INTEGER


def _ids_that_can_exist():
    """An id in the path beyond what the database can store is 404 naming it, not an overflow
    in SQLite (500: schemathesis found it)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and value > LARGEST_ID:
            raise ApiError(404, f"{name}: {value} does not exist", name)


def _start_and_inject_faults():
    """Time the request; answer 429 past a mailbox's limits (mock_backend.exchange); inject the
    faults asked for (one that accepts first is answered after the request is done)."""
    g.started = time.perf_counter()
    if _is_control(request.path):
        return None
    g.mailbox, throttled = current_app.config["EXCHANGE"].enter(request.path)
    if throttled is not None:
        from mock_backend.graph import throttled_response

        return throttled_response(*throttled)
    graph = request.path.startswith("/graph/")
    rule = current_app.config["FAULTS"].take(request.method, request.path)
    if rule is not None and rule.accept:
        g.lost_answer = rule
        return None
    return current_app.config["FAULTS"].answer(rule, graph=graph)


def _answer_lost_after_acceptance(response):
    """A fault with ``accept``: the request was done (the mail sent, the task created); its answer
    is held ``delay_s`` (a client with a shorter timeout gives up) and replaced by the rule's error."""
    rule = g.pop("lost_answer", None)
    if rule is None or response.status_code >= 400:
        return response
    return current_app.config["FAULTS"].answer(rule, graph=request.path.startswith("/graph/"))


def _release_mailbox(_exc):
    mailbox = g.pop("mailbox", None)
    if mailbox is not None:
        current_app.config["EXCHANGE"].leave(mailbox)


def _log_request(response):
    if not _is_control(request.path):
        took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        db().execute(
            "INSERT INTO request_log (method, path, status, at, duration_ms) VALUES (?,?,?,?,?)",
            (request.method, request.full_path.rstrip("?"), response.status_code, store.now_ts(), took),
        )
    return response


def _close_db(_exc):
    conn = g.pop("db", None)
    if conn is None:
        return
    if conn.in_transaction:  # a request that failed in the middle of one
        conn.rollback()
    try:
        current_app.config["DB_POOL"].put_nowait(conn)
    except queue.Full:
        conn.close()


def _api_error(err: ApiError):
    return jsonify(error=err.message, field=err.field), err.status


def _http_error(err: HTTPException):
    """Flask's own errors (404, 405, ...): in Graph's format under /graph/, else the API's; with
    the error's own headers (a 405's `Allow`, which RFC 9110 requires: schemathesis found it gone)."""
    allow = [(name, value) for name, value in err.get_headers() if name.lower() == "allow"]
    if request.path.startswith("/graph/"):
        from mock_backend.graph import graph_error_response

        code = {404: "ResourceNotFound", 405: "MethodNotAllowed"}.get(err.code or 500, "BadRequest")
        response = graph_error_response(err.code or 500, code, f"{err.name}: {err.description}")
        response.headers.extend(allow)
        return response
    return jsonify(error=f"{err.name}: {err.description}", field=None), err.code, allow
