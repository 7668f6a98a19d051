"""What the Support API's resources share: row shapes, the event log, query-argument parsing, cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date

from flask import current_app, request

from mock_backend import LARGEST_ID, ApiError
from mock_backend.store import now_ts, parse_ts, to_ts, zone

TICKET_COLUMNS = (
    "id, request_id, origin, customer_name, customer_email, subject, description, priority, channel, "
    "status, agent_id, assigned_by, ai_response, ai_confidence, resolution_summary, auto_submitted, "
    "created_at, updated_at, last_activity_at, assigned_at, resolved_at, customer_replied_at, resolved_by, "
    "ai_answer_feedback, first_response_at, agent_responded_at, waiting_periods, reopen_count, topic, language"
)


def ticket_dict(row) -> dict:
    out = dict(row)
    out["auto_submitted"] = bool(out["auto_submitted"])
    out["waiting_periods"] = [{"from": start, "until": end} for start, end in json.loads(out["waiting_periods"])]
    return out


def status_changed(conn, ticket: dict, status: str, now: str) -> None:
    """The SLA bookkeeping of a status change: a period waiting on the customer opens or closes,
    a resolved ticket made open again counts as a reopen (for its agent)."""
    from mock_backend.store import OPEN_STATUSES, WAITING_STATUSES

    old = ticket["status"]
    if old == status:
        return
    periods = [[p["from"], p["until"]] for p in ticket["waiting_periods"]]
    if old in WAITING_STATUSES and periods and periods[-1][1] is None:
        periods[-1][1] = now
    if status in WAITING_STATUSES:
        periods.append([now, None])
    conn.execute("UPDATE tickets SET waiting_periods = ? WHERE id = ?", (json.dumps(periods), ticket["id"]))
    if old in ("resolved", "closed") and status in OPEN_STATUSES:
        conn.execute("UPDATE tickets SET reopen_count = reopen_count + 1 WHERE id = ?", (ticket["id"],))
        conn.execute(
            "INSERT INTO reopens (ticket_id, agent_id, reopened_at) VALUES (?,?,?)",
            (ticket["id"], ticket["agent_id"], now),
        )


def agent_responded(conn, ticket_id: int, now: str) -> None:
    """The agent answered (a note, work started, a question to the customer, the resolution): the
    first-response time is set once, the agent's response clock starts again."""
    conn.execute(
        "UPDATE tickets SET first_response_at = COALESCE(first_response_at, ?), agent_responded_at = ? WHERE id = ?",
        (now, now, ticket_id),
    )


def fetch_ticket(conn, ticket_id: int) -> dict:
    row = conn.execute(f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"ticket_id: ticket {ticket_id} does not exist", "ticket_id")
    return ticket_dict(row)


def fetch_agent_row(conn, agent_id: int, field: str = "agent_id"):
    row = conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"{field}: agent {agent_id} does not exist", field)
    return row


def agent_dict(conn, row) -> dict:
    workload = conn.execute(
        f"SELECT COUNT(*) FROM tickets WHERE agent_id = ? AND status IN ({','.join('?' * 3)})",
        (row["id"], "assigned", "in_progress", "pending"),  # a question to the customer is still the agent's
    ).fetchone()[0]
    ratings = conn.execute(
        "SELECT COUNT(*), AVG(rating), SUM(rating <= 2) FROM agent_feedback WHERE agent_id = ?", (row["id"],)
    ).fetchone()
    supervisor_email = None
    if row["supervisor_id"] is not None:
        sup = conn.execute("SELECT email FROM agents WHERE id = ?", (row["supervisor_id"],)).fetchone()
        supervisor_email = sup["email"] if sup else None
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "role": row["role"],
        "capacity": row["capacity"],
        "available": bool(row["available"]),
        "skills": json.loads(row["skills"]),
        "languages": json.loads(row["languages"]),
        "group": row["group_name"],
        "supervisor_id": row["supervisor_id"],
        "supervisor_email": supervisor_email,
        "workload": workload,
        "ratings_count": ratings[0],
        "rating_avg": round(ratings[1], 3) if ratings[1] is not None else None,
        "low_ratings": ratings[2] or 0,
    }


def emit(conn, event_type: str, data: dict) -> None:
    conn.execute(
        "INSERT INTO events (type, created_at, data) VALUES (?, ?, ?)", (event_type, now_ts(), json.dumps(data))
    )


def arg_int(name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {raw!r}", name) from None
    hi = LARGEST_ID if hi is None else hi  # what SQLite's INTEGER holds
    if (lo is not None and value < lo) or value > hi:
        raise ApiError(400, f"{name}: must be between {lo} and {hi}", name)
    return value


def arg_time(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return to_ts(parse_ts(raw))
    except ValueError:
        raise ApiError(400, f"{name}: expected an ISO 8601 date-time, got {raw!r}", name) from None


def arg_date(name: str, required: bool = False) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        if required:
            raise ApiError(400, f"{name}: is required (YYYY-MM-DD)", name)
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected a date YYYY-MM-DD, got {raw!r}", name) from None


def arg_tz():
    try:
        return zone(request.args.get("tz") or "UTC")
    except ValueError as err:
        raise ApiError(400, f"tz: {err}", "tz") from None


def arg_bool(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ApiError(400, f"{name}: expected true or false, got {raw!r}", name)


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode_cursor(length: int) -> list | None:
    raw = request.args.get("cursor")
    if not raw:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error):
        raise ApiError(400, "cursor: not a cursor this API returned", "cursor") from None
    if (
        not isinstance(values, list)
        or len(values) != length
        or any(isinstance(v, int) and abs(v) > LARGEST_ID for v in values)
    ):
        raise ApiError(400, "cursor: not a cursor this API returned", "cursor")
    return values


def public_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")
