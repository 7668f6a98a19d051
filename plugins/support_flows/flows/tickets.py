"""Flow 1's steps: create the ticket, then answer it with the AI or queue and acknowledge it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from support_flows.core import catalog, metrics, notifications, times
from support_flows.core.runtime import FlowRuntime

TICKET_FIELDS = ("customer_name", "customer_email", "subject", "description", "priority", "channel")


EMAIL_CAP_REASON = "the customer's address had"


def _address_tag(ticket: dict) -> str:
    """The ledger's name for a customer address: a digest, so the ledger holds no address."""
    return hashlib.sha256(ticket["customer_email"].strip().lower().encode()).hexdigest()[:24]


def over_email_cap(rt: FlowRuntime, ticket: dict) -> str | None:
    """Why this ticket gets no e-mail, when its address already had ``customer_emails_per_hour``
    of Flow 1's e-mails within the hour (a form or a leaked key used to mail a stranger), or None.
    A ticket that was already counted (a retry, a rerun) is never over its own cap."""
    cap = rt.settings.customer_emails_per_hour
    if cap <= 0:
        return None
    tag = _address_tag(ticket)
    if rt.store.is_done(f"customer-email:{tag}:{ticket['id']}"):
        return None
    sent = rt.store.count_done(f"customer-email:{tag}:", since=times.now() - timedelta(hours=1))
    if sent >= cap:
        return f"{EMAIL_CAP_REASON} {sent} e-mails in the last hour (customer_emails_per_hour is {cap}): queued without one"
    return None


def count_customer_email(rt: FlowRuntime, ticket: dict) -> None:
    """Count this ticket's e-mail against its address (once per ticket)."""
    rt.store.once(f"customer-email:{_address_tag(ticket)}:{ticket['id']}", "email_count", rt.owner, lambda: None)


def create_ticket_from_request(rt: FlowRuntime, request: dict, run_id: str) -> dict:
    """Create the ticket; the same request id (the caller's, or this run's) gives the same ticket,
    as it is now (a rerun sees the status the first run left). A run the event watcher started for
    a ticket from another channel names only its id: that ticket, read from the API."""
    if request.get("ticket_id") is not None:
        return rt.api.get_ticket(request["ticket_id"])
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
    loop_reason = notifications.automatic_reply_reason(ticket, rt.settings.sender_mailbox) or over_email_cap(rt, ticket)

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
        count_customer_email(rt, ticket)
        if rt.mailer.send(f"ticket-{ticket_id}:ai-answer", notifications.ai_answer_email(ticket, answer)):
            metrics.trigger_to_email(catalog.TICKET_CREATED, triggered_at)
        return {"ticket_id": ticket_id, "status": "ai_responded", "customer_notified": True}

    if ticket["status"] == "new":  # queued first: the ticket reaches the agents even if no e-mail can go out
        ticket = rt.api.update_ticket(ticket_id, status="queued")
    if not loop_reason:
        count_customer_email(rt, ticket)
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
