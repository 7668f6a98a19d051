"""E-mails: rendered from Jinja2 templates (``templates/``) with autoescaping always on, so text a
customer wrote can never inject markup. Layouts are tables with inline styles, which is what
Outlook renders faithfully, and carry no information in images.

They are sent by ``support_flows.core.mailer``, the one road for e-mail. ``to_customer`` marks what
goes to a customer: it goes first when a mailbox's daily budget is short.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).with_name("templates")
HEADER_KEY = "x-support-flows-key"


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def compile_templates() -> None:
    """Compile every template into the process's environment: a worker's preload does it once,
    and each task process forked from it renders without compiling (about a sixth of Flow 1's
    task time: docs/performance.md)."""
    env = environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    subject: str
    html: str
    to_customer: bool = False


def render(template: str, **context: Any) -> str:
    context.setdefault("title", context.get("heading", "Customer Support"))
    context.setdefault("preheader", "")
    context.setdefault("ticket", None)
    return environment().get_template(template).render(**context)


def _one_line(text: str, limit: int = 120) -> str:
    """Subjects are plain text: one line, no control characters, bounded length."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


# --- the e-mails of the flows ----------------------------------------------------------------------


def ai_answer_email(ticket: dict, answer: str, links: dict | None = None) -> Email:
    """``links``: the backend's "solved" and "still need help" links (``solved_url``, ``help_url``)."""
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] {ticket['subject']}"),
        render(
            "ai_answer.html",
            ticket=ticket,
            answer=answer,
            links=links,
            heading="Here is an answer to your request",
            preheader=f"Ticket #{ticket['id']}: an answer to your question",
        ),
        to_customer=True,
    )


def acknowledgement_email(ticket: dict) -> Email:
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] We received your request: {ticket['subject']}"),
        render(
            "acknowledgement.html",
            ticket=ticket,
            heading="We received your request",
            preheader=f"Ticket #{ticket['id']} is in our queue",
        ),
        to_customer=True,
    )


def agent_assignment_email(ticket: dict, agent: dict, assigned_by: str, link: str, reminder_at: str) -> Email:
    return Email(
        (agent["email"],),
        _one_line(f"[Ticket #{ticket['id']}] Assigned to you ({ticket['priority']}): {ticket['subject']}"),
        render(
            "agent_assignment.html",
            ticket=ticket,
            agent=agent,
            assigned_by=assigned_by,
            link=link,
            reminder_at=reminder_at,
            heading=f"Ticket #{ticket['id']} is yours",
            preheader=f"{ticket['priority']} priority: {ticket['subject']}",
        ),
    )


def customer_reply_email(ticket: dict, agent: dict, words: str, link: str, *, reopened: bool) -> Email:
    what = "Reopened, the customer replied" if reopened else "The customer replied"
    return Email(
        (agent["email"],),
        _one_line(f"[Ticket #{ticket['id']}] {what}: {ticket['subject']}"),
        render(
            "customer_reply.html",
            ticket=ticket,
            agent=agent,
            words=words or "(no text)",
            link=link,
            reopened=reopened,
            heading=f"Ticket #{ticket['id']}: the customer replied",
            preheader=f"{what}: {ticket['subject']}",
        ),
    )


def resolution_email(ticket: dict, summary: str, agent: dict | None) -> Email:
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] Resolved: {ticket['subject']}"),
        render(
            "resolution.html",
            ticket=ticket,
            summary=summary,
            agent=agent,
            heading="Your ticket is resolved",
            preheader=f"Ticket #{ticket['id']} is resolved",
        ),
        to_customer=True,
    )


def pending_reminder_email(ticket: dict, close_days: int) -> Email:
    """The one reminder of a ticket waiting on the customer's answer."""
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] We are waiting for your answer: {ticket['subject']}"),
        render(
            "pending_reminder.html",
            ticket=ticket,
            close_days=close_days,
            heading="We are waiting for your answer",
            preheader=f"Ticket #{ticket['id']} needs your reply",
        ),
        to_customer=True,
    )


def pending_resolved_email(ticket: dict, waited_days: int, reopen_days: int) -> Email:
    """A ticket resolved because the customer did not answer."""
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] Resolved without your answer: {ticket['subject']}"),
        render(
            "pending_resolved.html",
            ticket=ticket,
            waited_days=waited_days,
            reopen_days=reopen_days,
            heading="We have resolved your ticket",
            preheader=f"Ticket #{ticket['id']} is resolved; reply to reopen it",
        ),
        to_customer=True,
    )


def survey_email(ticket: dict, survey_url: str) -> Email:
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] How did we do?"),
        render(
            "survey.html",
            ticket=ticket,
            survey_url=survey_url,
            heading="How did we do?",
            preheader="One question about your recent ticket",
        ),
        to_customer=True,
    )


def feedback_thanks_email(ticket: dict, rating: int) -> Email:
    return Email(
        (ticket["customer_email"],),
        _one_line(f"[Ticket #{ticket['id']}] Thank you for your feedback"),
        render(
            "feedback_thanks.html",
            ticket=ticket,
            rating=rating,
            heading="Thank you for your feedback",
            preheader="We read every rating",
        ),
        to_customer=True,
    )


# --- sending -----------------------------------------------------------------------------------------------


AUTOMATIC_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounce[s]?)(\+.*)?@", re.I)
AUTOMATIC_SUBJECTS = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|autoreply|out of (the )?office|undeliverable|delivery status notification"
    r"|returned mail|abwesenheitsnotiz|r[ée]ponse automatique)\b",
    re.I,
)


def automatic_reply_reason(ticket: dict, own_mailbox: str) -> str | None:
    """Why no automatic e-mail may answer this ticket (a mail loop would follow), or None.

    Tickets from our own mailbox, from system senders, and tickets that are themselves automatic
    replies (the ``Auto-Submitted`` header, an out-of-office subject) get no automatic answer.
    """
    address = ticket["customer_email"].strip().lower()
    if address == own_mailbox.strip().lower():
        return "the ticket comes from our own mailbox"
    if AUTOMATIC_SENDERS.match(address):
        return f"the sender {address} is an automatic mailbox"
    if ticket.get("auto_submitted"):
        return "the ticket is an automatic reply (Auto-Submitted)"
    if AUTOMATIC_SUBJECTS.match(ticket.get("subject") or ""):
        return "the subject marks an automatic reply"
    return None
