"""Flow 4's steps: find assigned tickets idle past the thresholds, remind their agents (one digest
each), tell the supervisors and note the escalation on the ticket, and record the level reached.

Idle time counts from the last activity of a person (``last_activity_at``: agent or customer);
the notes the automation writes do not move it. A level is recorded per (ticket, level, idle
since), so the next run does not repeat it, and a ticket with new activity starts afresh.

Memory stays flat whatever the backlog: the first step streams the stale tickets into the
``escalation_candidates`` table (not XCom), the next ones stream them back per agent or supervisor,
and a digest lists at most ``DIGEST_LIMIT`` tickets (the longest idle) and counts the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from support_flows.core import notifications
from support_flows.core.business_time import BusinessCalendar
from support_flows.core.runtime import FlowRuntime
from support_flows.core.times import moment
from support_flows.storage.loads import dialect_insert
from support_flows.storage.reporting import ReportingStore
from support_flows.storage.tables import escalation_candidates, escalations

REMINDER, SUPERVISOR = "reminder", "supervisor"
DIGEST_LIMIT = 100  # tickets listed in one digest e-mail; the rest are counted
NOTE_BATCH = 500


def find_stale_tickets(rt: FlowRuntime, now: datetime, run_id: str) -> dict[str, int]:
    """Store this run's candidates: assigned tickets idle past the reminder threshold, with each
    level not yet recorded. Returns how many of each level. Running it again redoes the list."""
    calendar = BusinessCalendar.from_settings(rt.settings)
    reminder_h, supervisor_h = rt.settings.escalation_reminder_hours, rt.settings.escalation_supervisor_hours
    # Working hours never exceed wall-clock hours, so this server-side filter is a safe superset.
    cutoff = now - timedelta(hours=reminder_h)
    agents = _agents(rt)

    def stale() -> Iterator[dict]:
        for ticket in rt.api.iter_tickets(status="assigned", activity_before=cutoff.isoformat(), page_size=1000):
            idle_since = moment(ticket["last_activity_at"])
            idle = calendar.hours_between(idle_since, now)
            for level, limit in ((REMINDER, reminder_h), (SUPERVISOR, supervisor_h)):
                if idle >= limit:
                    agent = agents.get(ticket["agent_id"], {})
                    yield {
                        "dag_run_id": run_id,
                        "ticket_id": ticket["id"],
                        "level": level,
                        "agent_id": ticket["agent_id"],
                        "supervisor_id": (agent.get("supervisor_id") or agent.get("id"))
                        if level == SUPERVISOR
                        else None,
                        "subject": ticket["subject"],
                        "priority": ticket["priority"],
                        "idle_since": idle_since,
                        "idle_hours": round(idle, 2),
                    }

    counts = replace_escalation_candidates(rt.store, run_id, stale())
    return {REMINDER: counts.get(REMINDER, 0), SUPERVISOR: counts.get(SUPERVISOR, 0)}


def _ts(value: datetime) -> str:
    """The API's timestamp text for a datetime (SQLite hands it back without a zone: UTC)."""
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _agents(rt: FlowRuntime) -> dict[int, dict]:
    return {agent["id"]: agent for agent in rt.api.list_agents()}


class Digest:
    """One person's digest: the first ``DIGEST_LIMIT`` tickets, the count, and an idempotency key
    over all of them (the same tickets give the same key, so a rerun does not send it twice)."""

    def __init__(self, rt: FlowRuntime, kind: str, person_id: int, agents: dict[int, dict] | None = None):
        self.rt, self.kind, self.person_id, self.agents = rt, kind, person_id, agents or {}
        self.tickets: list[dict] = []
        self.total = 0
        self._hash = hashlib.sha256()

    def add(self, row: dict) -> None:
        self.total += 1
        self._hash.update(f"{row['ticket_id']}@{_ts(row['idle_since'])},".encode())
        if len(self.tickets) < DIGEST_LIMIT:
            agent = self.agents.get(row["agent_id"], {})
            self.tickets.append(
                {**row, "agent_name": agent.get("name", "?"), "link": self.rt.ticket_link(row["ticket_id"])}
            )

    @property
    def key(self) -> str:
        return f"escalation-{self.kind}-{self.person_id}-{self._hash.hexdigest()[:16]}"


def remind_agents(rt: FlowRuntime, run_id: str) -> dict[str, str]:
    """One digest e-mail per agent listing their tickets that newly passed the reminder threshold."""
    agents = None
    statuses = {}
    for agent_id, rows in escalation_groups(rt.store, run_id, REMINDER, by="agent_id"):
        agents = agents or _agents(rt)
        agent = agents[agent_id]
        digest = Digest(rt, "reminder", agent_id)
        for row in rows:
            digest.add(row)
        html = notifications.render(
            "escalation_reminder.html",
            agent=agent,
            tickets=digest.tickets,
            total=digest.total,
            threshold=rt.settings.escalation_reminder_hours,
            supervisor_threshold=rt.settings.escalation_supervisor_hours,
            heading=f"{digest.total} ticket{'s' if digest.total > 1 else ''} waiting for you",
        )
        email = notifications.Email(
            (agent["email"],), f"Reminder: {digest.total} of your tickets need a follow-up", html
        )
        statuses[agent["email"]] = "sent" if rt.mailer.send(digest.key, email) else "already_sent"
    return statuses


def tell_supervisors(rt: FlowRuntime, run_id: str) -> dict[str, str]:
    """Note the escalation on each ticket (500 notes to a call), then one e-mail per supervisor."""
    agents = None
    statuses = {}
    threshold = rt.settings.escalation_supervisor_hours
    for supervisor_id, rows in escalation_groups(rt.store, run_id, SUPERVISOR, by="supervisor_id"):
        agents = agents or _agents(rt)
        digest = Digest(rt, "supervisor", supervisor_id, agents)
        notes = []
        for row in rows:
            digest.add(row)
            notes.append(
                {
                    "ticket_id": row["ticket_id"],
                    "body": f"Escalated to the supervisor: no update for {row['idle_hours']:.0f} hours "
                    f"(threshold {threshold} hours).",
                    "author": "support-flows",
                    "author_type": "system",
                    "key": f"escalation-note-{row['ticket_id']}-{_ts(row['idle_since'])}",
                }
            )
            if len(notes) == NOTE_BATCH:
                rt.api.add_notes(notes)
                notes.clear()
        if notes:
            rt.api.add_notes(notes)
        supervisor = agents[supervisor_id]
        html = notifications.render(
            "supervisor_escalation.html",
            supervisor=supervisor,
            tickets=digest.tickets,
            total=digest.total,
            threshold=threshold,
            heading=f"{digest.total} ticket{'s' if digest.total > 1 else ''} escalated to you",
        )
        email = notifications.Email(
            (supervisor["email"],), f"Escalation: {digest.total} tickets without an update for {threshold} hours", html
        )
        statuses[supervisor["email"]] = "sent" if rt.mailer.send(digest.key, email) else "already_sent"
    return statuses


def record(rt: FlowRuntime, run_id: str, now: datetime) -> dict[str, list[int]]:
    """Move this run's candidates into ``escalations``; the escalated ticket ids of each level."""
    escalated: dict[str, list[int]] = {REMINDER: [], SUPERVISOR: []}
    escalated.update(record_escalations(rt.store, run_id, now))
    return escalated


# --- the escalation candidates and the escalations' record -------------------------------------------


def replace_escalation_candidates(store: ReportingStore, run_id: str, rows: Iterable[dict]) -> dict[str, int]:
    """The run's stale tickets, as candidates for each level, replacing any of a previous try,
    less the levels already recorded for the same idle period; how many of each level."""
    mine = escalation_candidates.c.dag_run_id == run_id
    with store.engine.begin() as conn:
        conn.execute(sa.delete(escalation_candidates).where(mine))
    store.upsert(escalation_candidates, rows)
    # set-based, in the database: reading while the stream above writes would block on SQLite
    recorded = sa.exists().where(
        escalations.c.ticket_id == escalation_candidates.c.ticket_id,
        escalations.c.level == escalation_candidates.c.level,
        escalations.c.idle_since == escalation_candidates.c.idle_since,
    )
    by_level = sa.select(escalation_candidates.c.level, sa.func.count()).where(mine)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(escalation_candidates).where(mine, recorded))
        return dict(conn.execute(by_level.group_by(escalation_candidates.c.level)).all())


def escalation_groups(
    store: ReportingStore, run_id: str, level: str, *, by: str
) -> Iterator[tuple[Any, Iterator[dict]]]:
    """The run's candidates of one level, grouped by a column (``agent_id``, ``supervisor_id``),
    each group streamed the longest idle first. The caller reads a group's rows before it writes
    anything (each group's read is closed by then: an open read would block writes on SQLite)."""
    group_by = escalation_candidates.c[by]
    mine = sa.and_(escalation_candidates.c.dag_run_id == run_id, escalation_candidates.c.level == level)
    with store.engine.connect() as conn:
        keys = conn.execute(sa.select(group_by).where(mine).distinct().order_by(group_by)).scalars().all()
    for key in keys:
        query = (
            sa.select(escalation_candidates)
            .where(mine, group_by.is_(None) if key is None else group_by == key)
            .order_by(escalation_candidates.c.idle_hours.desc(), escalation_candidates.c.ticket_id)
            .execution_options(yield_per=1000)
        )

        def rows(query=query) -> Iterator[dict]:
            with store.engine.connect() as conn:
                yield from (row._asdict() for row in conn.execute(query))

        yield key, rows()


def record_escalations(store: ReportingStore, run_id: str, now: datetime) -> dict[str, list[int]]:
    """Move the run's candidates into ``escalations`` (one INSERT .. SELECT in the database,
    idempotent on its key); the escalated ticket ids of each level."""
    mine = escalation_candidates.c.dag_run_id == run_id
    columns = ["ticket_id", "level", "idle_since", "agent_id", "supervisor_id", "idle_hours"]
    rows = sa.select(
        *(escalation_candidates.c[name] for name in columns),
        sa.literal(now, escalations.c.escalated_at.type),
        sa.literal(run_id, escalations.c.dag_run_id.type),
    ).where(mine)
    escalated: dict[str, list[int]] = {}
    with store.engine.begin() as conn:
        for level, ticket_id in conn.execute(
            sa.select(escalation_candidates.c.level, escalation_candidates.c.ticket_id)
            .where(mine)
            .order_by(escalation_candidates.c.level, escalation_candidates.c.ticket_id)
        ):
            escalated.setdefault(level, []).append(ticket_id)
        insert = dialect_insert(store.engine)(escalations).from_select([*columns, "escalated_at", "dag_run_id"], rows)
        conn.execute(insert.on_conflict_do_nothing(index_elements=[c.name for c in escalations.primary_key.columns]))
        conn.execute(sa.delete(escalation_candidates).where(mine))
    return escalated
