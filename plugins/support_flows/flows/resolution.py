"""Flow 3's steps: the resolution, the customer's e-mail, the reporting row, the survey, and the
outputs PowerApps reads. The agent's reminder leaves with ``assignment.remove_reminder``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import Param

from support_flows.core.contract import FlowContract
from support_flows.core.outcomes import NOTIFICATION, TICKET_ID, field
from support_flows.core.params import ident, text

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


def ticket_resolved_params() -> dict[str, Param]:
    return {
        "ticket_id": ident("Ticket id", "The ticket that is resolved."),
        "agent_id": ident("Agent id", "The agent who resolved it."),
        "resolution_summary": text("Resolution summary", "What was done; sent to the customer.", 20000),
        "send_survey": Param(
            True, title="Send satisfaction survey", description="Ask the customer to rate the support.", type="boolean"
        ),
    }


TICKET_RESOLVED = FlowContract(
    dag_id="support_ticket_resolved",
    flow="3 Resolution",
    kind="event",
    starts="REST",
    returns="`resolution_status`, `customer_notification_status`",
    flow_tags=("flow-3",),
    params=ticket_resolved_params,
    outcome={
        "ticket_id": TICKET_ID,
        "resolution_status": field("string", "Ticket status", "resolved"),
        "customer_notification_status": NOTIFICATION,
        "survey_status": field("string", "Survey", "sent, already_sent, or not_requested"),
    },
    powerapps_action=("ResolveTicket", "Resolve a ticket (Flow 3)"),
    powerapps=True,
)


def resolve(rt: FlowRuntime, ticket_id: int, agent_id: int, summary: str) -> dict:
    """Mark the ticket resolved (the Support API keeps a repeated resolution as it is)."""
    ticket = rt.api.resolve_ticket(ticket_id, agent_id, summary)
    return {"ticket_id": ticket["id"], "resolution_status": ticket["status"]}


def notify_customer(rt: FlowRuntime, ticket_id: int) -> str:
    """The resolution summary to the customer, once per resolution: ``sent`` or ``already_sent``."""
    from support_flows.core import notifications

    ticket = rt.api.get_ticket(ticket_id)
    agent = rt.api.get_agent(ticket["agent_id"]) if ticket.get("agent_id") else None
    email = notifications.resolution_email(ticket, ticket["resolution_summary"], agent)
    sent = rt.mailer.send(f"ticket-{ticket['id']}:resolved-{ticket['resolved_at']}", email)
    return "sent" if sent else "already_sent"


def load_reporting(rt: FlowRuntime, ticket_id: int) -> int:
    """The resolved ticket's row in ``ticket_facts`` (an upsert: a rerun rewrites the same row)."""
    return load_fact(rt, rt.api.get_ticket(ticket_id))


def load_fact(rt: FlowRuntime, ticket: dict) -> int:
    """``ticket``'s row in ``ticket_facts`` as the Support API returned it (an upsert)."""
    from support_flows.core.facts import ticket_fact
    from support_flows.core.sla import Clocks

    return rt.store.upsert(
        "ticket_facts", [ticket_fact(ticket, rt.settings.customer_key_salt, Clocks.from_settings(rt.settings))]
    )


def send_survey(rt: FlowRuntime, ticket_id: int, requested: bool) -> dict:
    """The satisfaction survey (made in the backend) and its link to the customer, when requested."""
    if not requested:
        return {"survey_status": "not_requested"}
    # the link is the customer's (its token answers the survey): in the e-mail, never in the outputs
    return {"survey_status": survey_customer(rt, rt.api.get_ticket(ticket_id))}


def survey_key(ticket_id: int) -> str:
    """The survey e-mail's key: one survey per ticket, whoever resolved it and however often."""
    return f"ticket-{ticket_id}:survey"


def survey_customer(rt: FlowRuntime, ticket: dict) -> str:
    """The ticket's satisfaction survey (one per ticket in the backend) e-mailed to the customer once:
    ``sent`` or ``already_sent``. Asks the backend nothing when the ledger shows it sent."""
    from support_flows.core import notifications
    from support_flows.core.mailer import ledger_key

    if rt.store.is_done(ledger_key(survey_key(ticket["id"]))):
        return "already_sent"
    survey = rt.api.create_survey(ticket["id"])
    if rt.store.is_done(ledger_key(f"ticket-{ticket['id']}:survey-{survey['id']}")):  # its key before 0.9
        return "already_sent"
    sent = rt.mailer.send(survey_key(ticket["id"]), notifications.survey_email(ticket, survey["url"]))
    return "sent" if sent else "already_sent"


def outputs(resolved: dict, notification: str, survey: dict) -> dict:
    """What the run returns to PowerApps."""
    return {
        "ticket_id": resolved["ticket_id"],
        "resolution_status": resolved["resolution_status"],
        "customer_notification_status": notification,
        **survey,
    }
