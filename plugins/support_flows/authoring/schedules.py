"""Schedules of the scheduled DAGs. A schedule is fixed when the dag-processor parses the file, so
it comes from the environment alone (no Variable, no connection, no network at parse time):

    AIRFLOW_VAR_SUPPORT_TIMEZONE      the support centre's time zone: the one setting for both the
                                      schedules and the days the runs are about (tasks read it as
                                      the Variable support_timezone; Airflow looks at the
                                      environment first; a Variable elsewhere that disagrees fails
                                      the tasks and the deploy preflight: core.settings)
    SUPPORT_ESCALATION_CRON           default "0 7 * * *"    (daily, before the support day)
    SUPPORT_SLA_WATCH_CRON            default "*/15 * * * *" (the same steps: short SLAs on time)
    SUPPORT_DAILY_SUMMARY_CRON        default "30 18 * * *"  (end of the support day)
    SUPPORT_AUTO_ASSIGN_CRON          default "*/15 * * * *"
    SUPPORT_ANALYTICS_CRON            default "15 1 * * *"
"""

from __future__ import annotations

import os

from airflow.sdk import CronTriggerTimetable

from support_flows.core.times import schedule_timezone

DEFAULTS = {
    "SUPPORT_ESCALATION_CRON": "0 7 * * *",
    "SUPPORT_SLA_WATCH_CRON": "*/15 * * * *",
    "SUPPORT_DAILY_SUMMARY_CRON": "30 18 * * *",
    "SUPPORT_AUTO_ASSIGN_CRON": "*/15 * * * *",
    "SUPPORT_ANALYTICS_CRON": "15 1 * * *",
    "SUPPORT_ERROR_LOG_CRON": "*/10 * * * *",
    "SUPPORT_AI_ANSWERS_CRON": "5 * * * *",
}


def cron(name: str) -> CronTriggerTimetable:
    """The cron schedule ``name`` in the support centre's time zone."""
    return CronTriggerTimetable(os.environ.get(name) or DEFAULTS[name], timezone=schedule_timezone())
