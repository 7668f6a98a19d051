"""Flow 1's steps: create the ticket, then answer it with the AI or queue and acknowledge it."""

from __future__ import annotations

from datetime import datetime

from support_flows.core import catalog, metrics, notifications
from support_flows.core.runtime import FlowRuntime

TICKET_FIELDS = ("customer_name", "customer_email", "subject", "description", "priority", "channel")


def create_ticket_from_request(rt: FlowRuntime, request: dict, run_id: str) -> dict:
    """Create the ticket; the same request id (the caller's, or this run's) gives the same ticket,
    as it is now (a rerun sees the status the first run left)."""
    fields = {name: request[name] for name in TICKET_FIELDS if request.get(name) is not None}
    fields["request_id"] = request.get("request_id") or f"airflow:{run_id}"[:100]
    return rt.api.create_ticket(**fields)


def answer_or_queue(rt: FlowRuntime, ticket: dict, triggered_at: datetime | None = None) -> dict:
    """Steps 2-5 of the seed: AI answer to the customer, or the queue and an acknowledgement.

    A rerun takes the path the first run took (the ticket's status says which), and the e-mail
    ledger keeps the customer from getting the same e-mail twice. ``triggered_at`` (the run's
    trigger) times the customer's e-mail for the operators' dashboard.
    """
    ticket_id = ticket["id"]
    loop_reason = notifications.automatic_reply_reason(ticket, rt.settings.sender_mailbox)

    if ticket["status"] == "ai_responded" and ticket.get("ai_response"):
        answer = ticket["ai_response"]
    elif ticket["status"] == "new":
        proposal = rt.api.check_ai_response(ticket_id)
        confident = proposal["answer"] and proposal["confidence"] >= rt.settings.ai_confidence_threshold
        answer = proposal["answer"] if confident and not loop_reason else None
        if answer:
            ticket = rt.api.update_ticket(
                ticket_id, ai_response=answer, ai_confidence=proposal["confidence"], status="ai_responded"
            )
    else:
        answer = None

    if answer:
        if rt.mailer.send(f"ticket-{ticket_id}:ai-answer", notifications.ai_answer_email(ticket, answer)):
            metrics.trigger_to_email(catalog.TICKET_CREATED, triggered_at)
        return {"ticket_id": ticket_id, "status": "ai_responded", "customer_notified": True}

    if ticket["status"] == "new":  # queued first: the ticket reaches the agents even if no e-mail can go out
        ticket = rt.api.update_ticket(ticket_id, status="queued")
    if not loop_reason and rt.mailer.send(
        f"ticket-{ticket_id}:acknowledgement", notifications.acknowledgement_email(ticket)
    ):
        metrics.trigger_to_email(catalog.TICKET_CREATED, triggered_at)
    outputs = {
        "ticket_id": ticket_id,
        "status": "queued" if ticket["status"] in ("new", "queued") else ticket["status"],
        "customer_notified": loop_reason is None,
    }
    if loop_reason:
        outputs["no_reply_reason"] = loop_reason
    return outputs
