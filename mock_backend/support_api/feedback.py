"""Feedback and satisfaction surveys."""

from __future__ import annotations

import secrets

from mock_backend import ApiError, db, json_body
from mock_backend.store import Tx, day_bounds, now_ts
from mock_backend.support_api import bp
from mock_backend.support_api.common import (
    arg_date,
    arg_int,
    arg_tz,
    decode_cursor,
    emit,
    encode_cursor,
    fetch_ticket,
    public_url,
)

FEEDBACK_COLUMNS = "id, ticket_id, agent_id, rating, comment, source, created_at"


def save_feedback(conn, ticket_id: int, rating: int, comment: str | None, source: str) -> tuple[dict, bool]:
    """Feedback on a resolved ticket (one per ticket: a repeat returns the first). A ticket not yet
    resolved has nothing to rate: 409 naming its status."""
    ticket = fetch_ticket(conn, ticket_id)
    row = conn.execute(f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE ticket_id = ?", (ticket_id,)).fetchone()
    if row is not None:
        return dict(row), False
    if ticket["status"] not in ("resolved", "closed"):
        raise ApiError(
            409,
            f"ticket_id: ticket {ticket_id} is {ticket['status']}, not resolved; feedback is taken"
            " for resolved tickets",
            "ticket_id",
        )
    cur = conn.execute(
        "INSERT INTO feedback (ticket_id, agent_id, rating, comment, source, created_at) VALUES (?,?,?,?,?,?)",
        (ticket_id, ticket["agent_id"], rating, comment, source, now_ts()),
    )
    conn.execute(
        "UPDATE tickets SET updated_at = ?, last_activity_at = ? WHERE id = ?", (now_ts(), now_ts(), ticket_id)
    )
    feedback = dict(conn.execute(f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE id = ?", (cur.lastrowid,)).fetchone())
    emit(conn, "feedback.submitted", {"feedback_id": feedback["id"], "ticket_id": ticket_id, "source": source})
    return feedback, True


@bp.post("/feedback")
def create_feedback():
    body = json_body("createFeedback")
    with Tx(db()) as conn:
        feedback, created = save_feedback(conn, body["ticket_id"], body["rating"], body.get("comment"), "api")
    return feedback, 201 if created else 200


@bp.get("/feedback")
def list_feedback():
    """Feedback, filtered by the day it was given, cursor-paginated."""
    where, params = [], []
    day = arg_date("created_on")
    if day:
        start, end = day_bounds(day, arg_tz())
        where.append("created_at >= ? AND created_at < ?")
        params += [start, end]
    cursor = decode_cursor(1)
    if cursor:
        where.append("id > ?")
        params.append(cursor[0])
    limit = arg_int("limit", 100, 1, 1000)
    sql = f"SELECT {FEEDBACK_COLUMNS} FROM feedback" + (" WHERE " + " AND ".join(where) if where else "")
    rows = db().execute(sql + " ORDER BY id LIMIT ?", [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [dict(r) for r in rows], "next_cursor": encode_cursor([rows[-1]["id"]]) if more else None}


@bp.get("/feedback/<int:feedback_id>")
def get_feedback(feedback_id: int):
    """One feedback."""
    row = db().execute(f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE id = ?", (feedback_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"feedback_id: feedback {feedback_id} does not exist", "feedback_id")
    return dict(row)


def survey_dict(row) -> dict:
    return {
        "id": row["id"],
        "ticket_id": row["ticket_id"],
        "token": row["token"],
        "url": f"{public_url()}/survey/{row['token']}",
        "created_at": row["created_at"],
    }


@bp.post("/surveys")
def create_survey():
    body = json_body("createSurvey")
    with Tx(db()) as conn:
        ticket = fetch_ticket(conn, body["ticket_id"])
        if ticket["status"] not in ("resolved", "closed"):
            raise ApiError(409, f"ticket_id: ticket {ticket['id']} is {ticket['status']}, not resolved", "ticket_id")
        row = conn.execute("SELECT * FROM surveys WHERE ticket_id = ?", (ticket["id"],)).fetchone()
        if row is not None:
            return survey_dict(row), 200
        cur = conn.execute(
            "INSERT INTO surveys (ticket_id, token, created_at) VALUES (?,?,?)",
            (ticket["id"], secrets.token_urlsafe(16), now_ts()),
        )
        return survey_dict(conn.execute("SELECT * FROM surveys WHERE id = ?", (cur.lastrowid,)).fetchone()), 201


@bp.post("/surveys/<token>/responses")
def submit_survey(token: str):
    body = json_body("submitSurvey")
    with Tx(db()) as conn:
        survey = conn.execute("SELECT * FROM surveys WHERE token = ?", (token,)).fetchone()
        if survey is None:
            raise ApiError(404, "token: no survey has this token", "token")
        feedback, created = save_feedback(conn, survey["ticket_id"], body["rating"], body.get("comment"), "survey")
    return feedback, 201 if created else 200
