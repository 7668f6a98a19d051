"""Demo and scale data. Both are deterministic for a given moment, so tests can rely on them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from mock_backend.store import PRIORITY_RANK, to_ts

DOMAIN = "support.example.com"

# (id, name, role, capacity, available, supervisor_id)
AGENTS = (
    (1, "Grace Hopper", "supervisor", 5, 1, None),
    (2, "Alan Turing", "supervisor", 5, 1, None),
    (3, "Ada Lovelace", "agent", 8, 1, 1),
    (4, "Edsger Dijkstra", "agent", 6, 1, 1),
    (5, "Barbara Liskov", "agent", 10, 1, 1),
    (6, "Donald Knuth", "agent", 4, 1, 2),
    (7, "Margaret Hamilton", "agent", 8, 1, 2),
    (8, "Ken Thompson", "agent", 6, 0, 2),
)
# routing: id -> (skills: the topics they handle, languages they answer in, group)
ROUTING = {
    3: (("password", "technical"), ("en", "fr"), "technical"),
    4: (("billing", "refund"), ("en", "es"), "billing"),
    5: (("shipping", "refund"), ("en",), "logistics"),
    6: (("technical",), ("en", "de"), "technical"),
    7: (("billing", "password"), ("en", "es", "fr"), "billing"),
    8: (("technical",), ("en",), "technical"),
}

CUSTOMERS = (
    ("Maria Garcia", "maria.garcia@example.org"),
    ("Wei Zhang", "wei.zhang@example.net"),
    ("Olusegun Bello", "o.bello@example.com"),
    ("Anna Kowalska", "anna.k@example.org"),
    ("James O'Brien", "james.obrien@example.net"),
    ("Priya Raman", "priya.raman@example.com"),
)

SUBJECTS = (
    ("Cannot log in to my account", "I keep getting an error when I try to sign in since this morning."),
    ("Invoice for October is missing", "I need the October invoice for our accounts team."),
    ("Where is my parcel?", "My delivery was due on Monday and the tracking page has not changed."),
    ("App crashes when exporting", "Exporting a report to Excel closes the app without any message."),
    ("Request a refund", "I was charged twice for the same order and would like my money back."),
    ("Change of company address", "Please update our billing address to the new office."),
    ("Feature request: dark mode", "It would be great to have a dark theme for the dashboard."),
    ("Data import keeps failing", "The CSV import stops at row 1200 with an unhelpful error."),
)


def _agent_email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@" + DOMAIN


def _routing(agent_id: int) -> tuple[str, str, str | None]:
    skills, languages, group = ROUTING.get(agent_id, ((), ("en",), None))
    return json.dumps(list(skills)), json.dumps(list(languages)), group


def seed_agents(conn) -> int:
    if conn.execute("SELECT COUNT(*) FROM agents").fetchone()[0]:
        return 0
    conn.executemany(
        "INSERT INTO agents (id, name, email, role, capacity, available, supervisor_id, skills, languages, group_name)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(i, n, _agent_email(n), r, c, a, s, *_routing(i)) for i, n, r, c, a, s in AGENTS],
    )
    return len(AGENTS)


def _row(
    idx,
    now,
    *,
    created_h,
    status,
    priority="normal",
    agent=None,
    activity_h=None,
    resolved_h=None,
    ai=None,
    channel="powerapps",
):
    """One ticket row; ages in hours before ``now``."""
    name, email = CUSTOMERS[idx % len(CUSTOMERS)]
    subject, description = SUBJECTS[idx % len(SUBJECTS)]
    created = now - timedelta(hours=created_h)
    activity = now - timedelta(hours=activity_h if activity_h is not None else created_h)
    resolved = now - timedelta(hours=resolved_h) if resolved_h is not None else None
    assigned = (created + timedelta(hours=1)) if agent else None
    if assigned and assigned > activity:
        assigned = activity
    updated = max(t for t in (activity, resolved, assigned, created) if t is not None)
    # the agent answered when someone acted after the assignment, or resolved it
    responded = resolved or (activity if assigned and activity > assigned else None)
    waiting = [[to_ts(created), None]] if status in ("ai_responded", "pending") else []
    return (
        name,
        email,
        subject,
        description,
        priority,
        PRIORITY_RANK[priority],
        channel,
        status,
        agent,
        "seed" if agent else None,
        ai,
        0.9 if ai else None,
        "Resolved by the agent." if resolved else None,
        to_ts(created),
        to_ts(updated),
        to_ts(activity),
        to_ts(assigned) if assigned else None,
        to_ts(resolved) if resolved else None,
        to_ts(responded) if responded else None,
        to_ts(responded) if responded else None,
        json.dumps(waiting),
        topic_of(f"{subject} {description}"),
        "en",
    )


def topic_of(text: str) -> str | None:
    """The contact reason the mock's AI would give ``text``."""
    from mock_backend.support_api.tickets import recognise

    entry = recognise(text)
    return entry[0] if entry else None


INSERT_TICKET = (
    "INSERT INTO tickets (customer_name, customer_email, subject, description, priority, priority_rank,"
    " channel, status, agent_id, assigned_by, ai_response, ai_confidence, resolution_summary, created_at,"
    " updated_at, last_activity_at, assigned_at, resolved_at, first_response_at, agent_responded_at, waiting_periods,"
    " topic, language)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def seed_demo(conn, now: datetime | None = None) -> dict:
    """A small, readable data set: tickets in every state, of many ages, plus a little feedback."""
    now = now or datetime.now(UTC)
    agents = seed_agents(conn)
    rows = [
        # assigned, by age of the last activity: fresh, 48h+, 72h+
        _row(0, now, created_h=14, status="assigned", agent=3, activity_h=10, priority="high"),
        _row(1, now, created_h=40, status="assigned", agent=4, activity_h=30),
        _row(2, now, created_h=60, status="assigned", agent=3, activity_h=50),
        _row(3, now, created_h=70, status="assigned", agent=3, activity_h=60, priority="urgent"),
        _row(4, now, created_h=90, status="assigned", agent=5, activity_h=80),
        _row(5, now, created_h=130, status="assigned", agent=6, activity_h=100, priority="low"),
        _row(6, now, created_h=20, status="in_progress", agent=7, activity_h=5),
        # waiting in the unassigned queue
        _row(7, now, created_h=3, status="queued", priority="urgent", channel="email"),
        _row(8, now, created_h=6, status="queued", priority="normal", channel="web"),
        _row(9, now, created_h=8, status="queued", priority="high", channel="chat"),
        _row(10, now, created_h=26, status="queued", priority="low", channel="phone"),
        # answered by the AI
        _row(11, now, created_h=4, status="ai_responded", ai="Reset your password from the sign-in page."),
        _row(12, now, created_h=30, status="ai_responded", ai="Invoices are under Account > Billing."),
    ]
    # resolved over the last two weeks
    for day in range(14):
        for k in range(1 + day % 3):
            created_h = 24 * day + 30 + 5 * k
            rows.append(
                _row(
                    13 + day * 3 + k,
                    now,
                    created_h=created_h,
                    status="resolved",
                    agent=3 + (day + k) % 5,
                    resolved_h=24 * day + 2 + k,
                )
            )
    conn.executemany(INSERT_TICKET, rows)
    resolved = conn.execute("SELECT id, agent_id FROM tickets WHERE status = 'resolved' ORDER BY id LIMIT 8").fetchall()
    for n, ticket in enumerate(resolved):
        conn.execute(
            "INSERT INTO feedback (ticket_id, agent_id, rating, comment, source, created_at) VALUES (?,?,?,?,?,?)",
            (
                ticket["id"],
                ticket["agent_id"],
                (5, 4, 2, 5, 3, 1, 4, 5)[n],
                "Seeded feedback.",
                "api",
                to_ts(now - timedelta(hours=n)),
            ),
        )
    return {"agents": agents, "tickets": len(rows), "feedback": len(resolved)}


def seed_scale(conn, count: int, now: datetime | None = None) -> dict:
    """``count`` tickets spread over 60 days in a realistic mix of states, in one transaction."""
    now = now or datetime.now(UTC)
    agents = seed_agents(conn)
    agent_ids = [a[0] for a in AGENTS if a[2] == "agent"]
    rng = random.Random(count)
    priorities = ("low", "normal", "normal", "normal", "high", "urgent")
    channels = ("powerapps", "web", "email", "phone", "chat")
    batch = []
    for i in range(count):
        created_h = rng.uniform(1, 24 * 60)
        roll = rng.random()
        kwargs = {"priority": priorities[i % 6], "channel": channels[i % 5]}
        if roll < 0.55:
            row = _row(
                i,
                now,
                created_h=created_h,
                status="resolved",
                agent=agent_ids[i % 6],
                resolved_h=created_h * rng.uniform(0.05, 0.95),
                **kwargs,
            )
        elif roll < 0.65:
            row = _row(i, now, created_h=created_h, status="ai_responded", ai="Seeded AI answer.", **kwargs)
        elif roll < 0.80:
            row = _row(i, now, created_h=created_h, status="queued", **kwargs)
        else:
            row = _row(
                i,
                now,
                created_h=created_h,
                status="assigned" if roll < 0.95 else "in_progress",
                agent=agent_ids[i % 6],
                activity_h=rng.uniform(0, min(created_h, 150)),
                **kwargs,
            )
        batch.append(row)
        if len(batch) == 10_000:
            conn.executemany(INSERT_TICKET, batch)
            batch.clear()
    conn.executemany(INSERT_TICKET, batch)
    return {"agents": agents, "tickets": count, "feedback": 0}
