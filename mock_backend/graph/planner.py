"""Planner: plans, tasks (assigned by directory id) and their details (ETags, reference keys)."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import datetime
from urllib.parse import unquote, urlparse

from flask import jsonify, request

from mock_backend import db, tenant
from mock_backend.graph.common import GraphError, as_graph, bp, only, request_body
from mock_backend.graph.directory import directory_user
from mock_backend.graph_schema import graph_schema
from mock_backend.store import Tx, now_ts

TASK_PROPERTIES = {
    "planId",
    "bucketId",
    "title",
    "assignments",
    "dueDateTime",
    "startDateTime",
    "percentComplete",
    "priority",
    "orderHint",
    "assigneePriority",
    "appliedCategories",
    "conversationThreadId",
    "previewType",
}
DETAILS_PROPERTIES = {"description", "previewType", "references", "checklist"}
_RAW_IN_REFERENCE_KEY = re.compile(r"[.:@#]")


def _assignments(assignments: object) -> None:
    """plannerAssignments: keyed by the assignee's user id, each with @odata.type and an orderHint."""
    if not isinstance(assignments, dict):
        raise GraphError(400, "BadRequest", "assignments must be an object keyed by user id.")
    for user_id, assignment in assignments.items():
        try:
            uuid.UUID(user_id)
        except ValueError:
            raise GraphError(400, "BadRequest", f"The assignment key '{user_id}' is not a user id (a GUID).") from None
        if directory_user(user_id) is None:
            raise GraphError(404, "Request_ResourceNotFound", f"The user '{user_id}' does not exist in the directory.")
        if not isinstance(assignment, dict) or assignment.get("@odata.type") != "#microsoft.graph.plannerAssignment":
            raise GraphError(
                400,
                "BadRequest",
                f"The assignment of '{user_id}' needs @odata.type #microsoft.graph.plannerAssignment.",
            )
        if not isinstance(assignment.get("orderHint"), str) or not assignment["orderHint"]:
            raise GraphError(
                400, "BadRequest", f"The assignment of '{user_id}' needs an orderHint (\" !\" for a new one)."
            )


def _timestamp(value: object, field: str) -> None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise GraphError(
            400, "BadRequest", f"{field} must be an ISO 8601 time with an offset, e.g. 2026-11-26T00:00:00Z."
        )


@bp.get("/planner/plans/<plan_id>")
def get_planner_plan(plan_id: str):
    """``GET /planner/plans/{plan-id}``: a plan of the tenant (``tenant.PLANS``), or Graph's 404."""
    if plan_id not in tenant.PLANS:
        raise GraphError(404, "NotFound", "The requested item is not found.")
    return {"id": plan_id, "title": tenant.PLANS[plan_id], "createdDateTime": "2026-01-01T00:00:00Z"}


@bp.get("/planner/plans/<plan_id>/tasks")
def list_plan_tasks(plan_id: str):
    """``GET /planner/plans/{plan-id}/tasks``: the plan's tasks (what a client reads to see whether a
    task it may have created is there)."""
    if plan_id not in tenant.PLANS:
        raise GraphError(404, "NotFound", "The requested item is not found.")
    rows = db().execute("SELECT task FROM graph_tasks WHERE json_extract(task, '$.planId') = ? ORDER BY id", (plan_id,))
    return {"value": [json.loads(r["task"]) for r in rows]}


@bp.post("/planner/tasks")
def create_planner_task():
    """Graph's `POST /planner/tasks`: a task in a plan of the tenant, assigned by user id."""
    body = request_body()
    only(body, TASK_PROPERTIES, "microsoft.graph.plannerTask")  # details are read-only here
    for field in ("planId", "title"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise GraphError(400, "BadRequest", f"{field} is required.")
    if body["planId"] not in tenant.PLANS:
        raise GraphError(404, "NotFound", "The requested item is not found.")
    if "assignments" in body:
        _assignments(body["assignments"])
    for field in ("dueDateTime", "startDateTime"):
        if body.get(field) is not None:
            _timestamp(body[field], field)
    as_graph(graph_schema().check, body, "plannerTask")  # after the rules above, with their own codes
    task = {"id": secrets.token_urlsafe(21)[:28], "createdDateTime": now_ts(), "percentComplete": 0, **body}
    with Tx(db()) as conn:
        conn.execute("INSERT INTO graph_tasks (task, created_at) VALUES (?,?)", (json.dumps(task), now_ts()))
        conn.execute(
            "INSERT INTO graph_task_details (task_id, details, etag) VALUES (?,?,?)",
            (
                task["id"],
                json.dumps({"description": "", "previewType": "automatic", "references": {}, "checklist": {}}),
                _new_etag(),
            ),
        )
    return task, 201


def _new_etag() -> str:
    return f'W/"{secrets.token_hex(8)}"'


def _details_row(conn, task_id: str):
    row = conn.execute("SELECT details, etag FROM graph_task_details WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        raise GraphError(404, "NotFound", f"The requested item '{task_id}' is not found.")
    return row


@bp.get("/planner/tasks/<task_id>/details")
def get_planner_task_details(task_id: str):
    """Graph's task details (description, references) with the ETag an update must send."""
    row = _details_row(db(), task_id)
    response = jsonify({"@odata.etag": row["etag"], "id": task_id, **json.loads(row["details"])})
    response.headers["ETag"] = row["etag"]
    return response


def _references(references: object) -> None:
    """plannerExternalReferences: keys are http(s) URLs with . : @ # percent-encoded (OData property
    names); values carry @odata.type, or are null to remove a reference."""
    if not isinstance(references, dict):
        raise GraphError(400, "BadRequest", "references must be an object keyed by encoded URL.")
    for key, value in references.items():
        if _RAW_IN_REFERENCE_KEY.search(key):
            raise GraphError(400, "BadRequest", f"The reference key '{key}' must percent-encode '.', ':', '@' and '#'.")
        if urlparse(unquote(key)).scheme not in ("http", "https"):
            raise GraphError(400, "BadRequest", f"The reference key '{key}' is not an encoded http(s) URL.")
        if value is None:
            continue
        if not isinstance(value, dict) or "plannerExternalReference" not in str(value.get("@odata.type", "")):
            raise GraphError(
                400, "BadRequest", f"The reference '{key}' needs @odata.type microsoft.graph.plannerExternalReference."
            )


@bp.patch("/planner/tasks/<task_id>/details")
def update_planner_task_details(task_id: str):
    """Planner updates need the ETag they change (If-Match): 412 when it is stale."""
    body = request_body()
    only(body, DETAILS_PROPERTIES, "microsoft.graph.plannerTaskDetails")
    as_graph(graph_schema().check, body, "plannerTaskDetails")
    if "references" in body:
        _references(body["references"])
    if not request.headers.get("If-Match"):
        raise GraphError(400, "BadRequest", "The If-Match header is required to update a Planner object.")
    with Tx(db()) as conn:
        row = _details_row(conn, task_id)
        if request.headers["If-Match"] != row["etag"]:
            raise GraphError(412, "PreconditionFailed", "The If-Match header does not match the item's current ETag.")
        details = json.loads(row["details"])
        for field, value in body.items():
            if field in ("references", "checklist"):
                merged = {**details.get(field, {}), **value}
                details[field] = {k: v for k, v in merged.items() if v is not None}
            else:
                details[field] = value
        conn.execute(
            "UPDATE graph_task_details SET details = ?, etag = ? WHERE task_id = ?",
            (json.dumps(details), _new_etag(), task_id),
        )
    return "", 204
