"""The one road for e-mail (support_flows.core.mailer), against the mock's Graph and Exchange: once
per key, exactly once even when Graph took a send whose answer was lost and the task failed, the
mailboxes' daily recipient budget with customers first, and the administrators' warning at 80 %."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers import SEND_MAIL
from support_flows.clients.graph import GraphError
from support_flows.core.mailer import MailBudgetSpent, MailHeldBack, ledger_key
from support_flows.core.notifications import Email
from support_flows.core.runtime import FlowRuntime
from support_flows.core.settings import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "support_flows"
SUPPORT, SYSADMIN = "support@support.example.com", "sysadmin@support.example.com"


def runtime(owner: str = "test/run/task/-1", **settings) -> FlowRuntime:
    return FlowRuntime(owner=owner, settings=Settings(retry_base_seconds=0.01, graph_timeout_seconds=1, **settings))


def customer(n: int) -> Email:
    return Email((f"customer{n}@example.org",), f"Ticket #{n}", "<p>Hello</p>", to_customer=True)


def internal(n: int) -> Email:
    return Email(("agent@support.example.com",), f"Digest {n}", "<p>Hello</p>")


def test_only_the_mailer_calls_graphs_mail_endpoints():
    """Every e-mail takes the one road: no other module sends (or drafts) through Graph."""
    callers = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\.send_mail\(|/sendMail|messages/\{message_id\}/send", path.read_text())
    ]
    assert sorted(callers) == ["clients/graph.py", "core/mailer.py"]


def test_an_email_is_sent_once_per_key_and_the_ledger_counts_its_recipients(mock, connections):
    rt = runtime()
    assert rt.mailer.send("ticket-1:ack", customer(1)) is True
    assert rt.mailer.send("ticket-1:ack", customer(1)) is False
    assert len(mock.mail()) == 1
    assert rt.store.is_done(ledger_key("ticket-1:ack"))
    assert rt.store.recipients_since(datetime.now(UTC) - timedelta(hours=1)) == {SUPPORT: 1}
    rt.close()


def test_a_task_that_failed_after_graph_took_its_mail_does_not_send_it_again_on_retry(mock, connections):
    """Graph sent it, its answer was lost, and Graph then stayed down: the task failed. The retry
    (another owner, at once: the claim was released) finds the message sent and records it."""
    mock.faults(
        {"path": SEND_MAIL, "method": "POST", "accept": True, "times": 1},
        {"path": r"/messages", "method": "GET", "status": 503, "times": 3},  # it cannot even look
    )
    first = runtime("d/r/t/-1")
    with pytest.raises(GraphError):
        first.mailer.send("ticket-2:ack", customer(2))
    assert len(mock.mail()) == 1 and not first.store.is_done(ledger_key("ticket-2:ack"))
    retry = runtime("d/r2/t/-1")
    assert retry.mailer.send("ticket-2:ack", customer(2)) is True  # recorded now, not sent again
    assert len(mock.mail()) == 1 and retry.store.is_done(ledger_key("ticket-2:ack"))
    first.close(), retry.close()


def test_a_retry_looks_in_the_mailbox_of_the_first_try_whichever_has_room_now(mock, connections, monkeypatch):
    mock.faults(
        {"path": SEND_MAIL, "method": "POST", "accept": True, "times": 1},
        {"path": r"/messages", "method": "GET", "status": 503, "times": 3},
    )
    first = runtime("d/r/t/-1", extra_sender_mailboxes=(SYSADMIN,))
    with pytest.raises(GraphError):
        first.mailer.send("ticket-3:ack", customer(3))
    retry = runtime("d/r2/t/-1", extra_sender_mailboxes=(SYSADMIN,))
    monkeypatch.setattr(retry.mailer, "choose_mailbox", lambda recipients, to_customer: SYSADMIN)  # room moved
    assert retry.mailer.send("ticket-3:ack", customer(3)) is True
    assert [m["from"] for m in mock.mail()] == [SUPPORT]  # found where it went, not sent again from the other
    first.close(), retry.close()


def test_an_email_sent_before_the_budget_ran_short_is_not_held(mock, connections):
    rt = runtime(mailbox_recipients_per_day=1)
    assert rt.mailer.send("ticket-1:ack", customer(1)) is True
    assert rt.mailer.send("ticket-1:ack", customer(1)) is False  # a rerun: no MailBudgetSpent
    rt.close()


def test_customers_mail_goes_first_when_a_mailboxs_day_is_short(mock, connections):
    rt = runtime(mailbox_recipients_per_day=10, internal_mail_reserve_percent=20)
    for n in range(7):
        rt.mailer.send(f"ticket-{n}:ack", customer(n))
    assert rt.mailer.send("digest-1", internal(1)) is True  # 8 of 10: still outside the reserve
    with pytest.raises(MailHeldBack, match="last 20%"):
        rt.mailer.send("digest-2", internal(2))
    assert rt.mailer.send("ticket-8:ack", customer(8)) and rt.mailer.send("ticket-9:ack", customer(9))
    with pytest.raises(MailBudgetSpent, match="support@support.example.com 10/10"):
        rt.mailer.send("ticket-10:ack", customer(10))
    assert not rt.store.is_done(ledger_key("ticket-10:ack"))  # it waits: a later try sends it
    assert len(mock.mail()) == 10 and {m["status"] for m in mock.mail()} == {"sent"}  # nothing bounced
    rt.close()


def test_a_second_mailbox_shares_the_load(mock, connections):
    rt = runtime(mailbox_recipients_per_day=3, extra_sender_mailboxes=(SYSADMIN,))
    for n in range(6):
        rt.mailer.send(f"ticket-{n}:ack", customer(n))
    senders = [m["from"] for m in mock.mail()]
    assert senders.count(SUPPORT) == 3 and senders.count(SYSADMIN) == 3
    with pytest.raises(MailBudgetSpent):
        rt.mailer.send("ticket-6:ack", customer(6))
    rt.close()


def test_the_administrators_are_warned_once_a_day_at_80_percent(mock, connections):
    from support_flows.operations import alerts

    rt = runtime(mailbox_recipients_per_day=10)
    for n in range(7):
        rt.mailer.send(f"ticket-{n}:ack", customer(n))
    assert alerts.warn_of_mail_budget(rt, "support_error_log", "scheduled__1") == []
    rt.mailer.send("ticket-7:ack", customer(7))
    assert alerts.warn_of_mail_budget(rt, "support_error_log", "scheduled__1") == [SUPPORT]
    assert alerts.warn_of_mail_budget(rt, "support_error_log", "scheduled__2") == []  # once a day
    (warning,) = [m for m in mock.mail() if m["to"] == [SYSADMIN]]
    assert "MailBudgetWarning" in warning["subject"]
    assert "8 of its 10 recipients" in warning["body"]
    rt.close()
