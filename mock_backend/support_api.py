"""The Support API (the seed's Flask backend), as described in openapi.yaml."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from datetime import date, timedelta

from flask import Blueprint, current_app, request

from mock_backend import ApiError, db, json_body
from mock_backend.store import OPEN_STATUSES, PRIORITY_RANK, Tx, day_bounds, now_ts, parse_ts, to_ts, zone

bp = Blueprint("support_api", __name__, url_prefix="/api")

TICKET_COLUMNS = (
    "id, request_id, origin, customer_name, customer_email, subject, description, priority, channel, "
    "status, agent_id, assigned_by, ai_response, ai_confidence, resolution_summary, auto_submitted, "
    "created_at, updated_at, last_activity_at, assigned_at, resolved_at, customer_replied_at, resolved_by"
)

# What the AI "knows": (topic, keywords, confidence, answer). Deterministic, so tests can rely on it.
KNOWLEDGE_BASE = (
    (
        "password",
        ("password", "log in", "login", "sign in", "locked out"),
        0.92,
        "You can reset your password at any time from the sign-in page: choose 'Forgot password', "
        "enter your account e-mail address and follow the link we send you within a few minutes.",
    ),
    (
        "invoice",
        ("invoice", "billing", "receipt"),
        0.81,
        "Your invoices are under Account > Billing, where each one can be downloaded as a PDF. "
        "Invoices are issued on the first working day of each month.",
    ),
    (
        "shipping",
        ("shipping", "delivery", "tracking", "parcel"),
        0.74,
        "Orders ship within two working days; the tracking link is in your dispatch confirmation "
        "e-mail and under Orders in your account.",
    ),
    (
        "refund",
        ("refund", "money back"),
        0.55,
        "Refunds are processed within 5 working days of approval, back to the original payment method.",
    ),
)


# --- helpers ----------------------------------------------------------------------------------------


def ticket_dict(row) -> dict:
    out = dict(row)
    out["auto_submitted"] = bool(out["auto_submitted"])
    return out


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
        f"SELECT COUNT(*) FROM tickets WHERE agent_id = ? AND status IN ({','.join('?' * 2)})",
        (row["id"], "assigned", "in_progress"),
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
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {raw!r}", name) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(400, f"{name}: must be between {lo} and {hi}", name)
    return value


def arg_time(name: str) -> str | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return to_ts(parse_ts(raw))
    except ValueError:
        raise ApiError(400, f"{name}: expected an ISO 8601 date-time, got {raw!r}", name) from None


def arg_date(name: str, required: bool = False) -> date | None:
    raw = request.args.get(name)
    if not raw:
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
    if raw is None or raw == "":
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
    if not isinstance(values, list) or len(values) != length:
        raise ApiError(400, "cursor: not a cursor this API returned", "cursor")
    return values


def public_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")


# --- tickets -----------------------------------------------------------------------------------------


def insert_ticket(conn, body: dict, origin: str) -> tuple[dict, bool]:
    """Create a ticket, or return the one an earlier call with the same request_id made."""
    request_id = body.get("request_id")
    if request_id:
        row = conn.execute(f"SELECT {TICKET_COLUMNS} FROM tickets WHERE request_id = ?", (request_id,)).fetchone()
        if row is not None:
            return ticket_dict(row), False
    now = now_ts()
    priority = body.get("priority", "normal")
    cur = conn.execute(
        "INSERT INTO tickets (request_id, origin, customer_name, customer_email, subject, description, priority,"
        " priority_rank, channel, status, auto_submitted, created_at, updated_at, last_activity_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            request_id,
            origin,
            body["customer_name"],
            body["customer_email"],
            body["subject"],
            body["description"],
            priority,
            PRIORITY_RANK[priority],
            body.get("channel", "powerapps" if origin == "api" else "web"),
            "new",
            int(bool(body.get("auto_submitted"))),
            now,
            now,
            now,
        ),
    )
    if origin == "channel" and not request_id:
        # A channel ticket gets a request id, so the flow that picks it up finds it instead of
        # creating it a second time.
        conn.execute(
            "UPDATE tickets SET request_id = ? WHERE id = ?", (f"channel-ticket-{cur.lastrowid}", cur.lastrowid)
        )
    ticket = fetch_ticket(conn, cur.lastrowid)
    emit(conn, "ticket.created", {"ticket_id": ticket["id"], "origin": origin, "channel": ticket["channel"]})
    return ticket, True


@bp.post("/tickets")
def create_ticket():
    body = json_body("createTicket")
    with Tx(db()) as conn:
        ticket, created = insert_ticket(conn, body, "api")
    return ticket, 201 if created else 200


@bp.post("/inbound/tickets")
def receive_channel_ticket():
    body = json_body("receiveChannelTicket")
    with Tx(db()) as conn:
        ticket, created = insert_ticket(conn, body, "channel")
    return ticket, 201 if created else 200


TICKET_STATUSES = {"new", "ai_responded", "queued", "assigned", "in_progress", "resolved", "closed"}
TICKET_SORTS = {
    "id": (["id"], "id"),
    "urgency": (["priority_rank", "created_at", "id"], "(priority_rank, created_at, id)"),
}


def ticket_filters() -> tuple[list[str], list]:
    """The WHERE clauses and their parameters from the list's query arguments (each one checked)."""
    where, params = [], []
    statuses = [s for s in (request.args.get("status") or "").split(",") if s]
    unknown = [s for s in statuses if s not in TICKET_STATUSES]
    if unknown:
        raise ApiError(
            400, f"status: unknown status {unknown[0]!r} (one of {', '.join(sorted(TICKET_STATUSES))})", "status"
        )
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        params += statuses
    agent_id = arg_int("agent_id", lo=1)
    if agent_id is not None:
        where.append("agent_id = ?")
        params.append(agent_id)
    if arg_bool("unassigned"):
        where.append("agent_id IS NULL")
    for name, clause in (
        ("updated_before", "updated_at < ?"),
        ("updated_after", "updated_at >= ?"),
        ("activity_before", "last_activity_at < ?"),
    ):
        value = arg_time(name)
        if value:
            where.append(clause)
            params.append(value)
    tz = arg_tz()
    for name, column in (("created_on", "created_at"), ("resolved_on", "resolved_at")):
        day = arg_date(name)
        if day:
            where.append(f"{column} >= ? AND {column} < ?")
            params += list(day_bounds(day, tz))
    return where, params


@bp.get("/tickets")
def list_tickets():
    where, params = ticket_filters()
    sort = request.args.get("sort") or "id"
    if sort not in TICKET_SORTS:
        raise ApiError(400, "sort: one of id, urgency", "sort")
    keys, key_sql = TICKET_SORTS[sort]
    cursor = decode_cursor(len(keys))
    if cursor is not None:
        where.append(f"{key_sql} > ({','.join('?' * len(keys))})")
        params += cursor
    limit = arg_int("limit", 100, 1, 1000)
    sql = f"SELECT {TICKET_COLUMNS}, priority_rank FROM tickets"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db().execute(sql + f" ORDER BY {', '.join(keys)} LIMIT ?", [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        item = ticket_dict(row)
        item.pop("priority_rank")
        items.append(item)
    return {"items": items, "next_cursor": encode_cursor([rows[-1][k] for k in keys]) if more else None}


@bp.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int):
    return fetch_ticket(db(), ticket_id)


@bp.patch("/tickets/<int:ticket_id>")
def update_ticket(ticket_id: int):
    body = json_body("updateTicket")
    with Tx(db()) as conn:
        fetch_ticket(conn, ticket_id)
        sets = [f"{field} = ?" for field in body]
        values = list(body.values())
        if "priority" in body:
            sets.append("priority_rank = ?")
            values.append(PRIORITY_RANK[body["priority"]])
        conn.execute(
            f"UPDATE tickets SET {', '.join(sets)}, updated_at = ? WHERE id = ?", [*values, now_ts(), ticket_id]
        )
        return fetch_ticket(conn, ticket_id)


@bp.post("/tickets/<int:ticket_id>/assign")
def assign_ticket(ticket_id: int):
    body = json_body("assignTicket")
    with Tx(db()) as conn:
        ticket = fetch_ticket(conn, ticket_id)
        agent = fetch_agent_row(conn, body["agent_id"])
        if ticket["status"] in ("resolved", "closed"):
            raise ApiError(
                409, f"ticket_id: ticket {ticket_id} is {ticket['status']} and cannot be assigned", "ticket_id"
            )
        if ticket["agent_id"] == agent["id"] and ticket["status"] in ("assigned", "in_progress"):
            return ticket
        now = now_ts()
        conn.execute(
            "UPDATE tickets SET agent_id = ?, assigned_by = ?, status = 'assigned', assigned_at = ?,"
            " updated_at = ?, last_activity_at = ? WHERE id = ?",
            (agent["id"], body["assigned_by"], now, now, now, ticket_id),
        )
        emit(conn, "ticket.assigned", {"ticket_id": ticket_id, "agent_id": agent["id"]})
        return fetch_ticket(conn, ticket_id)


@bp.post("/tickets/<int:ticket_id>/resolve")
def resolve_ticket(ticket_id: int):
    body = json_body("resolveTicket")
    resolved_by = body.get("resolved_by", "agent")
    if resolved_by == "agent" and "agent_id" not in body:
        raise ApiError(400, "agent_id: required unless resolved_by is ai", "agent_id")
    with Tx(db()) as conn:
        ticket = fetch_ticket(conn, ticket_id)
        if "agent_id" in body:
            fetch_agent_row(conn, body["agent_id"])
        if ticket["status"] in ("resolved", "closed"):
            return ticket
        if resolved_by == "ai" and ticket["status"] != "ai_responded":
            raise ApiError(
                409,
                f"ticket_id: ticket {ticket_id} is {ticket['status']}; only a ticket waiting on the"
                " customer after an AI answer can be resolved as answered by AI",
                "ticket_id",
            )
        now = now_ts()
        conn.execute(
            "UPDATE tickets SET status = 'resolved', resolution_summary = ?, agent_id = COALESCE(agent_id, ?),"
            " resolved_by = ?, resolved_at = ?, updated_at = ?, last_activity_at = ? WHERE id = ?",
            (body["resolution_summary"], body.get("agent_id"), resolved_by, now, now, now, ticket_id),
        )
        emit(
            conn,
            "ticket.resolved",
            {"ticket_id": ticket_id, "agent_id": body.get("agent_id"), "resolved_by": resolved_by},
        )
        return fetch_ticket(conn, ticket_id)


@bp.post("/tickets/<int:ticket_id>/replies")
def customer_reply(ticket_id: int):
    """A customer's reply (e-mail to the ticket's thread): a customer note, and a
    ``ticket.customer_replied`` event that the flows act on (an AI-answered ticket goes to an agent)."""
    body = json_body("addCustomerReply")
    with Tx(db()) as conn:
        ticket = fetch_ticket(conn, ticket_id)
        note, created = insert_note(
            conn,
            ticket_id,
            {
                "author": ticket["customer_name"],
                "author_type": "customer",
                "body": body["body"],
                "key": body.get("key"),
            },
        )
        if created:
            conn.execute(
                "UPDATE tickets SET customer_replied_at = COALESCE(customer_replied_at, ?) WHERE id = ?",
                (note["created_at"], ticket_id),
            )
            emit(conn, "ticket.customer_replied", {"ticket_id": ticket_id, "note_id": note["id"]})
    return note, 201 if created else 200


NOTE_COLUMNS = "id, ticket_id, author, author_type, body, key, created_at"


def insert_note(conn, ticket_id: int, body: dict) -> tuple[dict, bool]:
    """One note (idempotent by key); system notes do not count as activity on the ticket."""
    if body.get("key"):
        row = conn.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE key = ?", (body["key"],)).fetchone()
        if row is not None:
            return dict(row), False
    now = now_ts()
    cur = conn.execute(
        "INSERT INTO notes (ticket_id, author, author_type, body, key, created_at) VALUES (?,?,?,?,?,?)",
        (ticket_id, body["author"], body["author_type"], body["body"], body.get("key"), now),
    )
    if body["author_type"] == "system":
        conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))
    else:
        conn.execute("UPDATE tickets SET updated_at = ?, last_activity_at = ? WHERE id = ?", (now, now, ticket_id))
    return dict(conn.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE id = ?", (cur.lastrowid,)).fetchone()), True


@bp.post("/tickets/<int:ticket_id>/notes")
def add_note(ticket_id: int):
    body = json_body("addNote")
    with Tx(db()) as conn:
        fetch_ticket(conn, ticket_id)
        note, created = insert_note(conn, ticket_id, body)
    return note, 201 if created else 200


@bp.post("/notes/batch")
def add_notes():
    notes = json_body("addNotes")["notes"]
    with Tx(db()) as conn:
        ids = sorted({n["ticket_id"] for n in notes})
        found = {r[0] for r in conn.execute(f"SELECT id FROM tickets WHERE id IN ({','.join('?' * len(ids))})", ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApiError(404, f"notes.ticket_id: ticket {missing[0]} does not exist", "notes.ticket_id")
        items = [insert_note(conn, n["ticket_id"], n)[0] for n in notes]
    return {"items": items}


@bp.get("/tickets/<int:ticket_id>/notes")
def list_notes(ticket_id: int):
    conn = db()
    fetch_ticket(conn, ticket_id)
    rows = conn.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    return {"items": [dict(row) for row in rows]}


@bp.post("/tickets/<int:ticket_id>/ai-response")
def ai_response(ticket_id: int):
    ticket = fetch_ticket(db(), ticket_id)
    text = f"{ticket['subject']} {ticket['description']}".lower()
    for topic, keywords, confidence, answer in KNOWLEDGE_BASE:
        if any(word in text for word in keywords):
            return {"ticket_id": ticket_id, "answer": answer, "confidence": confidence, "topic": topic}
    return {"ticket_id": ticket_id, "answer": None, "confidence": 0.0, "topic": None}


# --- agents ---------------------------------------------------------------------------------------------


@bp.get("/agents")
def list_agents():
    where, params = [], []
    role = request.args.get("role")
    if role:
        if role not in ("agent", "supervisor", "admin"):
            raise ApiError(400, "role: one of agent, supervisor, admin", "role")
        where.append("role = ?")
        params.append(role)
    available = arg_bool("available")
    if available is not None:
        where.append("available = ?")
        params.append(int(available))
    sql = "SELECT * FROM agents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    conn = db()
    return {"items": [agent_dict(conn, row) for row in conn.execute(sql, params).fetchall()]}


@bp.get("/agents/<int:agent_id>")
def get_agent(agent_id: int):
    conn = db()
    return agent_dict(conn, fetch_agent_row(conn, agent_id))


@bp.post("/agents/<int:agent_id>/metrics")
def record_agent_feedback(agent_id: int):
    body = json_body("recordAgentFeedback")
    with Tx(db()) as conn:
        agent = fetch_agent_row(conn, agent_id)
        feedback = conn.execute("SELECT * FROM feedback WHERE id = ?", (body["feedback_id"],)).fetchone()
        if feedback is None:
            raise ApiError(404, f"feedback_id: feedback {body['feedback_id']} does not exist", "feedback_id")
        if feedback["agent_id"] not in (None, agent_id):
            raise ApiError(
                409, f"feedback_id: feedback {feedback['id']} is about agent {feedback['agent_id']}", "feedback_id"
            )
        conn.execute(
            "INSERT OR IGNORE INTO agent_feedback (feedback_id, agent_id, rating) VALUES (?,?,?)",
            (feedback["id"], agent_id, feedback["rating"]),
        )
        return agent_dict(conn, agent)


# --- statistics -----------------------------------------------------------------------------------------


def _count(conn, sql: str, params) -> int:
    return conn.execute(sql, params).fetchone()[0] or 0


# open at a moment, and waiting on the customer then: answered by AI, neither replied to nor assigned yet
_OPEN_AT = "created_at < :m AND (resolved_at IS NULL OR resolved_at >= :m)"
_WITH_CUSTOMER_AT = (
    "ai_response IS NOT NULL AND (customer_replied_at IS NULL OR customer_replied_at >= :m)"
    " AND (assigned_at IS NULL OR assigned_at >= :m)"
)


def backlog_at(conn, moment: str, unassigned_only: bool = False) -> int:
    """Tickets waiting for people at ``moment``: open, and not an AI answer waiting on the customer."""
    sql = f"SELECT COUNT(*) FROM tickets WHERE {_OPEN_AT} AND NOT ({_WITH_CUSTOMER_AT})"
    if unassigned_only:
        sql += " AND (assigned_at IS NULL OR assigned_at >= :m)"
    return _count(conn, sql, {"m": moment})


def awaiting_customer_at(conn, moment: str) -> int:
    """AI answers still open at ``moment`` that wait for the customer's reply (or the time-out)."""
    return _count(conn, f"SELECT COUNT(*) FROM tickets WHERE {_OPEN_AT} AND {_WITH_CUSTOMER_AT}", {"m": moment})


@bp.get("/stats/daily")
def daily_stats():
    day = arg_date("date", required=True)
    tz = arg_tz()
    start, end = day_bounds(day, tz)
    conn = db()
    created_in = "created_at >= ? AND created_at < ?"
    resolved_in = "resolved_at >= ? AND resolved_at < ?"
    avg = conn.execute(  # people's resolutions: an AI answer closed after the time-out would skew it
        "SELECT AVG((julianday(resolved_at) - julianday(created_at)) * 24) FROM tickets WHERE "
        + resolved_in
        + " AND resolved_by IS NOT 'ai'",
        (start, end),
    ).fetchone()[0]
    fb = conn.execute(
        "SELECT COUNT(*), AVG(rating) FROM feedback WHERE created_at >= ? AND created_at < ?", (start, end)
    ).fetchone()
    by_agent = [
        {"agent_id": row[0], "name": row[1], "resolved": row[2] or 0, "open": row[3] or 0}
        for row in conn.execute(
            "SELECT a.id, a.name,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.agent_id = a.id AND t.resolved_at >= ? AND t.resolved_at < ?),"
            " (SELECT COUNT(*) FROM tickets t WHERE t.agent_id = a.id AND t.assigned_at < ?"
            "   AND (t.resolved_at IS NULL OR t.resolved_at >= ?))"
            " FROM agents a WHERE a.role = 'agent' ORDER BY a.id",
            (start, end, end, end),
        )
    ]
    return {
        "date": day.isoformat(),
        "tz": request.args.get("tz") or "UTC",
        "created": _count(conn, f"SELECT COUNT(*) FROM tickets WHERE {created_in}", (start, end)),
        "resolved": _count(conn, f"SELECT COUNT(*) FROM tickets WHERE {resolved_in}", (start, end)),
        "ai_responded": _count(
            conn, f"SELECT COUNT(*) FROM tickets WHERE {created_in} AND ai_response IS NOT NULL", (start, end)
        ),
        "assigned": _count(
            conn, "SELECT COUNT(*) FROM tickets WHERE assigned_at >= ? AND assigned_at < ?", (start, end)
        ),
        "resolved_by_ai": _count(
            conn, f"SELECT COUNT(*) FROM tickets WHERE {resolved_in} AND resolved_by = 'ai'", (start, end)
        ),
        "backlog": backlog_at(conn, end),
        "unassigned_backlog": backlog_at(conn, end, unassigned_only=True),
        "awaiting_customer": awaiting_customer_at(conn, end),
        "avg_resolution_hours": round(avg, 2) if avg is not None else None,
        "feedback_count": fb[0],
        "avg_rating": round(fb[1], 2) if fb[1] is not None else None,
        "by_priority": {
            row[0]: row[1]
            for row in conn.execute(
                f"SELECT priority, COUNT(*) FROM tickets WHERE {created_in} GROUP BY priority ORDER BY priority",
                (start, end),
            )
        },
        "by_channel": {
            row[0]: row[1]
            for row in conn.execute(
                f"SELECT channel, COUNT(*) FROM tickets WHERE {created_in} GROUP BY channel ORDER BY channel",
                (start, end),
            )
        },
        "by_agent": by_agent,
    }


@bp.get("/stats/history")
def stats_history():
    end_day = arg_date("end", required=True)
    days = arg_int("days", 14, 1, 90)
    tz = arg_tz()
    conn = db()
    items = []
    for offset in range(days - 1, -1, -1):
        day = end_day - timedelta(days=offset)
        start, end = day_bounds(day, tz)
        items.append(
            {
                "date": day.isoformat(),
                "created": _count(
                    conn, "SELECT COUNT(*) FROM tickets WHERE created_at >= ? AND created_at < ?", (start, end)
                ),
                "resolved": _count(
                    conn, "SELECT COUNT(*) FROM tickets WHERE resolved_at >= ? AND resolved_at < ?", (start, end)
                ),
                "backlog": backlog_at(conn, end),
            }
        )
    return {"items": items}


# --- feedback and surveys -----------------------------------------------------------------------------


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


# --- event feed ----------------------------------------------------------------------------------------


@bp.get("/events")
def list_events():
    after = arg_int("after", 0, 0)
    limit = arg_int("limit", 100, 1, 1000)
    types = [t for t in (request.args.get("type") or "").split(",") if t]
    sql, params = "SELECT id, type, created_at, data FROM events WHERE id > ?", [after]
    if types:
        sql += f" AND type IN ({','.join('?' * len(types))})"
        params += types
    rows = db().execute(sql + " ORDER BY id LIMIT ?", [*params, limit]).fetchall()
    items = [
        {"id": r["id"], "type": r["type"], "created_at": r["created_at"], "data": json.loads(r["data"])} for r in rows
    ]
    return {"items": items, "last_id": items[-1]["id"] if items else after}


__all__ = ["bp", "OPEN_STATUSES"]
