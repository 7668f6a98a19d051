"""The SLA clocks (core/sla.py) on tickets as the Support API returns them: working hours, pauses
while the ticket waits on the customer, what restarts the response clock, and the policies'
settings with errors that name what to fix."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from support_flows.core import sla
from support_flows.core.business_time import BusinessCalendar
from support_flows.core.settings import SettingsError

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
WALL = BusinessCalendar(tz=ZoneInfo("UTC"))
OFFICE = BusinessCalendar(tz=ZoneInfo("UTC"), days=frozenset(range(5)), hours=(time(9), time(17)))


def ts(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


def ticket(**fields) -> dict:
    base = {
        "id": 1,
        "priority": "normal",
        "status": "assigned",
        "created_at": ts(60),
        "assigned_at": ts(59),
        "agent_responded_at": None,
        "first_response_at": None,
        "waiting_periods": [],
        "resolved_at": None,
    }
    return {**base, **fields}


POLICIES = sla.policies_from("", 48, 72)


def due(t: dict, calendar=WALL) -> set[tuple[str, str]]:
    return {(d.clock, d.level) for d in sla.due_levels(t, POLICIES[t["priority"]], calendar, NOW)}


def test_the_response_clock_runs_from_the_creation_until_the_agent_responds():
    assert due(ticket()) == {("response", "reminder")}  # 59 h since the assignment: past 48
    assert due(ticket(created_at=ts(80), assigned_at=ts(79))) == {("response", "reminder"), ("response", "supervisor")}
    # the agent answered 10 hours ago: the clock starts again
    assert due(ticket(agent_responded_at=ts(10), first_response_at=ts(10))) == set()


def test_a_customers_message_does_not_restart_the_agents_clock():
    # last_activity_at and customer_replied_at move with a customer's reply; the clock reads neither
    chased = ticket(last_activity_at=ts(1), customer_replied_at=ts(1))
    assert due(chased) == due(ticket()) == {("response", "reminder")}


def test_the_clocks_pause_while_the_ticket_waits_on_the_customer():
    # 60 hours on the clock, of which 20 waiting on the customer (pending, then the customer answered)
    waited = ticket(waiting_periods=[{"from": ts(50), "until": ts(30)}])
    assert sla.clock_hours(waited, WALL, NOW - timedelta(hours=59), NOW) == pytest.approx(39)
    assert due(waited) == set()
    # a period still open counts to now; a waiting ticket is not on the clock at all
    assert sla.paused_hours(
        ticket(waiting_periods=[{"from": ts(5), "until": None}]), WALL, NOW - timedelta(hours=59), NOW
    ) == pytest.approx(5)
    assert due(ticket(status="pending", waiting_periods=[{"from": ts(58), "until": None}])) == set()


def test_every_open_status_is_on_the_clock_and_priorities_have_their_own_targets():
    for status in ("new", "queued", "assigned", "in_progress"):
        assert due(ticket(status=status, priority="urgent", created_at=ts(3), assigned_at=None)) == {
            ("response", "reminder")
        }
    assert due(ticket(status="resolved")) == set()
    assert due(ticket(priority="low")) == set()  # low: warned at 72 working hours
    urgent = due(ticket(priority="urgent", created_at=ts(30), assigned_at=ts(29), agent_responded_at=ts(1)))
    assert urgent == {("resolution", "reminder"), ("resolution", "supervisor")}  # 24 h to resolve


def test_working_hours_only_with_a_business_calendar():
    # created Monday 12:00, now Wednesday 12:00: 2 x 8 working hours, not 48
    t = ticket(created_at="2026-11-30T12:00:00Z", assigned_at="2026-11-30T12:00:00Z")
    assert sla.clock_hours(t, OFFICE, datetime(2026, 11, 30, 12, tzinfo=UTC), NOW) == pytest.approx(16)
    assert due(t, OFFICE) == set() and due(t) == {("response", "reminder")}


def test_the_facts_measure_first_response_pauses_and_breaches():
    clocks = sla.Clocks(WALL, POLICIES)
    answered = ticket(
        status="resolved",
        first_response_at=ts(40),
        resolved_at=ts(0),
        waiting_periods=[{"from": ts(45), "until": ts(44)}],
        reopen_count=1,
    )
    facts = clocks.facts(answered)
    assert facts["first_response_hours"] == pytest.approx(19)  # 20 hours, one of them waiting
    assert facts["paused_hours"] == pytest.approx(1)
    assert facts["first_response_breached"] is False and facts["resolution_breached"] is False
    assert facts["reopen_count"] == 1
    late = clocks.facts(ticket(status="resolved", created_at=ts(200), first_response_at=ts(100), resolved_at=ts(0)))
    assert late["first_response_breached"] is True and late["resolution_breached"] is True
    assert clocks.facts(ticket())["first_response_breached"] is None


def test_policies_merge_over_the_defaults_and_normal_keeps_the_seeds_numbers():
    assert POLICIES["normal"]["response"] == sla.Target(48, 72)
    merged = sla.policies_from('{"urgent": {"response": [1, 2]}}', 48, 72)
    assert merged["urgent"]["response"] == sla.Target(1, 2)
    assert merged["urgent"]["resolution"] == sla.Target(*sla.DEFAULT_POLICIES["urgent"]["resolution"])


@pytest.mark.parametrize(
    "text, named",
    [
        ("{not json", "support_sla_policies: not JSON"),
        ('{"critical": {}}', "unknown priority 'critical'"),
        ('{"urgent": {"reply": [1, 2]}}', "urgent takes the clocks response and resolution"),
        ('{"urgent": {"response": [2, 1]}}', "urgent.response [2, 1]: the warning must come before the breach"),
        ('{"urgent": {"response": 4}}', "urgent.response must be [warning_hours, breach_hours]"),
    ],
)
def test_a_bad_policy_names_the_variable_and_what_is_wrong(text, named):
    with pytest.raises(SettingsError, match="support_sla_policies") as err:
        sla.policies_from(text, 48, 72)
    assert named in str(err.value)
