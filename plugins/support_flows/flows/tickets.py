"""Flow 1's steps: create the ticket, then answer it with the AI or queue and acknowledge it."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import Param

from support_flows.core import metrics, times
from support_flows.core.contract import EventStart, FlowContract
from support_flows.core.outcomes import TICKET_ID, field
from support_flows.core.params import (
    CHANNELS,
    EMAIL_PATTERN,
    LANGUAGE_PATTERN,
    PERSONAL,
    PRIORITIES,
    REQUIRED_UNLESS,
    TOPIC_PATTERN,
    WATCHER_ONLY,
    new_ticket_text,
    text,
)

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


def ticket_created_params() -> dict[str, Param]:
    return {
        "customer_name": new_ticket_text("Customer name", "Who opened the ticket, as they want to be addressed.", 200),
        "customer_email": Param(
            None,
            title="Customer e-mail",
            description="Where the answer or the acknowledgement is sent.",
            type=["null", "string"],
            format="email",
            pattern=EMAIL_PATTERN,
            maxLength=320,
            **{REQUIRED_UNLESS: "ticket_id", PERSONAL: True},
        ),
        "subject": new_ticket_text("Subject", "One line that says what the ticket is about.", 200),
        "description": new_ticket_text("Description", "The customer's message.", 20000),
        "priority": Param(
            "normal", title="Priority", description="How urgent the ticket is.", type="string", enum=PRIORITIES
        ),
        "channel": Param(
            "powerapps", title="Channel", description="Where the ticket came from.", type="string", enum=CHANNELS
        ),
        "topic": Param(
            None,
            title="Contact reason (optional)",
            description="What the customer contacts the desk about (billing, shipping, ...), when the form asks; "
            "empty: the AI's topic.",
            type=["null", "string"],
            pattern=TOPIC_PATTERN,
            minLength=1,
            maxLength=50,
        ),
        "language": Param(
            None,
            title="Language (optional)",
            description="The customer's language, ISO 639-1 (en, es, fr): their e-mails are written in it "
            "(English when there is no translation); empty: the language the AI reads in the message.",
            type=["null", "string"],
            pattern=LANGUAGE_PATTERN,
            minLength=2,
            maxLength=2,
        ),
        "request_id": text(
            "Request id (optional)",
            "Idempotency key from the caller: triggering again with the same id yields the same ticket, never a second one.",
            100,
            default=None,
        ),
        "ticket_id": Param(
            None,
            title="Existing ticket (event watcher only)",
            description="Set by the event watcher for a ticket that arrived through another channel: the run "
            "answers that ticket and reads its fields from the Support API. Leave it out.",
            type=["null", "integer"],
            minimum=1,
            **{WATCHER_ONLY: True},
        ),
    }


# A ticket from another channel (web form, e-mail, phone, chat; PowerApps' own tickets started a
# run already): the id only, the run reads the rest from the API, so no customer data is in its conf.
CHANNEL_TICKET = EventStart(
    conf=lambda event, api: {"ticket_id": event["data"]["ticket_id"]},
    when=lambda event: (event.get("data") or {}).get("origin") == "channel",
)


TICKET_CREATED = FlowContract(
    dag_id="support_ticket_created",
    flow="1 New ticket",
    kind="event",
    starts="REST (PowerApps), backend events",
    returns="`ticket_id`, `status`",
    flow_tags=("flow-1",),
    params=ticket_created_params,
    outcome={
        "ticket_id": TICKET_ID,
        "status": field(
            "string",
            "Ticket status",
            "ai_responded: the AI's answer was e-mailed to the customer; queued: the ticket waits for an agent",
        ),
        "customer_notified": field(
            "boolean", "Customer e-mailed", "Whether the customer got an e-mail (answer or receipt)"
        ),
        "no_reply_reason": field(
            "string",
            "Why no e-mail",
            "Set when customer_notified is false: a mail loop, or the address's hourly e-mail cap",
            nullable=True,
        ),
    },
    powerapps_action=("CreateTicket", "Create a support ticket (Flow 1)"),
    powerapps=True,
    events={"ticket.created": CHANNEL_TICKET},
)

log = logging.getLogger(__name__)

TICKET_FIELDS = (
    "customer_name",
    "customer_email",
    "subject",
    "description",
    "priority",
    "channel",
    "topic",
    "language",
)


EMAIL_CAP_REASON = "the customer's address had"


def mailbox_of(address: str) -> str:
    """The mailbox an address reaches, for counting what it got: case-insensitive, and without a
    ``+tag`` (``Victim+1@example.org`` and ``victim+2@example.org`` are one person's inbox)."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _tag(text: str) -> str:
    """The ledger's name for a mailbox or a caller: a digest, so the ledger holds neither."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _address_tag(ticket: dict) -> str:
    return _tag(mailbox_of(ticket["customer_email"]))


def _counted_since(rt: FlowRuntime, prefix: str, ticket: dict, within: timedelta) -> int | None:
    """How many e-mails the ledger counted under ``prefix`` within the last ``within``; None when
    this ticket's own was counted already (a retry or a rerun is never over its own limit)."""
    if rt.store.is_done(f"{prefix}{ticket['id']}"):
        return None
    return rt.store.count_done(prefix, since=times.now() - within)


def over_email_cap(rt: FlowRuntime, ticket: dict) -> str | None:
    """Why this ticket gets no e-mail, when its address already had ``customer_emails_per_hour``
    of Flow 1's e-mails within the hour (a form or a leaked key used to mail a stranger), or None.
    A ticket that was already counted (a retry, a rerun) is never over its own cap."""
    cap = rt.settings.customer_emails_per_hour
    if cap <= 0:
        return None
    sent = _counted_since(rt, f"customer-email:{_address_tag(ticket)}:", ticket, timedelta(hours=1))
    if sent is not None and sent >= cap:
        return f"{EMAIL_CAP_REASON} {sent} e-mails in the last hour (customer_emails_per_hour is {cap}): queued without one"
    return None


CALLER_CEILING_REASON = "the runs of its caller had"


def over_caller_ceiling(rt: FlowRuntime, ticket: dict, caller: str | None) -> str | None:
    """Why this ticket gets no e-mail, when the runs ``caller`` (the user who started the run; None
    for the event watcher's) started had ``customer_emails_per_caller_per_day`` of Flow 1's e-mails
    in the last 24 hours (a leaked key mailing strangers at 30 a minute would spend Exchange's daily
    recipients in five hours), or None. A ticket already counted is never over."""
    ceiling = rt.settings.customer_emails_per_caller_per_day
    if not caller or ceiling <= 0:
        return None
    sent = _counted_since(rt, f"caller-email:{_tag(caller)}:", ticket, timedelta(hours=24))
    if sent is not None and sent >= ceiling:
        return (
            f"{CALLER_CEILING_REASON} {sent} customer e-mails in 24 hours (customer_emails_per_caller_per_day is "
            f"{ceiling}): queued without one"
        )
    return None


def count_customer_email(rt: FlowRuntime, ticket: dict, caller: str | None = None) -> None:
    """Count this ticket's e-mail against its address and its caller (once per ticket)."""
    rt.store.once(f"customer-email:{_address_tag(ticket)}:{ticket['id']}", "email_count", rt.owner, lambda: None)
    if caller:
        rt.store.once(f"caller-email:{_tag(caller)}:{ticket['id']}", "email_count", rt.owner, lambda: None)


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


AI_UNAVAILABLE_NOTE = (
    "The AI could not be asked for an answer ({error}), so the ticket waits for an agent; the customer "
    "was sent the acknowledgement."
)
# A ticket still ``new`` this long after it was last touched lost its Flow 1 run to an outage (the run
# retries for about four minutes): the sweep (``resume_stranded``) finishes Flow 1's work on it.
STRANDED_AFTER = timedelta(minutes=30)


LABEL_PATTERNS = {"topic": re.compile(TOPIC_PATTERN), "language": re.compile(LANGUAGE_PATTERN)}


def ask_ai(rt: FlowRuntime, ticket_id: int) -> tuple[str | None, float | None, str | None, dict]:
    """The AI's answer and confidence, or why there is none, and the labels it gave the ticket (its
    ``topic``, the contact reason, and the ``language`` the customer wrote in; a label that is not one
    is left out). Any error of the AI check (an outage past the client's retries, a time-out, an
    answer that is not one) means "no AI answer", as the seed's flow says, never a stranded ticket."""
    try:
        proposal = rt.api.check_ai_response(ticket_id)
        answer, confidence = proposal["answer"], float(proposal["confidence"])
        if answer is not None and not isinstance(answer, str):
            raise TypeError(f"the answer is a {type(answer).__name__}, not text")
    except Exception as err:  # noqa: BLE001 - every failure of the AI is the same for the ticket
        why = f"{type(err).__name__}: {err}"[:500]
        log.warning("ticket %s: no AI answer, the AI check failed: %s", ticket_id, why)
        return None, None, why, {}
    labels = {
        name: proposal[name]
        for name, pattern in LABEL_PATTERNS.items()
        if isinstance(proposal.get(name), str) and pattern.match(proposal[name])
    }
    return answer, confidence, None, labels


def new_labels(ticket: dict, labels: dict) -> dict:
    """The AI's labels the ticket does not have yet (the request's own topic or language wins)."""
    return {name: value for name, value in labels.items() if not ticket.get(name)}


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
    rt: FlowRuntime,
    ticket: dict,
    answer: str,
    confidence: float | None,
    triggered_at: datetime | None,
    caller: str | None = None,
    labels: dict | None = None,
) -> dict:
    """The AI's answer to the customer, e-mailed first: the ticket counts as answered by AI only
    once it went out (an answer that cannot go out leaves the ticket with the agents). ``labels``:
    the topic and language to set with the status."""
    from support_flows.core import notifications

    ticket_id = ticket["id"]
    count_customer_email(rt, ticket, caller)
    try:
        links = rt.api.create_answer_links(ticket_id)
        email = notifications.ai_answer_email({**ticket, **(labels or {})}, answer, links)  # in their language
        sent_now = rt.mailer.send(f"ticket-{ticket_id}:ai-answer", email)
    except Exception:
        undelivered(rt, ticket_id, answer)
        raise
    if sent_now:
        metrics.trigger_to_email(TICKET_CREATED.dag_id, triggered_at)
    if ticket["status"] != "ai_responded":
        rt.api.update_ticket(
            ticket_id, ai_response=answer, ai_confidence=confidence, status="ai_responded", **(labels or {})
        )
    return {"ticket_id": ticket_id, "status": "ai_responded", "customer_notified": True}


def answer_or_queue(
    rt: FlowRuntime,
    ticket: dict,
    triggered_at: datetime | None = None,
    on_ai_unavailable: Callable[[int, str], None] | None = None,
    caller: str | None = None,
) -> dict:
    """Steps 2-5 of the seed: AI answer to the customer, or the queue and an acknowledgement.

    A rerun takes the path the first run took (the ticket's status says which), and the e-mail
    ledger keeps the customer from getting the same e-mail twice. ``triggered_at`` (the run's
    trigger) times the customer's e-mail for the operators' dashboard. An AI check that fails
    queues the ticket with a note saying why, and calls ``on_ai_unavailable(ticket_id, why)`` (the
    DAG alerts the administrators: the flow layer does not reach the error log). ``caller``: the user
    who started the run, whose daily ceiling of customer e-mails this one counts against.
    """
    from support_flows.core import notifications

    ticket_id = ticket["id"]
    loop_reason = (
        notifications.automatic_reply_reason(ticket, rt.settings.sender_mailbox)
        or over_email_cap(rt, ticket)
        or over_caller_ceiling(rt, ticket, caller)
    )

    confidence = ticket.get("ai_confidence")
    labels: dict = {}
    if ticket["status"] == "ai_responded" and ticket.get("ai_response"):
        answer = ticket["ai_response"]
    elif ticket["status"] == "new":
        proposed, confidence, ai_problem, ai_labels = ask_ai(rt, ticket_id)
        labels = new_labels(ticket, ai_labels)
        confident = proposed and confidence >= rt.settings.ai_confidence_threshold
        answer = proposed if confident and not loop_reason else None
        if ai_problem:
            note = AI_UNAVAILABLE_NOTE.format(error=ai_problem)
            rt.api.add_note(ticket_id, note, author="support-flows", key=f"ticket-{ticket_id}:ai-unavailable")
            if on_ai_unavailable is not None:
                on_ai_unavailable(ticket_id, ai_problem)
    else:
        answer = None

    if answer:
        return deliver_answer(rt, ticket, answer, confidence, triggered_at, caller, labels)

    if ticket["status"] == "new":  # queued first: the ticket reaches the agents even if no e-mail can go out
        ticket = rt.api.update_ticket(ticket_id, status="queued", **labels)
    if not loop_reason:
        count_customer_email(rt, ticket, caller)
    if not loop_reason and rt.mailer.send(
        f"ticket-{ticket_id}:acknowledgement", notifications.acknowledgement_email(ticket)
    ):
        metrics.trigger_to_email(TICKET_CREATED.dag_id, triggered_at)

    outputs = {
        "ticket_id": ticket_id,
        "status": "queued" if ticket["status"] in ("new", "queued") else ticket["status"],
        "customer_notified": loop_reason is None,
    }
    if loop_reason:
        outputs["no_reply_reason"] = loop_reason
    return outputs


def resume_stranded(
    rt: FlowRuntime, now: datetime, on_ai_unavailable: Callable[[int, str], None] | None = None
) -> list[int]:
    """Finish Flow 1 for tickets still ``new`` ``STRANDED_AFTER`` after they were last touched: their
    run failed after the ticket existed (the Support API or Graph down longer than its retries).
    Each gets what Flow 1 would have given it (the AI's answer, or the queue and the
    acknowledgement), each e-mail once (the ledger). Returns the tickets resumed; one that still
    fails is left for the next sweep, and the sweep fails at its end, naming them."""
    cutoff = now - STRANDED_AFTER
    resumed, failed = [], []
    for ticket in rt.api.iter_tickets(status="new", updated_before=cutoff.isoformat(), page_size=200):
        try:
            answer_or_queue(rt, ticket, on_ai_unavailable=on_ai_unavailable)
            resumed.append(ticket["id"])
        except Exception as err:  # noqa: BLE001 - one ticket's failure does not hold back the others
            log.error("ticket %s: still cannot finish Flow 1 for it: %s", ticket["id"], err)
            failed.append(ticket["id"])
    if failed:
        raise RuntimeError(f"tickets still stranded in status new, retried next sweep: {failed}")
    return resumed
