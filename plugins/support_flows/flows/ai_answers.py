"""What happens after the AI answered a ticket (Flow 1's first branch): the answer's e-mail tells the
customer that replying reaches a person, so a reply hands the ticket to the agents' queue; an answer
left without reply for ``ai_answer_close_hours`` (72) is resolved as answered by AI and loaded into
``ticket_facts``. Until one of the two happens the ticket waits on the customer, and the daily
summary counts it apart from the backlog of people's work."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from support_flows.core import times
from support_flows.core.contract import FlowContract, Schedule

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


CLOSE_AI_ANSWERS = FlowContract(
    dag_id="support_close_ai_answers",
    flow="1 AI answers without a reply for 72 h: resolved as answered by AI",
    kind="scheduled",
    starts="hourly",
    returns="tickets closed and loaded",
    flow_tags=("flow-1",),
    schedule=Schedule("SUPPORT_AI_ANSWERS_CRON", "5 * * * *"),
)


log = logging.getLogger(__name__)

CLOSED_AS_AI = "Answered by the AI assistant; the customer did not reply within {hours} hours."
CONFIRMED_BY_CUSTOMER = "Answered by the AI assistant; the customer confirmed that the answer solved the problem."


def resolve_confirmed(rt: FlowRuntime, ticket_id: int) -> dict:
    """The customer said the AI's answer solved it: resolved as answered by AI, loaded into
    ``ticket_facts``. A ticket that moved on meanwhile (a reply, an agent) is left as it is."""
    from support_flows.clients.support_api import SupportApiRequestError
    from support_flows.flows.resolution import load_fact, survey_customer

    ticket = rt.api.get_ticket(ticket_id)
    if ticket["status"] == "ai_responded":
        try:
            ticket = rt.api.resolve_ticket(ticket_id, None, CONFIRMED_BY_CUSTOMER, resolved_by="ai")
        except SupportApiRequestError as err:
            if err.status != 409:
                raise
            ticket = rt.api.get_ticket(ticket_id)
    if ticket["status"] != "resolved" or ticket.get("resolved_by") != "ai":
        log.info("ticket %s is %s: the confirmation changes nothing", ticket_id, ticket["status"])
        return {"ticket_id": ticket_id, "status": ticket["status"], "outcome": "already_moved_on"}
    load_fact(rt, ticket)
    survey = survey_customer(rt, ticket) if rt.settings.survey_ai_answers else "not_requested"
    return {"ticket_id": ticket_id, "status": "resolved", "outcome": "resolved_as_confirmed", "survey_status": survey}


def hand_to_agent(rt: FlowRuntime, ticket_id: int) -> dict:
    """The customer replied: an AI-answered ticket goes to the unassigned queue with a note saying
    why. Any other state is left as it is (the reply is already on the ticket as a customer note)."""
    ticket = rt.api.get_ticket(ticket_id)
    if ticket["status"] == "ai_responded":
        rt.api.add_note(
            ticket_id,
            "The customer replied to the AI answer; the ticket waits for an agent.",
            author="support-flows",
            key=f"ticket-{ticket_id}:customer-replied",
        )
        ticket = rt.api.update_ticket(ticket_id, status="queued")
        return {"ticket_id": ticket_id, "status": ticket["status"], "outcome": "queued_for_agent"}
    outcome = {
        "new": "already_waiting",
        "queued": "already_waiting",
        "assigned": "with_agent",
        "in_progress": "with_agent",
        "pending": "with_agent",
    }.get(ticket["status"], "already_resolved")
    log.info(
        "ticket %s is %s: the customer's reply is on the ticket, nothing to hand over", ticket_id, ticket["status"]
    )
    return {"ticket_id": ticket_id, "status": ticket["status"], "outcome": outcome}


def close_unanswered(rt: FlowRuntime, now: datetime) -> dict:
    """Resolve every AI answer without a reply for ``ai_answer_close_hours`` and load it into
    ``ticket_facts`` (in batches); an answer the e-mail ledger does not show as sent goes to the
    agents instead. Safe to repeat: resolving a resolved ticket changes nothing."""
    from support_flows.core.facts import ticket_fact
    from support_flows.core.mailer import ledger_key
    from support_flows.core.sla import Clocks
    from support_flows.flows.tickets import undelivered

    hours = rt.settings.ai_answer_close_hours
    cutoff = now - timedelta(hours=hours)
    closed = 0
    clocks = Clocks.from_settings(rt.settings)

    def facts():
        from support_flows.clients.support_api import SupportApiRequestError

        nonlocal closed
        for ticket in rt.api.iter_tickets(status="ai_responded", activity_before=cutoff.isoformat()):
            if not rt.store.is_done(ledger_key(f"ticket-{ticket['id']}:ai-answer")):
                # the ledger never saw the answer go out: not answered, whatever its status says
                log.warning("ticket %s: its AI answer was never e-mailed; handed to the agents", ticket["id"])
                undelivered(rt, ticket["id"], ticket.get("ai_response") or "")
                continue
            try:
                resolved = rt.api.resolve_ticket(ticket["id"], None, CLOSED_AS_AI.format(hours=hours), resolved_by="ai")
            except SupportApiRequestError as err:
                if err.status != 409:
                    raise
                log.info("ticket %s changed since it was listed (the customer replied?): left open", ticket["id"])
                continue
            closed += 1
            yield ticket_fact(resolved, rt.settings.customer_key_salt, clocks)

    loaded = rt.store.upsert("ticket_facts", facts())  # streamed in batches by the store
    log.info("resolved %d AI answers without a reply for %d h; %d rows loaded into ticket_facts", closed, hours, loaded)
    return {"closed": closed, "loaded": loaded, "cutoff": cutoff.isoformat()}


SURVEYED_UNTIL = "ai-answer-surveys"  # the watermark: the newest AI resolution surveyed (the backend's clock)
SURVEY_OVERLAP = timedelta(hours=1)  # each run looks this far behind it (resolutions committed late)
FIRST_SURVEY_WINDOW = timedelta(hours=24)  # the first run ever: AI resolutions of the last day, not all history


def survey_ai_resolved(rt: FlowRuntime, now: datetime) -> dict:
    """The satisfaction survey for every ticket resolved as answered by AI since the last run
    (confirmed by the customer, or closed by ``close_unanswered``), so satisfaction with the AI's
    answers can be set beside the agents'. Each e-mail once (the ledger). The watermark is the newest
    resolution surveyed, on the backend's clock, and moves only when every survey went out, so one
    that failed is tried again by the next run."""
    from support_flows.flows.resolution import survey_customer

    if not rt.settings.survey_ai_answers:
        return {"surveys_sent": 0, "surveys_sent_before": 0, "survey_ai_answers": False}
    watermark = rt.store.get_moment(SURVEYED_UNTIL)
    since = watermark - SURVEY_OVERLAP if watermark else min(now, times.now()) - FIRST_SURVEY_WINDOW
    sent = already = 0
    newest = watermark
    for ticket in rt.api.iter_tickets(status="resolved,closed", resolved_after=since.isoformat()):
        if ticket.get("resolved_by") != "ai":
            continue
        if survey_customer(rt, ticket) == "sent":
            sent += 1
        else:
            already += 1
        resolved = times.moment(ticket["resolved_at"])
        newest = resolved if newest is None else max(newest, resolved)
    if newest is not None:
        rt.store.set_moment(SURVEYED_UNTIL, newest)
    log.info("surveys for tickets resolved by AI since %s: %d sent, %d sent before", since.isoformat(), sent, already)
    return {"surveys_sent": sent, "surveys_sent_before": already, "since": since.isoformat()}
