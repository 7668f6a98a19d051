"""Late is loud too: a run past its deadline and a backend-event watcher that falls behind land in
flow_errors and alert the system administrators through the same path as a failure (the
deadlines themselves are exercised end to end in tests/e2e/test_deadline_alerts.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from support_flows.core import times
from support_flows.core.runtime import FlowRuntime
from support_flows.core.settings import LazySettings
from support_flows.operations import events, lateness
from support_flows.storage.reporting import ReportingStore

ADMIN = "sysadmin@support.example.com"


def admin_mail(mock) -> list[dict]:
    return [m for m in mock.mail() if m["to"] == [ADMIN]]


def test_a_late_run_is_logged_and_alerted(mock, connections):
    context = {
        "dag_run": {
            "dag_id": "support_daily_summary",
            "dag_run_id": "scheduled__2026-11-26T18:30:00+00:00",
            "state": "running",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-11-26T19:30:00+00:00"},
    }
    assert asyncio.run(lateness.run_is_late(limit_minutes=60, since="queued", context=context)) == "sent"
    (row,) = ReportingStore().fetch_all("flow_errors")
    assert (row["dag_id"], row["task_id"], row["error_type"], row["is_final"]) == (
        "support_daily_summary",
        "deadline",
        "RunLate",
        True,
    )
    assert (
        "60 minutes after being queued" in row["message"]
        and "state when the deadline passed: running" in row["message"]
    )
    (mail,) = admin_mail(mock)
    assert mail["subject"] == "[support-flows] support_daily_summary is late: RunLate"
    assert "not done by its deadline" in mail["body"] and context["dag_run"]["dag_run_id"] in mail["body"]


def test_the_dags_declare_their_deadlines(dagbag):
    expected = {
        "support_ticket_created": ("DagRunQueuedAtDeadline", 5),
        "support_daily_summary": ("DagRunQueuedAtDeadline", 60),
        "support_backend_events": ("DagRunQueuedAtDeadline", 30),
    }
    for dag_id, (reference, minutes) in expected.items():
        (alert,) = dagbag.dags[dag_id].deadline
        assert type(alert.reference).__name__ == reference, dag_id
        assert alert.interval == timedelta(minutes=minutes), dag_id
        assert alert.callback.path == "support_flows.operations.lateness.run_is_late"


def test_a_deadline_comes_from_the_environment_and_a_bad_one_names_its_variable(monkeypatch):
    monkeypatch.setenv("SUPPORT_TICKET_CREATED_DEADLINE_MINUTES", "0.5")
    assert lateness.limit("SUPPORT_TICKET_CREATED_DEADLINE_MINUTES") == timedelta(seconds=30)
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("SUPPORT_TICKET_CREATED_DEADLINE_MINUTES", bad)
        with pytest.raises(ValueError, match="SUPPORT_TICKET_CREATED_DEADLINE_MINUTES"):
            lateness.limit("SUPPORT_TICKET_CREATED_DEADLINE_MINUTES")


def channel_ticket(mock) -> list[dict]:
    mock.post(
        "/api/inbound/tickets",
        {
            "customer_name": "Wei Zhang",
            "customer_email": "wei@example.net",
            "subject": "Dark mode",
            "description": "Please.",
            "channel": "web",
        },
    )
    return mock.get("/api/events", after=0, limit=100)["items"]


def test_the_watcher_measures_its_lag_and_alerts_past_the_threshold(mock, connections, monkeypatch):
    rt = FlowRuntime(owner="test", settings=LazySettings(api_timeout_seconds=5, watcher_lag_alert_minutes=15))
    feed = channel_ticket(mock)
    real_now = times.now()

    monkeypatch.setattr(times, "now", lambda: real_now + timedelta(minutes=5))
    assert 290 < events.report_lag(rt, feed, "support_backend_events", "run-1") < 400
    assert ReportingStore().fetch_all("flow_errors") == [] and admin_mail(mock) == []

    monkeypatch.setattr(times, "now", lambda: real_now + timedelta(minutes=20))
    assert events.report_lag(rt, feed, "support_backend_events", "run-2") > 15 * 60
    (row,) = ReportingStore().fetch_all("flow_errors")
    assert (row["task_id"], row["error_type"], row["run_id"]) == ("watcher_lag", "WatcherLagging", "run-2")
    assert "waited 20 minutes for its flow" in row["message"]
    (mail,) = admin_mail(mock)
    assert "support_backend_events is late: WatcherLagging" in mail["subject"]


def test_no_event_for_a_flow_means_no_lag(mock, connections):
    rt = FlowRuntime(owner="test", settings=LazySettings(watcher_lag_alert_minutes=15))
    assert events.report_lag(rt, [], "support_backend_events", "run-1") is None
