"""Schedules of the scheduled DAGs. A schedule is fixed when the dag-processor parses the file, so
it comes from the environment (cheap, no I/O), not from Airflow Variables in the database:

    AIRFLOW_VAR_SUPPORT_TIMEZONE      the support centre's time zone (also the Variable for tasks)
    SUPPORT_ESCALATION_CRON           default "0 7 * * *"    (daily, before the support day)
    SUPPORT_DAILY_SUMMARY_CRON        default "30 18 * * *"  (end of the support day)
    SUPPORT_AUTO_ASSIGN_CRON          default "*/15 * * * *"
    SUPPORT_ANALYTICS_CRON            default "15 1 * * *"
"""

from __future__ import annotations

import os

from airflow.sdk import CronTriggerTimetable

DEFAULTS = {
    "SUPPORT_ESCALATION_CRON": "0 7 * * *",
    "SUPPORT_DAILY_SUMMARY_CRON": "30 18 * * *",
    "SUPPORT_AUTO_ASSIGN_CRON": "*/15 * * * *",
    "SUPPORT_ANALYTICS_CRON": "15 1 * * *",
    "SUPPORT_ERROR_LOG_CRON": "*/10 * * * *",
}


def timezone_name() -> str:
    return os.environ.get("AIRFLOW_VAR_SUPPORT_TIMEZONE") or "UTC"


def cron(name: str) -> CronTriggerTimetable:
    """The cron schedule ``name`` in the support centre's time zone."""
    return CronTriggerTimetable(os.environ.get(name) or DEFAULTS[name], timezone=timezone_name())
