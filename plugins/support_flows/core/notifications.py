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

from support_flows.core import i18n, times
from support_flows.core.i18n import N_

TEMPLATES = Path(__file__).with_name("templates")
HEADER_KEY = "x-support-flows-key"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations()  # the desk's e-mails: as written; a customer's: their catalog (render)
    return env


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


def render(template: str, language: str = i18n.DEFAULT, **context: Any) -> str:
    """The template in ``language``: its ``{% trans %}`` text from that language's catalog."""
    context.setdefault("title", context.get("heading", "Customer Support"))
    context.setdefault("preheader", "")
    context.setdefault("ticket", None)
    catalog = i18n.translations(language)
    return (
        environment()
        .get_template(template)
        .render(lang=language, gettext=catalog.gettext, ngettext=catalog.ngettext, **context)
    )


def customer_email(ticket: dict, template: str, subject: str, heading: str, preheader: str, **context: Any) -> Email:
    """An e-mail to the ticket's customer, in their language (``core.i18n``): ``subject``, ``heading``
    and ``preheader`` are messages (``N_``) with ``%(id)s`` for the ticket and ``%(subject)s`` its subject."""
    language = i18n.language_of(ticket)
    values = {"id": ticket["id"], "subject": ticket["subject"]}
    return Email(
        (ticket["customer_email"],),
        _one_line(i18n.gettext(language, subject, **values)),
        render(
            template,
            language,
            ticket=ticket,
            heading=i18n.gettext(language, heading, **values),
            preheader=i18n.gettext(language, preheader, **values),
            **context,
        ),
        to_customer=True,
    )


def _one_line(text: str, limit: int = 120) -> str:
    """Subjects are plain text: one line, no control characters, bounded length."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


# --- the e-mails of the flows ----------------------------------------------------------------------

# the priorities as customers read them
PRIORITY_WORDS = {"low": N_("low"), "normal": N_("normal"), "high": N_("high"), "urgent": N_("urgent")}


def ai_answer_email(ticket: dict, answer: str, links: dict | None = None) -> Email:
    """``links``: the backend's "solved" and "still need help" links (``solved_url``, ``help_url``)."""
    return customer_email(
        ticket,
        "ai_answer.html",
        N_("[Ticket #%(id)s] %(subject)s"),
        N_("Here is an answer to your request"),
        N_("Ticket #%(id)s: an answer to your question"),
        answer=answer,
        links=links,
    )


def acknowledgement_email(ticket: dict) -> Email:
    language = i18n.language_of(ticket)
    return customer_email(
        ticket,
        "acknowledgement.html",
        N_("[Ticket #%(id)s] We received your request: %(subject)s"),
        N_("We received your request"),
        N_("Ticket #%(id)s is in our queue"),
        received_on=i18n.long_date(times.moment(ticket.get("created_at")), language),
        priority=i18n.gettext(language, PRIORITY_WORDS.get(ticket["priority"], ticket["priority"])),
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
    return customer_email(
        ticket,
        "resolution.html",
        N_("[Ticket #%(id)s] Resolved: %(subject)s"),
        N_("Your ticket is resolved"),
        N_("Ticket #%(id)s is resolved"),
        summary=summary,
        agent=agent,
    )


def pending_reminder_email(ticket: dict, close_days: int, close_on: Any = None) -> Email:
    """The one reminder of a ticket waiting on the customer's answer; ``close_on``: the day it would
    be resolved without an answer."""
    return customer_email(
        ticket,
        "pending_reminder.html",
        N_("[Ticket #%(id)s] We are waiting for your answer: %(subject)s"),
        N_("We are waiting for your answer"),
        N_("Ticket #%(id)s needs your reply"),
        close_days=close_days,
        close_on=i18n.long_date(close_on, i18n.language_of(ticket)),
    )


def pending_resolved_email(ticket: dict, waited_days: int, reopen_days: int) -> Email:
    """A ticket resolved because the customer did not answer."""
    return customer_email(
        ticket,
        "pending_resolved.html",
        N_("[Ticket #%(id)s] Resolved without your answer: %(subject)s"),
        N_("We have resolved your ticket"),
        N_("Ticket #%(id)s is resolved; reply to reopen it"),
        waited_days=waited_days,
        reopen_days=reopen_days,
    )


def survey_email(ticket: dict, survey_url: str) -> Email:
    return customer_email(
        ticket,
        "survey.html",
        N_("[Ticket #%(id)s] How did we do?"),
        N_("How did we do?"),
        N_("One question about your recent ticket"),
        survey_url=survey_url,
    )


def feedback_thanks_email(ticket: dict, rating: int) -> Email:
    return customer_email(
        ticket,
        "feedback_thanks.html",
        N_("[Ticket #%(id)s] Thank you for your feedback"),
        N_("Thank you for your feedback"),
        N_("We read every rating"),
        rating=rating,
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
