"""Flow 3's steps: the resolution, the customer's e-mail, the reporting row, the survey, and the
outputs PowerApps reads. The agent's reminder leaves with ``assignment.remove_reminder``."""

from __future__ import annotations

from support_flows.core import notifications
from support_flows.core.facts import ticket_fact
from support_flows.core.runtime import FlowRuntime
from support_flows.core.sla import Clocks


def resolve(rt: FlowRuntime, ticket_id: int, agent_id: int, summary: str) -> dict:
    """Mark the ticket resolved (the Support API keeps a repeated resolution as it is)."""
    ticket = rt.api.resolve_ticket(ticket_id, agent_id, summary)
    return {"ticket_id": ticket["id"], "resolution_status": ticket["status"]}


def notify_customer(rt: FlowRuntime, ticket_id: int) -> str:
    """The resolution summary to the customer, once per resolution: ``sent`` or ``already_sent``."""
    ticket = rt.api.get_ticket(ticket_id)
    agent = rt.api.get_agent(ticket["agent_id"]) if ticket.get("agent_id") else None
    email = notifications.resolution_email(ticket, ticket["resolution_summary"], agent)
    sent = rt.mailer.send(f"ticket-{ticket['id']}:resolved-{ticket['resolved_at']}", email)
    return "sent" if sent else "already_sent"


def load_reporting(rt: FlowRuntime, ticket_id: int) -> int:
    """The resolved ticket's row in ``ticket_facts`` (an upsert: a rerun rewrites the same row)."""
    ticket = rt.api.get_ticket(ticket_id)
    return rt.store.upsert(
        "ticket_facts", [ticket_fact(ticket, rt.settings.customer_key_salt, Clocks.from_settings(rt.settings))]
    )


def send_survey(rt: FlowRuntime, ticket_id: int, requested: bool) -> dict:
    """The satisfaction survey (made in the backend) and its link to the customer, when requested."""
    if not requested:
        return {"survey_status": "not_requested"}
    survey = rt.api.create_survey(ticket_id)
    ticket = rt.api.get_ticket(ticket_id)
    email = notifications.survey_email(ticket, survey["url"])
    sent = rt.mailer.send(f"ticket-{ticket['id']}:survey-{survey['id']}", email)
    # the link is the customer's (its token answers the survey): in the e-mail, never in the outputs
    return {"survey_status": "sent" if sent else "already_sent"}


def outputs(resolved: dict, notification: str, survey: dict) -> dict:
    """What the run returns to PowerApps."""
    return {
        "ticket_id": resolved["ticket_id"],
        "resolution_status": resolved["resolution_status"],
        "customer_notification_status": notification,
        **survey,
    }
