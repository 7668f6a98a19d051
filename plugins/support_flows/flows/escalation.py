"""Flow 4's steps: measure every running ticket against its priority's SLA policy (``core.sla``),
warn the agents before a breach (one digest each; the admins for tickets nobody has), tell the
supervisors at a breach and note it on the ticket, and record the levels reached.

The response clock starts at the creation and again at each assignment or response of the agent
(a customer's message does not move it); the resolution clock at the creation. Both count working
hours and pause while the ticket waits on the customer. A level is recorded per (ticket, clock,
level, clock start), so the next run does not repeat it, and a response starts the clock afresh.

Memory stays flat whatever the backlog: the first step streams the due levels into the
``escalation_candidates`` table (not XCom), the next ones stream them back per agent or supervisor,
and a digest lists at most ``DIGEST_LIMIT`` tickets (the longest on the clock) and counts the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from support_flows.core.contract import FlowContract, Schedule

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime
    from support_flows.storage.reporting import ReportingStore


ESCALATE_STALE_TICKETS = FlowContract(
    dag_id="support_escalate_stale_tickets",
    flow="4 Escalation",
    kind="scheduled",
    starts="daily",
    returns="escalated tickets, notification statuses",
    flow_tags=("flow-4",),
    schedule=Schedule("SUPPORT_ESCALATION_CRON", "0 7 * * *"),  # daily, before the support day
)

SLA_WATCH = FlowContract(
    dag_id="support_sla_watch",
    flow="4 Escalation, on time: each SLA warning and breach within 15 minutes",
    kind="scheduled",
    starts="every 15 minutes",
    returns="escalated tickets, notification statuses",
    flow_tags=("flow-4",),
    schedule=Schedule("SUPPORT_SLA_WATCH_CRON", "*/15 * * * *"),  # the same steps: short SLAs on time
)


DIGEST_LIMIT = 100  # tickets listed in one digest e-mail; the rest are counted
NOTE_BATCH = 500


def find_stale_tickets(rt: FlowRuntime, now: datetime, run_id: str) -> dict[str, int]:
    """Store this run's candidates: every level a running ticket's clocks reached and that is not
    recorded yet. Returns how many of each level. Running it again redoes the list."""
    from support_flows.core import sla
    from support_flows.core.business_time import BusinessCalendar

    calendar = BusinessCalendar.from_settings(rt.settings)
    policies = sla.policies(rt.settings)
    agents = _agents(rt)

    def due() -> Iterator[dict]:
        statuses = ",".join(sla.RUNNING_STATUSES)
        for ticket in rt.api.iter_tickets(status=statuses, page_size=1000):
            for level in sla.due_levels(ticket, policies[ticket["priority"]], calendar, now):
                agent = agents.get(ticket["agent_id"], {}) if ticket.get("agent_id") else {}
                yield {
                    "dag_run_id": run_id,
                    "ticket_id": ticket["id"],
                    "clock": level.clock,
                    "level": level.level,
                    "agent_id": ticket.get("agent_id"),  # None: nobody has it; the admins are told
                    "supervisor_id": (agent.get("supervisor_id") or agent.get("id"))
                    if level.level == sla.SUPERVISOR
                    else None,
                    "subject": ticket["subject"],
                    "priority": ticket["priority"],
                    "idle_since": level.since,
                    "idle_hours": level.hours,
                    "target_hours": level.target.warning if level.level == sla.REMINDER else level.target.breach,
                }

    counts = replace_escalation_candidates(rt.store, run_id, due())
    return {sla.REMINDER: counts.get(sla.REMINDER, 0), sla.SUPERVISOR: counts.get(sla.SUPERVISOR, 0)}


def _ts(value: datetime) -> str:
    """The API's timestamp text for a datetime (SQLite hands it back without a zone: UTC)."""
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _agents(rt: FlowRuntime) -> dict[int, dict]:
    return {agent["id"]: agent for agent in rt.api.list_agents()}


class Digest:
    """One person's digest: the first ``DIGEST_LIMIT`` tickets, the count, and an idempotency key
    over all of them (the same levels give the same key, so a rerun does not send it twice)."""

    def __init__(self, rt: FlowRuntime, kind: str, person_id: int | None, agents: dict[int, dict] | None = None):
        self.rt, self.kind, self.person_id, self.agents = rt, kind, person_id, agents or {}
        self.tickets: list[dict] = []
        self.total = 0
        self._hash = hashlib.sha256()

    def add(self, row: dict) -> None:
        self.total += 1
        self._hash.update(f"{row['ticket_id']}:{row['clock']}@{_ts(row['idle_since'])},".encode())
        if len(self.tickets) < DIGEST_LIMIT:
            agent = self.agents.get(row["agent_id"], {})
            self.tickets.append(
                {
                    **row,
                    "agent_name": agent.get("name", "nobody yet"),
                    "clock_name": row["clock"],
                    "link": self.rt.ticket_link(row["ticket_id"]),
                }
            )

    @property
    def key(self) -> str:
        return f"escalation-{self.kind}-{self.person_id or 'queue'}-{self._hash.hexdigest()[:16]}"


def _admins(rt: FlowRuntime) -> dict:
    """Who answers for the tickets nobody has: the support admins (they run the queue)."""
    return {"id": None, "name": "support admins", "email": None, "to": tuple(rt.settings.admin_recipients)}


def _plural(total: int, one: str, many: str) -> str:
    return one if total == 1 else many


def remind_agents(rt: FlowRuntime, run_id: str) -> dict[str, str]:
    """One digest e-mail per agent listing their tickets that newly reached an SLA warning; the
    tickets nobody has go to the admins in one digest."""
    from support_flows.core import notifications, sla

    agents = None
    statuses = {}
    for agent_id, rows in escalation_groups(rt.store, run_id, sla.REMINDER, by="agent_id"):
        agents = agents or _agents(rt)
        person = agents[agent_id] if agent_id is not None else _admins(rt)
        digest = Digest(rt, "reminder", agent_id, agents)
        for row in rows:
            digest.add(row)
        html = notifications.render(
            "escalation_reminder.html",
            agent=person,
            queue=agent_id is None,
            tickets=digest.tickets,
            total=digest.total,
            heading=f"{digest.total} {_plural(digest.total, 'ticket', 'tickets')} close to their SLA target",
        )
        to = person.get("to") or (person["email"],)
        subject = (
            f"Reminder: {digest.total} unassigned {_plural(digest.total, 'ticket', 'tickets')} near their SLA target"
            if agent_id is None
            else f"Reminder: {digest.total} of your tickets need a follow-up"
        )
        statuses[", ".join(to)] = (
            "sent" if rt.mailer.send(digest.key, notifications.Email(to, subject, html)) else "already_sent"
        )
    return statuses


def tell_supervisors(rt: FlowRuntime, run_id: str) -> dict[str, str]:
    """Note each breach on its ticket (500 notes to a call), then one e-mail per supervisor (the
    admins for tickets nobody has)."""
    from support_flows.core import notifications, sla

    agents = None
    statuses = {}
    for supervisor_id, rows in escalation_groups(rt.store, run_id, sla.SUPERVISOR, by="supervisor_id"):
        agents = agents or _agents(rt)
        digest = Digest(rt, "supervisor", supervisor_id, agents)
        notes = []
        for row in rows:
            digest.add(row)
            clock = row["clock"]
            notes.append(
                {
                    "ticket_id": row["ticket_id"],
                    "body": f"Escalated: the {clock} target of a {row['priority']} ticket"
                    f" ({row['target_hours']:g} working hours) is breached at {row['idle_hours']:.0f} hours.",
                    "author": "support-flows",
                    "author_type": "system",
                    "key": f"escalation-note-{row['ticket_id']}-{row['clock']}-{_ts(row['idle_since'])}",
                }
            )
            if len(notes) == NOTE_BATCH:
                rt.api.add_notes(notes)
                notes.clear()
        if notes:
            rt.api.add_notes(notes)
        supervisor = agents[supervisor_id] if supervisor_id is not None else _admins(rt)
        html = notifications.render(
            "supervisor_escalation.html",
            supervisor=supervisor,
            tickets=digest.tickets,
            total=digest.total,
            heading=f"{digest.total} {_plural(digest.total, 'ticket', 'tickets')} escalated to you",
        )
        to = supervisor.get("to") or (supervisor["email"],)
        email = notifications.Email(
            to, f"Escalation: {digest.total} {_plural(digest.total, 'ticket', 'tickets')} past their SLA target", html
        )
        statuses[", ".join(to)] = "sent" if rt.mailer.send(digest.key, email) else "already_sent"
    return statuses


def record(rt: FlowRuntime, run_id: str, now: datetime) -> dict[str, list[int]]:
    """Move this run's candidates into ``escalations``; the escalated ticket ids of each level."""
    from support_flows.core import sla

    escalated: dict[str, list[int]] = {sla.REMINDER: [], sla.SUPERVISOR: []}
    escalated.update(record_escalations(rt.store, run_id, now))
    return escalated


# --- the escalation candidates and the escalations' record -------------------------------------------


def replace_escalation_candidates(store: ReportingStore, run_id: str, rows: Iterable[dict]) -> dict[str, int]:
    """The run's stale tickets, as candidates for each level, replacing any of a previous try,
    less the levels already recorded for the same idle period; how many of each level."""
    from support_flows.storage.tables import escalation_candidates, escalations

    mine = escalation_candidates.c.dag_run_id == run_id
    with store.engine.begin() as conn:
        conn.execute(sa.delete(escalation_candidates).where(mine))
    store.upsert(escalation_candidates, rows)
    # set-based, in the database: reading while the stream above writes would block on SQLite
    recorded = sa.exists().where(
        escalations.c.ticket_id == escalation_candidates.c.ticket_id,
        escalations.c.clock == escalation_candidates.c.clock,
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
    from support_flows.storage.tables import escalation_candidates

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
    from support_flows.storage.loads import dialect_insert
    from support_flows.storage.tables import escalation_candidates, escalations

    mine = escalation_candidates.c.dag_run_id == run_id
    columns = ["ticket_id", "clock", "level", "idle_since", "agent_id", "supervisor_id", "idle_hours", "target_hours"]
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
            .distinct()  # a ticket can reach a level on both clocks
            .order_by(escalation_candidates.c.level, escalation_candidates.c.ticket_id)
        ):
            escalated.setdefault(level, []).append(ticket_id)
        insert = dialect_insert(store.engine)(escalations).from_select([*columns, "escalated_at", "dag_run_id"], rows)
        conn.execute(insert.on_conflict_do_nothing(index_elements=[c.name for c in escalations.primary_key.columns]))
        conn.execute(sa.delete(escalation_candidates).where(mine))
    return escalated
