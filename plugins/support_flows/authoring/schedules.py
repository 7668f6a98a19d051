"""Schedules of the scheduled DAGs: each declares its cron's environment variable and default in
its contract (``schedule=Schedule(...)`` in its flow module). A schedule is fixed when the
dag-processor parses the file, so it comes from the environment alone (no Variable, no connection,
no network at parse time):

    AIRFLOW_VAR_SUPPORT_TIMEZONE      the support centre's time zone: the one setting for both the
                                      schedules and the days the runs are about (tasks read it as
                                      the Variable support_timezone; Airflow looks at the
                                      environment first; a Variable elsewhere that disagrees fails
                                      the tasks and the deploy preflight: core.settings)
    SUPPORT_*_CRON                    each scheduled DAG's cron (its contract names the variable
                                      and the default; docs/operations.md lists them)
"""

from __future__ import annotations

import os

from airflow.sdk import CronTriggerTimetable

from support_flows.core.contract import Schedule
from support_flows.core.times import schedule_timezone


def cron(schedule: Schedule) -> CronTriggerTimetable:
    """The contract's cron schedule in the support centre's time zone."""
    return CronTriggerTimetable(os.environ.get(schedule.variable) or schedule.default, timezone=schedule_timezone())
