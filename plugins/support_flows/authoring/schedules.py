"""Schedules of the scheduled DAGs. A schedule is fixed when the dag-processor parses the file, so
it comes from the environment (cheap, no I/O), not from Airflow Variables in the database:

    AIRFLOW_VAR_SUPPORT_TIMEZONE      the support centre's time zone: the one setting for both the
                                      schedules and the days the runs are about (tasks read it as
                                      the Variable support_timezone; Airflow looks at the
                                      environment before the database)
    SUPPORT_ESCALATION_CRON           default "0 7 * * *"    (daily, before the support day)
    SUPPORT_SLA_WATCH_CRON            default "*/15 * * * *" (the same steps: short SLAs on time)
    SUPPORT_DAILY_SUMMARY_CRON        default "30 18 * * *"  (end of the support day)
    SUPPORT_AUTO_ASSIGN_CRON          default "*/15 * * * *"
    SUPPORT_ANALYTICS_CRON            default "15 1 * * *"
"""

from __future__ import annotations

import os

from airflow.sdk import CronTriggerTimetable

DEFAULTS = {
    "SUPPORT_ESCALATION_CRON": "0 7 * * *",
    "SUPPORT_SLA_WATCH_CRON": "*/15 * * * *",
    "SUPPORT_DAILY_SUMMARY_CRON": "30 18 * * *",
    "SUPPORT_AUTO_ASSIGN_CRON": "*/15 * * * *",
    "SUPPORT_ANALYTICS_CRON": "15 1 * * *",
    "SUPPORT_ERROR_LOG_CRON": "*/10 * * * *",
    "SUPPORT_AI_ANSWERS_CRON": "5 * * * *",
}


def timezone_name() -> str:
    return os.environ.get("AIRFLOW_VAR_SUPPORT_TIMEZONE") or "UTC"


class TimezoneMismatch(ValueError):
    """The time zone is set as a Variable in the database, apart from the environment."""


def check_timezone_setting() -> None:
    """Parse-time check that the schedules and the tasks use one time zone. A Variable
    ``support_timezone`` kept in the database (set in the UI) while the environment says otherwise
    would move the report's day but not the schedule: the DAG file fails to import, naming both.
    A lookup that fails (the database out of reach) does not stop the parse."""
    from airflow.sdk import Variable

    try:
        stored = Variable.get("support_timezone", default=None)
    except Exception:  # noqa: BLE001 - the check must not be what breaks the parse
        return
    schedules = timezone_name()
    if stored and stored.strip() != schedules:
        raise TimezoneMismatch(
            f"the Variable support_timezone is {stored.strip()!r} but the schedules use {schedules!r} "
            f"(AIRFLOW_VAR_SUPPORT_TIMEZONE): set AIRFLOW_VAR_SUPPORT_TIMEZONE={stored.strip()} for every "
            f"Airflow component and delete the Variable, so one setting drives both"
        )


def cron(name: str) -> CronTriggerTimetable:
    """The cron schedule ``name`` in the support centre's time zone (checked against the Variable)."""
    check_timezone_setting()
    return CronTriggerTimetable(os.environ.get(name) or DEFAULTS[name], timezone=timezone_name())
