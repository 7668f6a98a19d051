"""
### Analytics load (daily)

Loads what is new into the reporting tables the analytics team reads, and publishes each table as
an Asset so analytics DAGs can be scheduled on it:

1. **load_tickets**: every ticket updated since the last load into `ticket_facts` (this also
   catches anything the event flows missed).
2. **load_feedback**: feedback of each day not loaded yet into `feedback_facts`.
3. **load_agent_performance**: each agent's days not loaded yet into `agent_daily_performance`.
4. **close_the_day**: the day before the run, now over, completed in `daily_summary` (its 18:30
   report counted the day so far; what happened in the evening counts now) and the whole day's
   report archived in SharePoint under the same paths (no second e-mail).
5. **load_agents_and_calendar**: the `agents` (name, team, supervisor, active) and the `calendar`
   (business days and holidays of the support centre, through the end of next year) that analysts
   label their reports with.

Schedule: `SUPPORT_ANALYTICS_CRON` (default 01:15). Where each table stopped is kept in the
reporting database (`watermarks`), so a night the scheduler was down is caught up by the next run,
and the first run on an empty reporting database loads everything the backend holds. Tickets and
feedback stream through in batches of 1,000.

**Outputs**: rows read and written per table, and the range loaded.

**Rerun**: reload any past day with `load_date` (the watermarks do not move), or clear a run:
loads are upserts by natural key, so loading the same data twice changes nothing.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.schedules import cron
from support_flows.flows.analytics import ANALYTICS_LOAD
from support_flows.storage.reporting_assets import (
    AGENT_DAILY_PERFORMANCE,
    AGENTS,
    CALENDAR,
    DAILY_SUMMARY,
    FEEDBACK_FACTS,
    TICKET_FACTS,
)


def _requested_day(params):
    """The day asked for with ``load_date`` (a reload of that day alone), or None."""
    from datetime import date

    return date.fromisoformat(params["load_date"]) if params.get("load_date") else None


@dag(
    schedule=cron(ANALYTICS_LOAD.schedule),
    doc_md=__doc__,
    **scheduled_dag_args(ANALYTICS_LOAD),
)
def support_analytics_load():
    @step(outlets=[TICKET_FACTS])
    def load_tickets(params, rt=None) -> dict:
        from support_flows.flows import analytics

        day = _requested_day(params)
        if day:
            return {"day": day.isoformat(), **analytics.load_tickets(rt, day)}
        return analytics.load_new_tickets(rt)

    @step(outlets=[FEEDBACK_FACTS])
    def load_feedback(params, rt=None) -> dict:
        from support_flows.core.runtime import run_day
        from support_flows.flows import analytics

        day = _requested_day(params)
        # without one, whole days up to the run's own day (in the support centre's time zone)
        return (
            analytics.load_feedback(rt, day) if day else analytics.load_new_feedback(rt, run_day(rt.settings.timezone))
        )

    @step(outlets=[AGENT_DAILY_PERFORMANCE])
    def load_agent_performance(params, rt=None) -> dict:
        from support_flows.core.runtime import run_day
        from support_flows.flows import analytics

        day = _requested_day(params)
        if day:
            return analytics.load_agent_performance(rt, day)
        return analytics.load_new_agent_days(rt, run_day(rt.settings.timezone))

    @step(outlets=[AGENTS, CALENDAR])
    def load_agents_and_calendar(rt=None) -> dict:
        """What analysts label reports with: the agents (names, teams) and the calendar (business
        days, holidays), through the end of next year."""
        from support_flows.core.runtime import run_day
        from support_flows.flows import analytics

        return {
            "agents": analytics.load_agents(rt),
            "calendar": analytics.load_calendar(rt, run_day(rt.settings.timezone)),
        }

    @step(outlets=[DAILY_SUMMARY])
    def close_the_day(params, rt=None) -> dict:
        """The day before the run (or ``load_date``), over now: its daily_summary row and archived
        report completed with the whole day."""
        from datetime import timedelta

        from support_flows.core.runtime import run_day
        from support_flows.flows import daily_summary

        day = _requested_day(params) or run_day(rt.settings.timezone) - timedelta(days=1)
        return daily_summary.close_day(rt, day)

    load_tickets() >> [load_feedback(), load_agent_performance(), load_agents_and_calendar(), close_the_day()]


support_analytics_load()
