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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from support_flows.core import notifications
from support_flows.core.business_time import BusinessCalendar
from support_flows.core.facts import moment
from support_flows.core.runtime import FlowRuntime

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

    counts = rt.store.replace_escalation_candidates(run_id, stale())
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
    for agent_id, rows in rt.store.escalation_groups(run_id, REMINDER, by="agent_id"):
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
    for supervisor_id, rows in rt.store.escalation_groups(run_id, SUPERVISOR, by="supervisor_id"):
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
    escalated.update(rt.store.record_escalations(run_id, now))
    return escalated
