"""Flow 1's steps: create the ticket, then answer it with the AI or queue and acknowledge it."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from support_flows.core import catalog, metrics, notifications, times
from support_flows.core.runtime import FlowRuntime

log = logging.getLogger(__name__)

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


UNDELIVERED_NOTE = (
    "The AI's answer could not be e-mailed to the customer, so the ticket waits for an agent. "
    "The AI suggested:\n\n{answer}"
)


def undelivered(rt: FlowRuntime, ticket_id: int, answer: str) -> None:
    """An AI answer whose e-mail failed: the ticket goes to the agents' queue with a note (the
    suggestion in it), so it is never closed as answered by AI; the run still fails, and alerts,
    as any failed send does."""
    try:
        note = UNDELIVERED_NOTE.format(answer=answer)
        rt.api.add_note(ticket_id, note[:20000], author="support-flows", key=f"ticket-{ticket_id}:ai-undelivered")
        rt.api.update_ticket(ticket_id, status="queued")
    except Exception as err:  # noqa: BLE001 - the send's own error is the one to report
        log.error("ticket %s: could not queue it after its AI answer failed to go out: %s", ticket_id, err)


def create_ticket_from_request(rt: FlowRuntime, request: dict, run_id: str) -> dict:
    """Create the ticket; the same request id (the caller's, or this run's) gives the same ticket,
    as it is now (a rerun sees the status the first run left). A run the event watcher started for
    a ticket from another channel names only its id: that ticket, read from the API."""
    if request.get("ticket_id") is not None:
        return rt.api.get_ticket(request["ticket_id"])
    fields = {name: request[name] for name in TICKET_FIELDS if request.get(name) is not None}
    fields["request_id"] = request.get("request_id") or f"airflow:{run_id}"[:100]
    return rt.api.create_ticket(**fields)


def deliver_answer(
    rt: FlowRuntime, ticket: dict, answer: str, confidence: float | None, triggered_at: datetime | None
) -> dict:
    """The AI's answer to the customer, e-mailed first: the ticket counts as answered by AI only
    once it went out (an answer that cannot go out leaves the ticket with the agents)."""
    ticket_id = ticket["id"]
    count_customer_email(rt, ticket)
    try:
        links = rt.api.create_answer_links(ticket_id)
        email = notifications.ai_answer_email(ticket, answer, links)
        sent_now = rt.mailer.send(f"ticket-{ticket_id}:ai-answer", email)
    except Exception:
        undelivered(rt, ticket_id, answer)
        raise
    if sent_now:
        metrics.trigger_to_email(catalog.TICKET_CREATED, triggered_at)
    if ticket["status"] != "ai_responded":
        rt.api.update_ticket(ticket_id, ai_response=answer, ai_confidence=confidence, status="ai_responded")
    return {"ticket_id": ticket_id, "status": "ai_responded", "customer_notified": True}


def answer_or_queue(rt: FlowRuntime, ticket: dict, triggered_at: datetime | None = None) -> dict:
    """Steps 2-5 of the seed: AI answer to the customer, or the queue and an acknowledgement.

    A rerun takes the path the first run took (the ticket's status says which), and the e-mail
    ledger keeps the customer from getting the same e-mail twice. ``triggered_at`` (the run's
    trigger) times the customer's e-mail for the operators' dashboard.
    """
    ticket_id = ticket["id"]
    loop_reason = notifications.automatic_reply_reason(ticket, rt.settings.sender_mailbox) or over_email_cap(rt, ticket)

    confidence = ticket.get("ai_confidence")
    if ticket["status"] == "ai_responded" and ticket.get("ai_response"):
        answer = ticket["ai_response"]
    elif ticket["status"] == "new":
        proposal = rt.api.check_ai_response(ticket_id)
        confident = proposal["answer"] and proposal["confidence"] >= rt.settings.ai_confidence_threshold
        answer = proposal["answer"] if confident and not loop_reason else None
        confidence = proposal["confidence"]
    else:
        answer = None

    if answer:
        return deliver_answer(rt, ticket, answer, confidence, triggered_at)

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
