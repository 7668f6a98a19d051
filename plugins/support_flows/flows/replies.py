"""A customer's reply (an e-mail to the ticket's thread, a ``ticket.customer_replied`` event) reaches
a person, whatever the ticket's state, as the e-mails promise:

- an AI answer: the ticket goes to the unassigned queue (Flow 1, continued);
- resolved within ``reopen_days``: reopened, to its agent if still available (assigned to them
  again and told by e-mail with the customer's words), else to the queue, with a note saying so;
- closed (``support_ticket_lifecycle`` closes a ticket ``reopen_days`` after its resolution), or
  resolved longer ago: a new ticket, linked both ways by notes, in the queue;
- with an agent: the agent is told, with the customer's words (a ticket ``pending`` on the customer
  goes back to ``assigned``: the SLA clocks run again);
- waiting in the queue: nothing to do (the reply is on the ticket as a customer note).

Each note and e-mail has an idempotency key of the reply, so a repeated event or a rerun changes
nothing twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow.sdk import Param

from support_flows.core.contract import EventStart, FlowContract
from support_flows.core.params import ident
from support_flows.core.times import moment, now

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


def customer_replied_params() -> dict[str, Param]:
    """Started by the backend-events watcher (not PowerApps) when a customer replies to a ticket."""
    return {
        "ticket_id": ident("Ticket id", "The ticket the customer replied to."),
        "note_id": Param(
            None,
            title="Reply note id (optional)",
            description="The reply's note on the ticket (the event names it); empty: the newest customer note.",
            type=["null", "integer"],
            minimum=1,
        ),
        "answer_confirmed": Param(
            False,
            title="The AI's answer solved it",
            description="The customer pressed 'this solved my problem' in the AI answer's e-mail.",
            type="boolean",
        ),
    }


CUSTOMER_REPLIED = FlowContract(
    dag_id="support_customer_replied",
    flow="1, 3 A customer's reply: to an agent, reopened, or a new linked ticket",
    kind="event",
    starts="backend events",
    returns="`status`, `outcome`",
    flow_tags=("flow-1",),
    extra_tags=("backend-event",),
    params=customer_replied_params,
    events={
        "ticket.customer_replied": EventStart(
            conf=lambda event, api: {"ticket_id": event["data"]["ticket_id"], "note_id": event["data"].get("note_id")}
        ),
        # the answer e-mail's "this solved my problem"
        "ticket.ai_answer_confirmed": EventStart(
            conf=lambda event, api: {"ticket_id": event["data"]["ticket_id"], "answer_confirmed": True}
        ),
    },
)

log = logging.getLogger(__name__)

AUTHOR = "support-flows"


def reply_text(rt: FlowRuntime, ticket_id: int, note_id: int | None) -> str:
    """The customer's words: the reply's note, or the newest customer note when the event named none."""
    notes = [n for n in rt.api.list_notes(ticket_id) if n.get("author_type") == "customer"]
    chosen = next((n for n in notes if n["id"] == note_id), None) if note_id else None
    chosen = chosen or (notes[-1] if notes else None)
    return chosen["body"] if chosen else ""


def handle_reply(rt: FlowRuntime, ticket_id: int, note_id: int | None = None, confirmed: bool = False) -> dict:
    """What the reply does to the ticket; the outcome names it. ``confirmed``: the customer pressed
    "this solved my problem" under the AI's answer."""
    from support_flows.flows.ai_answers import hand_to_agent, resolve_confirmed

    if confirmed:
        return resolve_confirmed(rt, ticket_id)
    ticket = rt.api.get_ticket(ticket_id)
    status = ticket["status"]
    reply = f"reply-{note_id}" if note_id else f"ticket-{ticket_id}:reply"
    if status == "ai_responded":
        return hand_to_agent(rt, ticket_id)
    if status in ("resolved", "closed"):
        resolved_at = moment(ticket.get("resolved_at"))
        days = rt.settings.reopen_days
        # one rule with support_ticket_lifecycle, which closes a ticket reopen_days after its resolution
        if status == "resolved" and resolved_at is not None and (now() - resolved_at).total_seconds() <= days * 86400:
            return reopen(rt, ticket, reply, reply_text(rt, ticket_id, note_id))
        return follow_up_ticket(rt, ticket, reply, reply_text(rt, ticket_id, note_id))
    if status in ("assigned", "in_progress", "pending") and ticket.get("agent_id"):
        if status == "pending":  # the customer answered the agent's question: the agent's turn again
            ticket = rt.api.update_ticket(ticket_id, status="assigned")
            status = ticket["status"]
        agent = rt.api.get_agent(ticket["agent_id"])
        told = tell_agent(rt, ticket, agent, reply, reply_text(rt, ticket_id, note_id), reopened=False)
        return {"ticket_id": ticket_id, "status": status, "outcome": "agent_told", "agent_notification_status": told}
    log.info("ticket %s is %s: the reply is on the ticket for whoever picks it up", ticket_id, status)
    return {"ticket_id": ticket_id, "status": status, "outcome": "already_waiting"}


def reopen(rt: FlowRuntime, ticket: dict, reply: str, words: str) -> dict:
    """Back to its agent when available, else to the queue; a note says which."""
    ticket_id = ticket["id"]
    agent = rt.api.get_agent(ticket["agent_id"]) if ticket.get("agent_id") else None
    to_agent = bool(agent and agent.get("available"))
    where = f"to {agent['name']} (agent {agent['id']})" if to_agent else "to the unassigned queue"
    rt.api.add_note(
        ticket_id,
        f"Reopened: the customer replied within {rt.settings.reopen_days} days of the resolution; back {where}.",
        author=AUTHOR,
        key=f"{reply}:reopened",
    )
    if ticket["status"] in ("resolved", "closed"):
        rt.api.update_ticket(ticket_id, status="queued")
    if not to_agent:
        return {"ticket_id": ticket_id, "status": "queued", "outcome": "reopened_to_queue"}
    ticket = rt.api.assign_ticket(ticket_id, agent["id"], assigned_by=f"{AUTHOR} (reopened on the customer's reply)")
    told = tell_agent(rt, ticket, agent, reply, words, reopened=True)
    return {
        "ticket_id": ticket_id,
        "status": ticket["status"],
        "outcome": "reopened_to_agent",
        "agent_id": agent["id"],
        "agent_notification_status": told,
    }


def follow_up_ticket(rt: FlowRuntime, ticket: dict, reply: str, words: str) -> dict:
    """A new ticket for a reply long after the resolution, linked to the old one both ways."""
    subject = ticket["subject"] if ticket["subject"].startswith("Re: ") else f"Re: {ticket['subject']}"
    new = rt.api.create_ticket(
        customer_name=ticket["customer_name"],
        customer_email=ticket["customer_email"],
        subject=subject[:200],
        description=(words or f"The customer replied to ticket #{ticket['id']}.")[:20000],
        priority=ticket["priority"],
        channel="email",
        request_id=f"{reply}:follow-up"[:100],
        **{label: ticket[label] for label in ("topic", "language") if ticket.get(label)},
    )
    rt.api.add_note(
        ticket["id"],
        f"The customer replied more than {rt.settings.reopen_days} days after the resolution: new ticket #{new['id']}.",
        author=AUTHOR,
        key=f"{reply}:follow-up-of",
    )
    rt.api.add_note(
        new["id"], f"Follow-up of ticket #{ticket['id']} (resolved).", author=AUTHOR, key=f"{reply}:follow-up"
    )
    if new["status"] == "new":
        new = rt.api.update_ticket(new["id"], status="queued")
    return {"ticket_id": ticket["id"], "status": ticket["status"], "outcome": "new_ticket", "new_ticket_id": new["id"]}


def tell_agent(rt: FlowRuntime, ticket: dict, agent: dict, reply: str, words: str, *, reopened: bool) -> str:
    """The agent's e-mail with the customer's words, once per reply: ``sent`` or ``already_sent``."""
    from support_flows.core import notifications

    email = notifications.customer_reply_email(ticket, agent, words, rt.ticket_link(ticket["id"]), reopened=reopened)
    return "sent" if rt.mailer.send(f"{reply}:agent-{agent['id']}", email) else "already_sent"
