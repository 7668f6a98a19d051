"""
### Analytics load (daily)

Loads what is new into the reporting tables the analytics team reads, and publishes each table as
an Asset so analytics DAGs can be scheduled on it:

1. **load_tickets**: every ticket updated since the last load into `ticket_facts` (this also
   catches anything the event flows missed).
2. **load_feedback**: feedback of each day not loaded yet into `feedback_facts`.
3. **load_agent_performance**: each agent's days not loaded yet into `agent_daily_performance`.

Schedule: `SUPPORT_ANALYTICS_CRON` (default 01:15). Where each table stopped is kept in the
reporting database (`watermarks`), so a night the scheduler was down is caught up by the next run,
and the first run on an empty reporting database loads everything the backend holds. Tickets and
feedback stream through in batches of 1,000.

**Outputs**: rows read and written per table, and the range loaded.

**Rerun**: reload any past day with `load_date` (the watermarks do not move), or clear a run:
loads are upserts by natural key, so loading the same data twice changes nothing.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import scheduled_dag_args, task
from support_flows.authoring.schedules import cron
from support_flows.core import catalog
from support_flows.storage.reporting_assets import AGENT_DAILY_PERFORMANCE, FEEDBACK_FACTS, TICKET_FACTS

DAG_ID = catalog.ANALYTICS_LOAD


def _requested_day():
    """The day asked for with ``load_date`` (a reload of that day alone), or None."""
    from datetime import date

    requested = get_current_context()["params"].get("load_date")
    return date.fromisoformat(requested) if requested else None


def _today():
    """The run's own day in the support centre's time zone: it loads whole days before it."""
    from support_flows.core.runtime import run_day
    from support_flows.core.settings import load_settings

    return run_day(load_settings().timezone)


@dag(
    schedule=cron("SUPPORT_ANALYTICS_CRON"),
    doc_md=__doc__,
    **scheduled_dag_args(DAG_ID),
)
def support_analytics_load():
    @task(outlets=[TICKET_FACTS])
    def load_tickets() -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import analytics

        catalog.check_conf(DAG_ID, get_current_context()["dag_run"].conf)
        rt, day = FlowRuntime.current(), _requested_day()
        if day:
            return {"day": day.isoformat(), **analytics.load_tickets(rt, day)}
        return analytics.load_new_tickets(rt)

    @task(outlets=[FEEDBACK_FACTS])
    def load_feedback() -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import analytics

        rt, day = FlowRuntime.current(), _requested_day()
        return analytics.load_feedback(rt, day) if day else analytics.load_new_feedback(rt, _today())

    @task(outlets=[AGENT_DAILY_PERFORMANCE])
    def load_agent_performance() -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import analytics

        rt, day = FlowRuntime.current(), _requested_day()
        return analytics.load_agent_performance(rt, day) if day else analytics.load_new_agent_days(rt, _today())

    load_tickets() >> [load_feedback(), load_agent_performance()]


support_analytics_load()
