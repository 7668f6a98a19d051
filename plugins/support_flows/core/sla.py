"""SLA policies: per priority, how long the agents may take to respond and to resolve, in working
hours, with a warning before each breach.

Two clocks run on every open ticket:

- **response**: the agents owe the customer an answer. It starts when the ticket is created and
  again at each response of the agent (a note, work started, a question to the customer, the
  resolution) and at each assignment; the customer's messages do not move it. Before the first
  response it measures the first-response time.
- **resolution**: from the ticket's creation until it is resolved.

Both count working hours only (``BusinessCalendar``: business days, hours, holidays) and pause
while the ticket waits on the customer (an AI answer, or ``pending``): the ticket's
``waiting_periods``. Each clock has two levels: ``reminder`` (the warning: the agent, or the admins
for a ticket nobody has) and ``supervisor`` (the breach: the supervisor, and a note on the ticket).

The policy of ``normal`` keeps the seed's numbers: a response reminder at 48 hours and the
supervisor at 72 (the ``escalation_reminder_hours`` / ``escalation_supervisor_hours`` settings);
``sla_policies`` (JSON) changes any priority's targets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from support_flows.core.business_time import BusinessCalendar
from support_flows.core.settings import VARIABLE_PREFIX, SettingsError
from support_flows.core.times import moment
from support_flows.core.times import now as now_utc

RESPONSE, RESOLUTION = "response", "resolution"
CLOCKS = (RESPONSE, RESOLUTION)
REMINDER, SUPERVISOR = "reminder", "supervisor"  # the warning and the breach
PRIORITIES = ("urgent", "high", "normal", "low")
# The tickets whose clocks run (waiting on the customer pauses them; resolved ones have stopped).
RUNNING_STATUSES = ("new", "queued", "assigned", "in_progress")

# (warning, breach) in working hours, per priority and clock; normal's response pair comes from the
# escalation_reminder_hours / escalation_supervisor_hours settings (48, 72).
DEFAULT_POLICIES: dict[str, dict[str, tuple[float, float]]] = {
    "urgent": {RESPONSE: (2, 4), RESOLUTION: (16, 24)},
    "high": {RESPONSE: (16, 24), RESOLUTION: (48, 72)},
    "normal": {RESPONSE: (48, 72), RESOLUTION: (96, 120)},
    "low": {RESPONSE: (72, 120), RESOLUTION: (160, 240)},
}


@dataclass(frozen=True)
class Target:
    warning: float
    breach: float

    def level(self, hours: float) -> str | None:
        """The highest level ``hours`` on the clock has reached."""
        if hours >= self.breach:
            return SUPERVISOR
        return REMINDER if hours >= self.warning else None


Policies = dict[str, dict[str, Target]]


def _pair(where: str, value: Any) -> Target:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value)):
        raise SettingsError(f"Variable {VARIABLE_PREFIX}sla_policies: {where} must be [warning_hours, breach_hours]")
    warning, breach = float(value[0]), float(value[1])
    if not 0 < warning < breach:
        raise SettingsError(
            f"Variable {VARIABLE_PREFIX}sla_policies: {where} [{value[0]}, {value[1]}]: the warning must come"
            " before the breach, both after 0 hours"
        )
    return Target(warning, breach)


def policies_from(text: str, reminder_hours: float, supervisor_hours: float) -> Policies:
    """The policies: the defaults (normal's response pair from the two escalation settings), then
    what ``text`` (the ``sla_policies`` JSON, may be empty) sets, priority by priority and clock by clock."""
    raw: dict[str, dict[str, Any]] = {p: dict(clocks) for p, clocks in DEFAULT_POLICIES.items()}
    raw["normal"][RESPONSE] = (reminder_hours, supervisor_hours)
    if text.strip():
        try:
            given = json.loads(text)
        except json.JSONDecodeError as err:
            raise SettingsError(f"Variable {VARIABLE_PREFIX}sla_policies: not JSON ({err})") from None
        if not isinstance(given, dict):
            raise SettingsError(f"Variable {VARIABLE_PREFIX}sla_policies: expected an object of priorities")
        for priority, clocks in given.items():
            if priority not in PRIORITIES:
                raise SettingsError(
                    f"Variable {VARIABLE_PREFIX}sla_policies: unknown priority {priority!r} (one of {', '.join(PRIORITIES)})"
                )
            if not isinstance(clocks, dict) or set(clocks) - set(CLOCKS):
                raise SettingsError(
                    f"Variable {VARIABLE_PREFIX}sla_policies: {priority} takes the clocks {' and '.join(CLOCKS)}"
                )
            raw[priority].update(clocks)
    return {p: {c: _pair(f"{p}.{c}", v) for c, v in clocks.items()} for p, clocks in raw.items()}


def policies(settings) -> Policies:
    return policies_from(
        settings.sla_policies, settings.escalation_reminder_hours, settings.escalation_supervisor_hours
    )


def paused_hours(ticket: dict, calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Working hours between ``start`` and ``end`` that the ticket spent waiting on the customer."""
    total = 0.0
    for period in ticket.get("waiting_periods") or ():
        lo = max(moment(period["from"]), start)
        hi = min(moment(period["until"]) or end, end)
        total += calendar.hours_between(lo, hi)
    return total


def clock_hours(ticket: dict, calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Working hours from ``start`` to ``end``, less the pauses."""
    return max(0.0, calendar.hours_between(start, end) - paused_hours(ticket, calendar, start, end))


def response_since(ticket: dict) -> datetime:
    """Where the response clock starts: the creation, the latest assignment or the agent's latest
    response, whichever is last."""
    moments = [moment(ticket.get(name)) for name in ("created_at", "assigned_at", "agent_responded_at")]
    return max(m for m in moments if m is not None)


def first_response_hours(ticket: dict, calendar: BusinessCalendar) -> float | None:
    """Working hours, less pauses, from creation to the agent's first response (None: not yet)."""
    responded = moment(ticket.get("first_response_at"))
    if responded is None:
        return None
    return round(clock_hours(ticket, calendar, moment(ticket["created_at"]), responded), 2)


def resolution_hours(ticket: dict, calendar: BusinessCalendar) -> float | None:
    """Working hours, less pauses, from creation to the resolution (None: not resolved)."""
    resolved = moment(ticket.get("resolved_at"))
    if resolved is None or ticket.get("status") not in ("resolved", "closed"):
        return None
    return round(clock_hours(ticket, calendar, moment(ticket["created_at"]), resolved), 2)


@dataclass(frozen=True)
class Due:
    """A level a ticket's clock has reached: what Flow 4 sends, once per (ticket, clock, level, since)."""

    clock: str
    level: str
    since: datetime
    hours: float
    target: Target


def due_levels(ticket: dict, policy: dict[str, Target], calendar: BusinessCalendar, now: datetime) -> list[Due]:
    """Every level each clock of a running ticket has reached (a breach implies its warning)."""
    if ticket["status"] not in RUNNING_STATUSES:
        return []
    due = []
    for clock, since in ((RESPONSE, response_since(ticket)), (RESOLUTION, moment(ticket["created_at"]))):
        target = policy[clock]
        hours = round(clock_hours(ticket, calendar, since, now), 2)
        reached = target.level(hours)
        if reached is not None:
            due.append(Due(clock, REMINDER, since, hours, target))
        if reached == SUPERVISOR:
            due.append(Due(clock, SUPERVISOR, since, hours, target))
    return due


def breached(hours: float | None, target: Target) -> bool | None:
    return None if hours is None else hours >= target.breach


@dataclass(frozen=True)
class Clocks:
    """What the clocks need: the working calendar and the policies (one read of the settings)."""

    calendar: BusinessCalendar
    policies: Policies

    @classmethod
    def from_settings(cls, settings) -> Clocks:
        return cls(BusinessCalendar.from_settings(settings), policies(settings))

    def facts(self, ticket: dict) -> dict:
        """The ticket's SLA columns of ``ticket_facts``."""
        policy = self.policies[ticket["priority"]]
        first = first_response_hours(ticket, self.calendar)
        resolved = resolution_hours(ticket, self.calendar)
        created = moment(ticket["created_at"])
        end = moment(ticket.get("resolved_at")) if resolved is not None else None
        return {
            "first_response_at": moment(ticket.get("first_response_at")),
            "first_response_hours": first,
            "paused_hours": round(paused_hours(ticket, self.calendar, created, end or now_utc()), 2),
            "first_response_breached": breached(first, policy[RESPONSE]),
            "resolution_breached": breached(resolved, policy[RESOLUTION]),
            "reopen_count": ticket.get("reopen_count") or 0,
        }
