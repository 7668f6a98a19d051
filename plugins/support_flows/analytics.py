"""The daily analytics load: tickets, feedback and agent performance of one day into the
reporting tables. It also catches anything an event flow missed, and, being an upsert by natural
key, loading a day again changes nothing. Pages stream through in batches, so memory stays flat
whatever the number of tickets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from support_flows.facts import agent_day_rows, feedback_fact, ticket_fact
from support_flows.runtime import FlowRuntime

BATCH = 1000


def load_day(moment: datetime, requested: str | None, tz: str) -> date:
    """The day to load: the one asked for, or the day before the run (in the support tz)."""
    if requested:
        return date.fromisoformat(requested)
    return moment.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)


def _bounds(day: date, tz: str) -> tuple[str, str]:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def _load(rt: FlowRuntime, table: str, rows: Iterator[dict]) -> dict:
    """Upsert a stream of rows in one transaction (the day loads whole or not at all; the stream
    is never held whole); how many were read and written."""
    read = 0

    def counted() -> Iterator[dict]:
        nonlocal read
        for row in rows:
            read += 1
            yield row

    written = rt.store.upsert(table, counted())
    return {"read": read, "written": written}


def load_tickets(rt: FlowRuntime, day: date) -> dict:
    """Every ticket updated that day, as ``ticket_facts`` rows."""
    start, end = _bounds(day, rt.settings.timezone)
    salt = rt.settings.customer_key_salt
    tickets = rt.api.iter_tickets(updated_after=start, updated_before=end, page_size=BATCH)
    return _load(rt, "ticket_facts", (ticket_fact(t, salt) for t in tickets))


def load_feedback(rt: FlowRuntime, day: date) -> dict:
    feedback = rt.api.iter_feedback(created_on=day, tz=rt.settings.timezone, page_size=BATCH)
    return _load(rt, "feedback_facts", (feedback_fact(f) for f in feedback))


def load_agent_performance(rt: FlowRuntime, day: date) -> dict:
    rows = agent_day_rows(rt.api, day, rt.settings.timezone)
    return {"read": len(rows), "written": rt.store.upsert("agent_daily_performance", rows)}
