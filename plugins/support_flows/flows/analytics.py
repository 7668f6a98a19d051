"""The analytics load: tickets, feedback and agent performance into the reporting tables.

A scheduled run loads everything new since the last load, from durable watermarks in the reporting
database, so a night the scheduler was down (or a failed run) is caught up by the next run, and
the first load on an empty reporting database takes everything the backend holds:

- tickets updated since the newest ``updated_at`` loaded, less an hour (``OVERLAP``) for writes
  that commit late;
- feedback and agent performance for each whole day from the last day loaded (again, for late
  writes) through yesterday in the support centre's time zone; the first load starts at the
  earliest ticket's day.

A run with ``load_date`` reloads that one day instead and leaves the watermarks alone. Every write
is an upsert by natural key that only writes changed rows, so loading anything twice changes
nothing; pages stream through in batches, so memory stays flat whatever the number of tickets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from airflow.sdk import Param

from support_flows.core.contract import FlowContract, Schedule
from support_flows.core.times import moment

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


def analytics_load_params() -> dict[str, Param]:
    return {
        "load_date": Param(
            None,
            title="Day to load (optional)",
            description="Load one past day again (YYYY-MM-DD); empty: the day before the run.",
            type=["null", "string"],
            format="date",
        ),
    }


ANALYTICS_LOAD = FlowContract(
    dag_id="support_analytics_load",
    flow="reporting; 5: the day closed",
    kind="scheduled",
    starts="nightly",
    returns="rows loaded since the last load",
    flow_tags=("flow-3", "flow-6"),
    extra_tags=("analytics",),
    params=analytics_load_params,
    schedule=Schedule("SUPPORT_ANALYTICS_CRON", "15 1 * * *"),
)

BATCH = 1000
OVERLAP = timedelta(hours=1)
TICKETS_WATERMARK = "analytics_tickets"  # a moment: the newest updated_at loaded
DAYS_WATERMARKS = {"feedback_facts": "analytics_feedback_days", "agent_daily_performance": "analytics_agent_days"}


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
    from support_flows.core.facts import ticket_fact
    from support_flows.core.sla import Clocks

    start, end = _bounds(day, rt.settings.timezone)
    salt, clocks = rt.settings.customer_key_salt, Clocks.from_settings(rt.settings)
    tickets = rt.api.iter_tickets(updated_after=start, updated_before=end, page_size=BATCH)
    return _load(rt, "ticket_facts", (ticket_fact(t, salt, clocks) for t in tickets))


def load_feedback(rt: FlowRuntime, day: date) -> dict:
    from support_flows.core.facts import feedback_fact

    feedback = rt.api.iter_feedback(created_on=day, tz=rt.settings.timezone, page_size=BATCH)
    return _load(rt, "feedback_facts", (feedback_fact(f) for f in feedback))


def load_agent_performance(rt: FlowRuntime, day: date) -> dict:
    from support_flows.core.facts import agent_day_rows

    rows = agent_day_rows(rt.api, day, rt.settings.timezone)
    return {"read": len(rows), "written": rt.store.upsert("agent_daily_performance", rows)}


def load_new_tickets(rt: FlowRuntime) -> dict:
    """Every ticket updated since the last load (all of them the first time) into ``ticket_facts``;
    the watermark moves to the newest ``updated_at`` read once the rows are in."""
    from support_flows.core.facts import ticket_fact
    from support_flows.core.sla import Clocks

    since = rt.store.get_moment(TICKETS_WATERMARK)
    filters = {}
    if since:
        filters["updated_after"] = (since - OVERLAP).isoformat()
    salt, clocks = rt.settings.customer_key_salt, Clocks.from_settings(rt.settings)
    newest = since

    def facts() -> Iterator[dict]:
        nonlocal newest
        for ticket in rt.api.iter_tickets(page_size=BATCH, **filters):
            updated = moment(ticket["updated_at"])
            newest = updated if newest is None else max(newest, updated)
            yield ticket_fact(ticket, salt, clocks)

    result = _load(rt, "ticket_facts", facts())
    if newest is not None and (since is None or newest > since):
        rt.store.set_moment(TICKETS_WATERMARK, newest)
    return {"updated_after": filters.get("updated_after"), **result}


def days_to_load(rt: FlowRuntime, table: str, today: date) -> list[date]:
    """The whole days ``table`` still needs, through yesterday: from the last day loaded (loaded
    again, for late writes), or the first time from the earliest ticket's day."""
    last = rt.store.get_moment(DAYS_WATERMARKS[table])
    if last:
        first = last.date()
    else:
        earliest = rt.store.earliest("ticket_facts", "created_at")
        first = earliest.astimezone(ZoneInfo(rt.settings.timezone)).date() if earliest else today - timedelta(days=1)
    return [first + timedelta(days=n) for n in range((today - first).days)]


def _load_days(rt: FlowRuntime, table: str, today: date, load_one) -> dict:
    days = days_to_load(rt, table, today)
    read = written = 0
    for day in days:
        result = load_one(rt, day)
        read, written = read + result["read"], written + result["written"]
        rt.store.set_moment(DAYS_WATERMARKS[table], datetime.combine(day, time(), UTC))
    return {"days": [days[0].isoformat(), days[-1].isoformat()] if days else [], "read": read, "written": written}


def load_agents(rt: FlowRuntime) -> dict:
    """Every agent as analysts label reports with: name, role, team (their supervisor's name; a
    supervisor's own), supervisor, active. No e-mail address: reports need none."""
    people = rt.api.list_agents()
    names = {person["id"]: person["name"] for person in people}
    rows = [
        {
            "agent_id": person["id"],
            "display_name": person["name"],
            "role": person.get("role", "agent"),
            "team": names.get(person.get("supervisor_id")) or person["name"],
            "supervisor_id": person.get("supervisor_id"),
            "active": bool(person.get("available", True)),
        }
        for person in people
    ]
    return {"read": len(rows), "written": rt.store.upsert("agents", rows)}


def load_calendar(rt: FlowRuntime, today: date) -> dict:
    """One row per day from the earliest ticket's day through the end of next year: the weekday,
    whether it is a business day of the support centre's calendar, and the holiday's name."""
    from support_flows.core.business_time import BusinessCalendar

    business = BusinessCalendar.from_settings(rt.settings)
    earliest = rt.store.earliest("ticket_facts", "created_at")
    first = earliest.astimezone(ZoneInfo(rt.settings.timezone)).date() if earliest else today
    last = date(today.year + 1, 12, 31)

    def days() -> Iterator[dict]:
        day = first
        while day <= last:
            holiday = business.holidays.name(day) if business.holidays else None
            yield {
                "day": day,
                "weekday": day.isoweekday(),
                "business_day": (business.days is None or day.weekday() in business.days) and holiday is None,
                "holiday_name": holiday,
            }
            day += timedelta(days=1)

    return {"days": [first.isoformat(), last.isoformat()], **_load(rt, "calendar", days())}


def load_new_feedback(rt: FlowRuntime, today: date) -> dict:
    return _load_days(rt, "feedback_facts", today, load_feedback)


def load_new_agent_days(rt: FlowRuntime, today: date) -> dict:
    return _load_days(rt, "agent_daily_performance", today, load_agent_performance)
