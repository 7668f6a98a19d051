"""Flow 4's steps: find assigned tickets idle past the thresholds, remind their agents (one digest
each), tell the supervisors and note the escalation on the ticket, and record the level reached.

Idle time counts from the last activity of a person (``last_activity_at``: agent or customer);
the notes the automation writes do not move it. A level is recorded per (ticket, level, idle
since), so the next run does not repeat it, and a ticket with new activity starts afresh.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from support_flows import notifications
from support_flows.business_time import BusinessCalendar
from support_flows.facts import moment
from support_flows.reporting import escalations
from support_flows.runtime import FlowRuntime

REMINDER, SUPERVISOR = "reminder", "supervisor"


def find_stale_tickets(rt: FlowRuntime, now: datetime) -> list[dict]:
    """Assigned tickets idle past the reminder threshold, with each level not yet recorded."""
    calendar = BusinessCalendar.from_settings(rt.settings)
    reminder_h, supervisor_h = rt.settings.escalation_reminder_hours, rt.settings.escalation_supervisor_hours
    # Working hours never exceed wall-clock hours, so this server-side filter is a safe superset.
    cutoff = now - timedelta(hours=reminder_h)
    found: list[dict] = []
    batch: list[dict] = []

    def flush() -> None:
        done = _recorded(rt, [(t["ticket_id"], t["idle_since"]) for t in batch])
        for item in batch:
            for level in item.pop("levels"):
                if (item["ticket_id"], level, item["idle_since"]) not in done:
                    found.append({**item, "level": level})
        batch.clear()

    for ticket in rt.api.iter_tickets(status="assigned", activity_before=cutoff.isoformat(), page_size=1000):
        idle_since = moment(ticket["last_activity_at"])
        idle = calendar.hours_between(idle_since, now)
        levels = [level for level, limit in ((REMINDER, reminder_h), (SUPERVISOR, supervisor_h)) if idle >= limit]
        if not levels:
            continue
        batch.append({
            "ticket_id": ticket["id"], "agent_id": ticket["agent_id"], "subject": ticket["subject"],
            "priority": ticket["priority"], "idle_since": ticket["last_activity_at"], "idle_hours": round(idle, 2),
            "levels": levels,
        })
        if len(batch) >= 500:
            flush()
    flush()
    return found


def _recorded(rt: FlowRuntime, keys: list[tuple[int, str]]) -> set[tuple[int, str, str]]:
    """Which (ticket, level, idle since) of these tickets are already in ``escalations``."""
    if not keys:
        return set()
    ids = sorted({ticket_id for ticket_id, _ in keys})
    with rt.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(escalations.c.ticket_id, escalations.c.level, escalations.c.idle_since).where(
                escalations.c.ticket_id.in_(ids)
            )
        ).all()
    return {(row.ticket_id, row.level, _ts(row.idle_since)) for row in rows}


def _ts(value: datetime) -> str:
    """The API's timestamp text for a stored datetime (SQLite hands it back without a zone: UTC)."""
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest_key(kind: str, person_id: int, items: list[dict]) -> str:
    content = ",".join(sorted(f"{t['ticket_id']}@{t['idle_since']}" for t in items))
    return f"escalation-{kind}-{person_id}-{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def _agents(rt: FlowRuntime) -> dict[int, dict]:
    return {agent["id"]: agent for agent in rt.api.list_agents()}


def remind_agents(rt: FlowRuntime, stale: list[dict]) -> dict[str, str]:
    """One digest e-mail per agent listing their tickets that newly passed the reminder threshold."""
    by_agent: dict[int, list[dict]] = defaultdict(list)
    for item in stale:
        if item["level"] == REMINDER:
            by_agent[item["agent_id"]].append({**item, "link": rt.ticket_link(item["ticket_id"])})
    agents = _agents(rt) if by_agent else {}
    statuses = {}
    for agent_id, items in sorted(by_agent.items()):
        agent = agents[agent_id]
        items.sort(key=lambda t: -t["idle_hours"])
        html = notifications.render(
            "escalation_reminder.html", agent=agent, tickets=items, threshold=rt.settings.escalation_reminder_hours,
            supervisor_threshold=rt.settings.escalation_supervisor_hours,
            heading=f"{len(items)} ticket{'s' if len(items) > 1 else ''} waiting for you",
        )
        email = notifications.Email((agent["email"],), f"Reminder: {len(items)} of your tickets need a follow-up", html)
        sent = rt.mailer.send(_digest_key("reminder", agent_id, items), email)
        statuses[agent["email"]] = "sent" if sent else "already_sent"
    return statuses


def tell_supervisors(rt: FlowRuntime, stale: list[dict]) -> dict[str, str]:
    """Note the escalation on each ticket, then one e-mail per supervisor listing them."""
    items = [item for item in stale if item["level"] == SUPERVISOR]
    if not items:
        return {}
    agents = _agents(rt)
    by_supervisor: dict[int, list[dict]] = defaultdict(list)
    notes = []
    for item in items:
        agent = agents.get(item["agent_id"], {})
        notes.append({
            "ticket_id": item["ticket_id"],
            "body": f"Escalated to the supervisor: no update for {item['idle_hours']:.0f} hours "
                    f"(threshold {rt.settings.escalation_supervisor_hours} hours).",
            "author": "support-flows",
            "author_type": "system",
            "key": f"escalation-note-{item['ticket_id']}-{item['idle_since']}",
        })
        supervisor_id = agent.get("supervisor_id") or agent.get("id")
        by_supervisor[supervisor_id].append({**item, "agent_name": agent.get("name", "?"), "link": rt.ticket_link(item["ticket_id"])})
    rt.api.add_notes(notes)  # 500 to a call, not one call per ticket
    statuses = {}
    for supervisor_id, group in sorted(by_supervisor.items()):
        supervisor = agents[supervisor_id]
        group.sort(key=lambda t: -t["idle_hours"])
        html = notifications.render(
            "supervisor_escalation.html", supervisor=supervisor, tickets=group,
            threshold=rt.settings.escalation_supervisor_hours,
            heading=f"{len(group)} ticket{'s' if len(group) > 1 else ''} escalated to you",
        )
        email = notifications.Email((supervisor["email"],), f"Escalation: {len(group)} tickets without an update for {rt.settings.escalation_supervisor_hours} hours", html)
        sent = rt.mailer.send(_digest_key("supervisor", supervisor_id, group), email)
        statuses[supervisor["email"]] = "sent" if sent else "already_sent"
    return statuses


def record(rt: FlowRuntime, stale: list[dict], now: datetime, run_id: str) -> int:
    agents = _agents(rt) if stale else {}
    rows = [
        {
            "ticket_id": item["ticket_id"], "level": item["level"], "idle_since": moment(item["idle_since"]),
            "agent_id": item["agent_id"],
            "supervisor_id": agents.get(item["agent_id"], {}).get("supervisor_id") if item["level"] == SUPERVISOR else None,
            "idle_hours": item["idle_hours"], "escalated_at": now, "dag_run_id": run_id,
        }
        for item in stale
    ]
    return rt.store.upsert("escalations", rows)
