"""Alerts for runs that are late, not only for runs that fail: Airflow's Deadline Alerts.

A run still not done at its deadline calls ``run_is_late`` in the triggerer (an ``AsyncCallback``:
in Airflow 3.3 a callback run by the executor gets a token that may not read Variables, and the
alert needs the settings); it goes through the same path as a failure (``support_flows.operations.alerts``): a row in ``flow_errors``
(error type ``RunLate``, task ``deadline``) and an e-mail to the system administrators, folded
with other alerts of the same DAG within the alert window. The deadlines:

- ``support_daily_summary``: done within ``SUPPORT_DAILY_SUMMARY_DEADLINE_MINUTES`` (60) of being
  queued, which for a scheduled run is its scheduled time (counted from the schedule itself, the
  first run after a stop, for a day long past, would be late before it starts);
- ``support_ticket_created``: done within ``SUPPORT_TICKET_CREATED_DEADLINE_MINUTES`` (5) of being
  queued: a customer is waiting for the answer or the acknowledgement;
- ``support_backend_events``: each watcher run done within ``SUPPORT_BACKEND_EVENTS_DEADLINE_MINUTES``
  (30) of being queued (a run waits at most ``event_max_wait_seconds``, 10 minutes): past that the
  watcher has stopped and no flow starts from the feed.

Like the schedules, the limits are read from the environment when the DAG file is parsed. The
watcher also measures its lag (the oldest event waiting for its flow) every run and alerts past
``watcher_lag_alert_minutes`` (``support_flows.operations.events.report_lag``).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

log = logging.getLogger(__name__)

LATE = "RunLate"
TASK_ID = "deadline"
DEFAULT_MINUTES = {
    "SUPPORT_DAILY_SUMMARY_DEADLINE_MINUTES": 60.0,
    "SUPPORT_TICKET_CREATED_DEADLINE_MINUTES": 5.0,
    "SUPPORT_BACKEND_EVENTS_DEADLINE_MINUTES": 30.0,
}


def limit(name: str) -> timedelta:
    raw = os.environ.get(name) or DEFAULT_MINUTES[name]
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of minutes, got {raw!r}") from None
    if minutes <= 0:
        raise ValueError(f"{name} must be more than 0 minutes, got {raw!r}")
    return timedelta(minutes=minutes)


def deadline(name: str, reference: str):
    """A DeadlineAlert ``limit(name)`` after the run's ``reference`` ("scheduled" or "queued")."""
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    interval = limit(name)
    start = {"scheduled": DeadlineReference.DAGRUN_LOGICAL_DATE, "queued": DeadlineReference.DAGRUN_QUEUED_AT}[
        reference
    ]
    return DeadlineAlert(
        reference=start,
        interval=interval,
        callback=AsyncCallback(
            "support_flows.operations.lateness.run_is_late",
            kwargs={"limit_minutes": interval.total_seconds() / 60, "since": reference},
        ),
        name=f"not done {interval.total_seconds() / 60:g} min after being {reference}",
    )


async def run_is_late(limit_minutes: float, since: str, context: dict | None = None) -> str | None:
    """The deadline callback (in the triggerer's event loop): the alert, which reads Variables and
    calls Graph synchronously, runs in a thread of its own (the triggerer serves a thread's
    requests; asgiref's sync_to_async would nest the SDK's own and lose the connections). Returns
    the alert's status (see alerts)."""
    import asyncio

    return await asyncio.to_thread(alert_late_run, limit_minutes, since, context)


def alert_late_run(limit_minutes: float, since: str, context: dict | None = None) -> str | None:
    """Record the late run in flow_errors and alert the administrators."""
    from support_flows.core.settings import load_settings
    from support_flows.operations import alerts

    run = (context or {}).get("dag_run") or {}
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id") or run.get("run_id", "?")
    deadline_time = ((context or {}).get("deadline") or {}).get("deadline_time")
    settings = load_settings()
    message = (
        f"the run was not done {limit_minutes:g} minutes after being {since} (deadline {deadline_time}); "
        f"state when the deadline passed: {run.get('state', '?')}"
    )
    failure = alerts.run_failure(dag_id, run_id, TASK_ID, LATE, message)
    log.warning("support_flows: %s %s is late: %s", dag_id, run_id, failure.message)
    return alerts.handle_failure(failure, settings)
