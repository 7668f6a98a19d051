"""Tickets: create (from PowerApps and from other channels), list, read, update, assign, resolve, the customer's replies, notes, and the AI's answer."""

from __future__ import annotations

import re

from flask import request

from mock_backend import ApiError, db, json_body
from mock_backend.store import PRIORITY_RANK, Tx, day_bounds, now_ts
from mock_backend.support_api import bp
from mock_backend.support_api.common import (
    TICKET_COLUMNS,
    agent_responded,
    arg_bool,
    arg_date,
    arg_int,
    arg_time,
    arg_tz,
    decode_cursor,
    emit,
    encode_cursor,
    fetch_agent_row,
    fetch_ticket,
    status_changed,
    ticket_dict,
)

# What the AI "knows": (topic, keywords in English, Spanish and French, confidence, answer; None: a
# topic it recognises but cannot answer). Deterministic, so tests can rely on it.
KNOWLEDGE_BASE = (
    (
        "password",
        ("password", "log in", "login", "sign in", "locked out", "contraseña", "mot de passe"),
        0.92,
        "You can reset your password at any time from the sign-in page: choose 'Forgot password', "
        "enter your account e-mail address and follow the link we send you within a few minutes.",
    ),
    (
        "billing",
        ("invoice", "billing", "receipt", "factura", "facture"),
        0.81,
        "Your invoices are under Account > Billing, where each one can be downloaded as a PDF. "
        "Invoices are issued on the first working day of each month.",
    ),
    (
        "shipping",
        ("shipping", "delivery", "tracking", "parcel", "envío", "pedido", "livraison", "colis"),
        0.74,
        "Orders ship within two working days; the tracking link is in your dispatch confirmation "
        "e-mail and under Orders in your account.",
    ),
    (
        "refund",
        ("refund", "money back", "reembolso", "remboursement"),
        0.55,
        "Refunds are processed within 5 working days of approval, back to the original payment method.",
    ),
    ("technical", ("error", "crash", "bug", "not working", "broken", "no funciona", "ne marche pas"), 0.0, None),
)
# The words that tell a message's language (the AI check's guess; English when nothing tells).
LANGUAGE_WORDS = {
    "es": frozenset(
        [
            "hola",
            "gracias",
            "mi",
            "puedo",
            "el",
            "los",
            "las",
            "una",
            "por",
            "favor",
            "que",
            "es",
            "está",
            "cuenta",
            "mi",
            "pedido",
            "factura",
            "contraseña",
            "ayuda",
        ]
    ),
    "fr": frozenset(
        [
            "bonjour",
            "merci",
            "je",
            "ne",
            "pas",
            "mon",
            "ma",
            "mes",
            "les",
            "une",
            "est",
            "vous",
            "compte",
            "commande",
            "facture",
            "passe",
            "aide",
        ]
    ),
    "en": frozenset(
        ["the", "my", "i", "is", "not", "can", "please", "hello", "thanks", "account", "to", "and", "a", "of", "help"]
    ),
}


def recognise(text: str) -> tuple | None:
    """The knowledge base's entry ``(topic, keywords, confidence, answer)`` whose words ``text`` has, or None."""
    lowered = text.lower()
    return next((entry for entry in KNOWLEDGE_BASE if any(word in lowered for word in entry[1])), None)


def detect_language(text: str) -> str:
    """The language most of ``text``'s telling words belong to; English on a tie or none."""
    words = re.findall(r"\w+", text.lower())
    hits = {lang: sum(word in vocabulary for word in words) for lang, vocabulary in LANGUAGE_WORDS.items()}
    best = max(("es", "fr"), key=lambda lang: hits[lang])
    return best if hits[best] > hits["en"] else "en"


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
        " priority_rank, channel, status, auto_submitted, created_at, updated_at, last_activity_at, topic, language)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
            body.get("topic"),
            body.get("language"),
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


def _create(operation_id: str, origin: str):
    """A ticket from a checked body: 201 when new, 200 with the first one for a repeated request id."""
    body = json_body(operation_id)
    with Tx(db()) as conn:
        ticket, created = insert_ticket(conn, body, origin)
    return ticket, 201 if created else 200


@bp.post("/tickets")
def create_ticket():
    return _create("createTicket", "api")


@bp.post("/inbound/tickets")
def receive_channel_ticket():
    return _create("receiveChannelTicket", "channel")


TICKET_STATUSES = {"new", "ai_responded", "queued", "assigned", "in_progress", "pending", "resolved", "closed"}
# an agent setting these has answered the customer: working on it, or asking them something
AGENT_RESPONSE_STATUSES = ("in_progress", "pending")
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
        ("resolved_before", "resolved_at < ?"),
        ("resolved_after", "resolved_at >= ?"),
    ):
        value = arg_time(name)
        if value:
            where.append(clause)
            params.append(value)
    tz = arg_tz()
    for name, column in (
        ("created_on", "created_at"),
        ("resolved_on", "resolved_at"),
        ("responded_on", "first_response_at"),
    ):
        day = arg_date(name)
        if day:
            where.append(f"{column} >= ? AND {column} < ?")
            params += list(day_bounds(day, tz))
    return where, params


@bp.get("/tickets")
def list_tickets():
    where, params = ticket_filters()
    sort = request.args.get("sort", "id")  # present but empty is not a sort (schemathesis found it taken as id)
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
    """One ticket."""
    return fetch_ticket(db(), ticket_id)


@bp.patch("/tickets/<int:ticket_id>")
def update_ticket(ticket_id: int):
    """Change a ticket's status, priority, subject or AI answer."""
    body = json_body("updateTicket")
    with Tx(db()) as conn:
        ticket = fetch_ticket(conn, ticket_id)
        sets = [f"{field} = ?" for field in body]
        values = list(body.values())
        if "priority" in body:
            sets.append("priority_rank = ?")
            values.append(PRIORITY_RANK[body["priority"]])
        now = now_ts()
        conn.execute(f"UPDATE tickets SET {', '.join(sets)}, updated_at = ? WHERE id = ?", [*values, now, ticket_id])
        if "status" in body:
            status_changed(conn, ticket, body["status"], now)
            if body["status"] in AGENT_RESPONSE_STATUSES and body["status"] != ticket["status"]:
                agent_responded(conn, ticket_id, now)
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
        status_changed(conn, ticket, "assigned", now)
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
        status_changed(conn, ticket, "resolved", now)
        if resolved_by == "agent":  # the resolution answers the customer
            agent_responded(conn, ticket_id, now)
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


@bp.post("/tickets/<int:ticket_id>/answer-links")
def create_answer_links(ticket_id: int):
    """The AI answer e-mail's two links (``mock_backend.answer_page`` serves them), one pair per ticket."""
    import secrets

    from mock_backend.support_api.common import public_url

    with Tx(db()) as conn:
        fetch_ticket(conn, ticket_id)
        row = conn.execute("SELECT * FROM answer_links WHERE ticket_id = ?", (ticket_id,)).fetchone()
        created = row is None
        if created:
            conn.execute(
                "INSERT INTO answer_links (ticket_id, token, created_at) VALUES (?,?,?)",
                (ticket_id, secrets.token_urlsafe(16), now_ts()),
            )
            row = conn.execute("SELECT * FROM answer_links WHERE ticket_id = ?", (ticket_id,)).fetchone()
    base = f"{public_url()}/answer/{row['token']}"
    links = {
        "ticket_id": ticket_id,
        "token": row["token"],
        "solved_url": f"{base}/solved",
        "help_url": f"{base}/help",
        "created_at": row["created_at"],
    }
    return links, 201 if created else 200


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
    if body["author_type"] == "agent":  # a customer's message does not move the agent's clock
        agent_responded(conn, ticket_id, now)
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
    """A ticket's notes, oldest first."""
    conn = db()
    fetch_ticket(conn, ticket_id)
    rows = conn.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    return {"items": [dict(row) for row in rows]}


@bp.post("/tickets/<int:ticket_id>/ai-response")
def ai_response(ticket_id: int):
    """The AI's answer, with the topic it recognised and the language the customer wrote in."""
    ticket = fetch_ticket(db(), ticket_id)
    text = f"{ticket['subject']} {ticket['description']}"
    found = {
        "ticket_id": ticket_id,
        "answer": None,
        "confidence": 0.0,
        "topic": None,
        "language": detect_language(text),
    }
    entry = recognise(text)
    if entry is None:
        return found
    topic, _, confidence, answer = entry
    return {**found, "answer": answer, "confidence": confidence, "topic": topic}
