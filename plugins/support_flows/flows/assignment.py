"""The assignment steps of Flow 2, used by ``support_ticket_assigned`` (an admin's choice) and by
``support_auto_assign`` (chosen by workload): assign, tell the agent, set the follow-up reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from airflow.sdk import Param

from support_flows.core import routing, times
from support_flows.core.contract import FlowContract, Schedule
from support_flows.core.outcomes import TICKET_ID, field
from support_flows.core.params import ident, text
from support_flows.core.times import moment

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime
    from support_flows.storage.reporting import ReportingStore


def ticket_assigned_params() -> dict[str, Param]:
    return {
        "ticket_id": ident("Ticket id", "The ticket to assign."),
        "agent_id": ident("Agent id", "The agent who takes the ticket."),
        "assigned_by": text("Assigned by", "The admin who made the assignment (name or e-mail).", 200),
    }


TICKET_ASSIGNED = FlowContract(
    dag_id="support_ticket_assigned",
    flow="2 Assignment",
    kind="event",
    starts="REST",
    returns="`assignment_status`, `agent_notification_status`",
    flow_tags=("flow-2",),
    params=ticket_assigned_params,
    outcome={
        "ticket_id": TICKET_ID,
        "agent_id": field("integer", "Agent id"),
        "assignment_status": field("string", "Ticket status", "The ticket's status after the assignment: assigned"),
        "agent_notification_status": field("string", "Agent e-mail", "sent or already_sent"),
        "reminder_event_id": field("string", "Reminder event id", "The agent's calendar event", nullable=True),
        "reminder_at": field("string", "Reminder time", "When the follow-up reminder is due (ISO 8601)"),
        "routing_match": field(
            "string",
            "Routing match",
            "How well the agent suits the ticket: skill_and_language, group_and_language, language, skill, group or "
            "any (a note on the ticket names a better match with room)",
        ),
    },
    powerapps_action=("AssignTicket", "Assign a ticket to an agent (Flow 2)"),
    powerapps=True,
)

AUTO_ASSIGN = FlowContract(
    dag_id="support_auto_assign",
    flow="2 Assignment by workload",
    kind="scheduled",
    starts="every 15 minutes",
    returns="assignments made",
    flow_tags=("flow-2",),
    schedule=Schedule("SUPPORT_AUTO_ASSIGN_CRON", "*/15 * * * *"),
)


def assign(rt: FlowRuntime, ticket_id: int, agent_id: int, assigned_by: str) -> dict:
    """Assign through the API (an unknown ticket or agent fails the task, naming which)."""
    ticket = rt.api.assign_ticket(ticket_id, agent_id, assigned_by)
    return {
        "ticket_id": ticket["id"],
        "agent_id": ticket["agent_id"],
        "assigned_at": ticket["assigned_at"],
        "assignment_status": ticket["status"],
    }


def check_choice(rt: FlowRuntime, ticket_id: int, agent_id: int) -> dict:
    """How well an admin's choice suits the ticket (``core.routing``): the admin decides, but when an
    available agent with room suits it better, a note on the ticket names them. ``routing_match``:
    the choice's match (``skill_and_language`` ... ``any``)."""
    ticket, chosen = rt.api.get_ticket(ticket_id), rt.api.get_agent(agent_id)
    groups = routing.groups_of(rt.settings.routing_groups)
    level = routing.match(ticket, chosen, groups)
    if level:
        others = {a["id"]: a for a in rt.api.list_agents(role="agent", available=True) if a["id"] != agent_id}
        spare = {aid: a["capacity"] - a["workload"] for aid, a in others.items() if a["capacity"] > a["workload"]}
        if spare:
            best = routing.best_agent(ticket, others, spare, dict.fromkeys(spare, 0), groups)
            better = routing.match(ticket, others[best], groups)
            if better < level:
                rt.api.add_note(
                    ticket_id,
                    f"Assigned to {routing.describe(ticket, chosen, level)}; a better match with room: "
                    f"{routing.describe(ticket, others[best], better)} (agent {best}).",
                    author="support-flows",
                    author_type="system",
                    key=f"ticket-{ticket_id}-agent-{agent_id}:routing",  # once, however often the run is repeated
                )
    return {"routing_match": routing.MATCHES[level]}


def assignment_key(assignment: dict) -> str:
    """One assignment of one ticket to one agent: the key of its e-mail and its reminder."""
    return f"ticket-{assignment['ticket_id']}-agent-{assignment['agent_id']}-{assignment['assigned_at']}"


def reminder_time(rt: FlowRuntime, assignment: dict) -> datetime:
    """``followup_reminder_hours`` after the assignment, moved to the desk's next working hour when it
    would fall outside them (at night, on a weekend or a holiday: ``business_days``, ``business_hours``)."""
    from support_flows.core.business_time import BusinessCalendar

    due = moment(assignment["assigned_at"]) + timedelta(hours=rt.settings.followup_reminder_hours)
    return BusinessCalendar.from_settings(rt.settings).next_working_moment(due)


def notify_agent(rt: FlowRuntime, assignment: dict, assigned_by: str) -> str:
    """E-mail the agent a summary with a link; 'sent' or 'already_sent'."""
    from support_flows.core import notifications

    ticket = rt.api.get_ticket(assignment["ticket_id"])
    agent = rt.api.get_agent(assignment["agent_id"])
    reminder_at = reminder_time(rt, assignment).strftime("%Y-%m-%d %H:%M UTC")
    email = notifications.agent_assignment_email(ticket, agent, assigned_by, rt.ticket_link(ticket["id"]), reminder_at)
    return "sent" if rt.mailer.send(f"{assignment_key(assignment)}:agent-mail", email) else "already_sent"


def schedule_follow_up(rt: FlowRuntime, assignment: dict) -> dict:
    """A reminder in the agent's calendar, follow-up hours after the assignment; Graph's
    ``transactionId`` makes a repeated request return the same event."""
    from support_flows.core import notifications

    ticket = rt.api.get_ticket(assignment["ticket_id"])
    agent = rt.api.get_agent(assignment["agent_id"])
    start = reminder_time(rt, assignment)
    html = notifications.render(
        "follow_up.html",
        heading=f"Follow up on ticket #{ticket['id']}",
        ticket=ticket,
        link=rt.ticket_link(ticket["id"]),
    )
    previous = get_reminder(rt.store, ticket["id"])
    event = rt.graph.create_event(
        agent["email"],
        f"Follow up: ticket #{ticket['id']} {ticket['subject']}"[:250],
        html,
        start,
        transaction_id=f"{assignment_key(assignment)}:follow-up",
    )
    # A reassignment moves the reminder: the previous agent's one goes once the new one exists (a
    # crash in between leaves it recorded, so the rerun still removes it).
    if previous and previous["event_id"] != event["id"]:
        rt.graph.delete_event(previous["mailbox"], previous["event_id"])
    set_reminder(rt.store, ticket["id"], agent["email"], event["id"], start)
    return {"event_id": event.get("id"), "start": start.isoformat()}


def remove_reminder(rt: FlowRuntime, ticket_id: int) -> str:
    """The ticket is done: its follow-up reminder leaves the agent's calendar. ``removed``,
    ``already_gone`` (deleted in Outlook, or by an earlier try) or ``none``."""
    reminder = get_reminder(rt.store, ticket_id)
    if reminder is None:
        return "none"
    deleted = rt.graph.delete_event(reminder["mailbox"], reminder["event_id"])
    forget_reminder(rt.store, ticket_id, reminder["event_id"])
    return "removed" if deleted else "already_gone"


def record_status(rt: FlowRuntime, assignment: dict, assigned_by: str) -> None:
    """Leave the assignment on the ticket's history (a system note: it is not agent activity)."""
    rt.api.add_note(
        assignment["ticket_id"],
        f"Assigned to agent {assignment['agent_id']} by {assigned_by}.",
        author="support-flows",
        author_type="system",
        key=f"{assignment_key(assignment)}:note",
    )


def plan_by_workload(rt: FlowRuntime) -> list[dict]:
    """Which unassigned ticket goes to which agent, most urgent and oldest first.

    Each ticket goes to the available agent who suits it best (``core.routing``: skill, language,
    group), then with the most spare capacity (capacity minus open tickets); ties go to the agent
    given fewest tickets in this round, then the least loaded, then the lowest id. Nobody is
    planned past capacity, and no more tickets are read than there is room for. Outside the desk's
    working hours (``business_days``, ``business_hours``, holidays) nobody is given a ticket.
    """
    from support_flows.core.business_time import BusinessCalendar

    if not BusinessCalendar.from_settings(rt.settings).is_working(times.now()):
        return []  # outside the desk's working hours nobody is on shift: the queue waits for the morning
    agents = {a["id"]: a for a in rt.api.list_agents(role="agent", available=True)}
    spare = {aid: a["capacity"] - a["workload"] for aid, a in agents.items() if a["capacity"] > a["workload"]}
    room = sum(spare.values())
    if not room:
        return []
    given: dict[int, int] = {aid: 0 for aid in spare}
    groups = routing.groups_of(rt.settings.routing_groups)
    plan = []
    for ticket in rt.api.iter_tickets(status="queued", unassigned=True, sort="urgency", page_size=min(room, 500)):
        best = routing.best_agent(ticket, agents, spare, given, groups)
        level = routing.match(ticket, agents[best], groups)
        plan.append(
            {
                "ticket_id": ticket["id"],
                "agent_id": best,
                "priority": ticket["priority"],
                "routing_match": routing.MATCHES[level],
            }
        )
        given[best] += 1
        spare[best] -= 1
        if not spare[best]:
            del spare[best]
        if not spare:
            break
    return plan


def agent_has_responded(rt: FlowRuntime, ticket: dict) -> bool:
    """Whether the reminder's purpose is gone: the agent is working on it (``in_progress``) or wrote
    a note since the assignment, or the ticket left the agent (resolved, closed, back in the queue).
    A customer's message does not count: the agent still owes the answer."""
    if ticket["status"] != "assigned":
        return True
    assigned_at, active_at = moment(ticket.get("assigned_at")), moment(ticket.get("last_activity_at"))
    if assigned_at is None or active_at is None or active_at <= assigned_at:
        return False  # nobody but the system has written since the assignment: no note to look for
    return any(
        note["author_type"] == "agent" and moment(note["created_at"]) >= assigned_at
        for note in rt.api.list_notes(ticket["id"])
    )


def withdraw_answered_reminders(rt: FlowRuntime) -> dict:
    """Every reminder whose ticket its agent has responded to leaves the agent's calendar (the seed:
    a reminder "if no response within 24 hours"); a ticket the Support API no longer knows loses
    its reminder too. Safe to repeat: a removed reminder is forgotten."""
    from support_flows.clients.support_api import SupportApiRequestError
    from support_flows.storage.tables import reminders

    with rt.store.engine.connect() as conn:
        ticket_ids = list(conn.execute(sa.select(reminders.c.ticket_id).order_by(reminders.c.ticket_id)).scalars())
    withdrawn, kept = [], 0
    for ticket_id in ticket_ids:
        try:
            ticket = rt.api.get_ticket(ticket_id)
        except SupportApiRequestError as err:
            if err.status != 404:
                raise
            ticket = None
        if ticket is None or agent_has_responded(rt, ticket):
            withdrawn.append({"ticket_id": ticket_id, "reminder": remove_reminder(rt, ticket_id)})
        else:
            kept += 1
    return {"withdrawn": withdrawn, "kept": kept}


# --- the reminders' record (which calendar event belongs to which ticket) ---------------------------


def get_reminder(store: ReportingStore, ticket_id: int) -> dict | None:
    from support_flows.storage.tables import reminders

    with store.engine.connect() as conn:
        row = conn.execute(sa.select(reminders).where(reminders.c.ticket_id == ticket_id)).first()
    return dict(row._mapping) if row else None


def set_reminder(store: ReportingStore, ticket_id: int, mailbox: str, event_id: str, starts_at: datetime) -> None:
    from support_flows.storage.tables import reminders

    store.upsert(
        reminders,
        [
            {
                "ticket_id": ticket_id,
                "mailbox": mailbox,
                "event_id": event_id,
                "starts_at": starts_at,
                "updated_at": datetime.now(UTC),
            }
        ],
    )


def forget_reminder(store: ReportingStore, ticket_id: int, event_id: str) -> None:
    from support_flows.storage.tables import reminders

    with store.engine.begin() as conn:
        conn.execute(reminders.delete().where(reminders.c.ticket_id == ticket_id, reminders.c.event_id == event_id))
