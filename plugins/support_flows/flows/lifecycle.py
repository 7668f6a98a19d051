"""A ticket's life ends (Flow 3, continued): a ticket waiting on the customer's answer (``pending``)
gets one reminder after ``pending_nudge_days`` working days and is resolved ``pending_close_days``
working days after it, the customer told each time; a resolved ticket is ``closed``
``reopen_days`` after its resolution. One rule for replies follows (``flows.replies``): a reply to
a resolved ticket reopens it, a reply to a closed one opens a new ticket linked to it.

Every step is safe to repeat: each e-mail once (the ledger, keyed by the waiting period), a
resolved ticket is not resolved again, a closed one not closed again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from support_flows.core.contract import FlowContract, Schedule
from support_flows.core.times import moment

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


TICKET_LIFECYCLE = FlowContract(
    dag_id="support_ticket_lifecycle",
    flow="3 A lifecycle that ends: pending tickets reminded then resolved, resolved tickets closed",
    kind="scheduled",
    starts="hourly",
    returns="tickets reminded, resolved and closed",
    flow_tags=("flow-3",),
    schedule=Schedule("SUPPORT_LIFECYCLE_CRON", "20 * * * *"),
)

log = logging.getLogger(__name__)

AUTHOR = "support-flows"
NO_ANSWER_SUMMARY = (
    "Resolved without the customer's answer: we asked, reminded them after {nudge} working days and "
    "heard nothing for {close} more."
)


def waiting_since(ticket: dict) -> datetime | None:
    """When the ticket's current wait on the customer began (its open waiting period), or None."""
    periods = ticket.get("waiting_periods") or []
    if periods and periods[-1].get("until") is None:
        return moment(periods[-1]["from"])
    return None


def _period_key(ticket: dict, since: datetime) -> str:
    """The e-mails' key of one waiting period: a second question to the customer is a new period."""
    return f"ticket-{ticket['id']}:pending-{since:%Y%m%dT%H%M%S}"


def follow_up_pending(rt: FlowRuntime, now: datetime) -> dict:
    """Remind the customer of every ticket pending for ``pending_nudge_days`` working days (once per
    waiting period), and resolve the ones still pending ``pending_close_days`` working days after
    that reminder went out, telling the customer. ``now``: the run's moment."""
    from support_flows.core import notifications
    from support_flows.core.business_time import BusinessCalendar
    from support_flows.core.mailer import ledger_key

    nudge_days, close_days = rt.settings.pending_nudge_days, rt.settings.pending_close_days
    if nudge_days <= 0:
        return {"reminded": 0, "resolved": 0, "pending_nudge_days": nudge_days}
    calendar = BusinessCalendar.from_settings(rt.settings)
    reminded, resolved, failed = 0, 0, []
    for ticket in rt.api.iter_tickets(status="pending", page_size=200):
        since = waiting_since(ticket)
        if since is None:
            continue
        remind_at = calendar.plus_working_days(since, nudge_days)
        if now < remind_at:
            continue
        key = _period_key(ticket, since)
        try:
            reminded_at = rt.store.done_at(ledger_key(f"{key}:reminder"))
            if reminded_at is None:
                close_on = calendar.plus_working_days(max(remind_at, now), close_days)
                email = notifications.pending_reminder_email(ticket, close_days, close_on)
                reminded += rt.mailer.send(f"{key}:reminder", email)
                _note(rt, ticket, f"{key}:reminder", f"Reminded the customer after {nudge_days} working days.")
                continue
            # counted from the reminder's due moment, or from its sending if that came later
            if now >= calendar.plus_working_days(max(remind_at, reminded_at), close_days):
                resolve_unanswered(rt, ticket, key, nudge_days + close_days)
                resolved += 1
        except Exception as err:  # noqa: BLE001 - one ticket's failure does not hold back the others
            log.error("ticket %s: could not follow up its wait on the customer: %s", ticket["id"], err)
            failed.append(ticket["id"])
    if failed:
        raise RuntimeError(f"pending tickets not followed up, tried again next run: {failed}")
    log.info("pending tickets: %d customers reminded, %d tickets resolved without an answer", reminded, resolved)
    return {"reminded": reminded, "resolved": resolved}


def resolve_unanswered(rt: FlowRuntime, ticket: dict, key: str, waited_days: int) -> None:
    """Resolve a pending ticket whose customer did not answer: by its agent, the customer told (a
    reply within ``reopen_days`` reopens it), the reminder gone from the agent's calendar, the
    ticket in ``ticket_facts``."""
    from support_flows.core import notifications
    from support_flows.flows.assignment import remove_reminder
    from support_flows.flows.resolution import load_fact

    summary = NO_ANSWER_SUMMARY.format(nudge=rt.settings.pending_nudge_days, close=rt.settings.pending_close_days)
    # the customer is told first: a resolution whose e-mail then failed would leave the ticket out of
    # the next run's list (no longer pending) and the customer never told; this way round the retry
    # finds it still pending and resolves it, the e-mail not sent twice (the ledger)
    rt.mailer.send(
        f"{key}:resolved", notifications.pending_resolved_email(ticket, waited_days, rt.settings.reopen_days)
    )
    done = rt.api.resolve_ticket(ticket["id"], ticket["agent_id"], summary)
    remove_reminder(rt, ticket["id"])
    load_fact(rt, done)


def close_resolved(rt: FlowRuntime, now: datetime) -> dict:
    """Close every ticket resolved more than ``reopen_days`` before ``now``: from then on a reply
    opens a new linked ticket instead of reopening it. Its ``ticket_facts`` row says ``closed``."""
    from support_flows.core.facts import ticket_fact
    from support_flows.core.sla import Clocks

    days = rt.settings.reopen_days
    cutoff = now - timedelta(days=days)
    clocks = Clocks.from_settings(rt.settings)
    closed = 0

    def facts():
        nonlocal closed
        for ticket in rt.api.iter_tickets(status="resolved", resolved_before=cutoff.isoformat(), page_size=500):
            done = rt.api.update_ticket(ticket["id"], status="closed")
            closed += 1
            yield ticket_fact(done, rt.settings.customer_key_salt, clocks)

    loaded = rt.store.upsert("ticket_facts", facts())
    log.info("closed %d tickets resolved more than %d days ago", closed, days)
    return {"closed": closed, "loaded": loaded, "cutoff": cutoff.isoformat()}


def _note(rt: FlowRuntime, ticket: dict, key: str, text: str) -> None:
    rt.api.add_note(ticket["id"], text, author=AUTHOR, key=key)
