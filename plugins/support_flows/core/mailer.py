"""The one road for e-mail: every message the flows send (customers, agents, supervisors, admins,
alerts, reports with attachments) goes through ``Mailer.send``, which owns

- the **ledger key** (``ledger_key``, the one place it is built): a retried task or a cleared run
  sends an e-mail once;
- **exactly once at Graph**: the message carries an ``internetMessageId`` made from the key and goes
  as a draft, then ``send``; an attempt whose answer was lost, or an earlier try that failed after
  Graph took it, is found in the mailbox and not sent again (``GraphClient.send_mail``);
- **the sender mailboxes and their daily budget**: Exchange Online allows each mailbox 10,000
  recipients in 24 hours (``mailbox_recipients_per_day``). Each e-mail leaves from the mailbox
  that has used least of its day (``sender_mailbox`` and ``extra_sender_mailboxes``); customers'
  mail goes first: internal mail waits (``MailHeldBack``, a task retry) while less than
  ``internal_mail_reserve_percent`` is left, and when every mailbox is spent even customers' mail
  waits (``MailBudgetSpent``) rather than bounce. Tasks that send run in the mailbox pool
  (``authoring.pools``), Graph's 4 concurrent requests per mailbox.

No other module calls Graph's mail endpoints (a test holds it).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException

from support_flows.core import times
from support_flows.core.notifications import HEADER_KEY, Email

KIND = "mail"
BUDGET_WINDOW = timedelta(hours=24)


class MailBudgetSpent(AirflowException):
    """Every sender mailbox has used its day's recipients: the e-mail waits for a later try."""


class MailHeldBack(AirflowException):
    """Internal mail waits: what is left of every mailbox's day is kept for customers."""


def ledger_key(key: str) -> str:
    """The side-effect ledger's key of the e-mail ``key`` (e.g. ``ticket-12:ai-answer``)."""
    return f"{KIND}:{key}"


def message_id(key: str, mailbox: str) -> str:
    """The e-mail's ``internetMessageId``: the same for every try of the same e-mail, unique to it."""
    digest = hashlib.sha256(ledger_key(key).encode()).hexdigest()[:40]
    return f"<{digest}@{mailbox.rsplit('@', 1)[-1].lower()}>"


def mailboxes(settings: Any) -> list[str]:
    """The sender mailboxes, in the order of preference, lower case, each once."""
    named = [settings.sender_mailbox, *settings.extra_sender_mailboxes]
    return list(dict.fromkeys(m.strip().lower() for m in named if m.strip()))


def budget_used(store: Any, settings: Any) -> dict[str, int]:
    """Recipients each sender mailbox has sent to in the last 24 hours."""
    used = store.recipients_since(times.now() - BUDGET_WINDOW)
    return {mailbox: used.get(mailbox, 0) for mailbox in mailboxes(settings)}


class Mailer:
    """Sends the flows' e-mails, each at most once per key (module docstring)."""

    def __init__(self, graph: Any, store: Any, settings: Any, owner: str):
        self.graph, self.store, self.settings, self.owner = graph, store, settings, owner

    def send(self, key: str, email: Email, *, attachments: list[dict] | None = None) -> bool:
        """Send unless the e-mail ``key`` was sent before; True when sent now."""
        recipients = len(email.to)
        try:
            mailbox = self.choose_mailbox(recipients, email.to_customer)
        except (MailBudgetSpent, MailHeldBack):
            if self.store.is_done(ledger_key(key)):
                return False  # sent before the budget ran short: nothing waits
            raise

        def deliver(mailbox: str = mailbox, look_first: bool = False) -> dict:
            self._send(mailbox, key, email, attachments=attachments, look_first=look_first)
            # the ledger (side_effects.detail) keeps no address or subject: both can be the customer's
            return {"recipients": recipients}

        _, sent_now = self.store.once(
            ledger_key(key),
            KIND,
            self.owner,
            deliver,
            # an earlier try may have sent it from the mailbox it claimed first: look there
            resume=lambda: deliver(self.store.claimed_mailbox(ledger_key(key)) or mailbox, look_first=True),
            mailbox=mailbox,
            recipients=recipients,
        )
        return sent_now

    def send_unrecorded(self, key: str, email: Email) -> None:
        """Send without the ledger: only for the alert that says the reporting database (where the
        ledger lives) is what failed. Still a draft then ``send`` with the key's message id, so a
        lost answer is not sent twice."""
        self._send(self.settings.sender_mailbox, key, email)

    def _send(self, mailbox: str, key: str, email: Email, **options: Any) -> None:
        """The e-mail from ``mailbox`` as a draft with the key's message id, then ``send``."""
        self.graph.send_mail(
            mailbox,
            list(email.to),
            email.subject,
            email.html,
            message_id=message_id(key, mailbox),
            headers={HEADER_KEY: key},
            reference=key,
            **options,
        )

    def choose_mailbox(self, recipients: int, to_customer: bool) -> str:
        """The mailbox with the most of its day left that can take ``recipients`` more; the reserve
        of each day is for customers only."""
        limit = self.settings.mailbox_recipients_per_day
        used = budget_used(self.store, self.settings)
        reserve = 0 if to_customer else limit * self.settings.internal_mail_reserve_percent / 100
        fits = [m for m, n in used.items() if n + recipients <= limit - reserve]
        if fits:
            return min(fits, key=lambda m: used[m])
        state = ", ".join(f"{m} {n}/{limit}" for m, n in used.items())
        if to_customer:
            raise MailBudgetSpent(
                f"every sender mailbox has sent to its {limit} recipients of the last 24 hours ({state}): the e-mail "
                "waits for a later try (add a mailbox to extra_sender_mailboxes to send more)"
            )
        raise MailHeldBack(
            f"internal mail waits: the last {self.settings.internal_mail_reserve_percent}% of every sender mailbox's "
            f"day is kept for customers ({state})"
        )
