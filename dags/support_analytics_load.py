"""
### Analytics load (daily)

Loads one day into the reporting tables the analytics team reads, and publishes each table as an
Asset so analytics DAGs can be scheduled on it:

1. **load_tickets**: every ticket updated that day into `ticket_facts` (this also catches anything
   the event flows missed).
2. **load_feedback**: the day's feedback into `feedback_facts`.
3. **load_agent_performance**: each agent's day into `agent_daily_performance`.

Schedule: `SUPPORT_ANALYTICS_CRON` (default 01:15), loading the previous day in the support
centre's time zone. Tickets and feedback stream through in batches of 1,000.

**Outputs**: rows read and written per table.

**Rerun**: load any past day again with `load_date`, or clear a run: loads are upserts by natural
key, so loading the same data twice changes nothing.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows import params
from support_flows.dag_defaults import DEFAULT_ARGS, START_DATE, task
from support_flows.reporting_assets import AGENT_DAILY_PERFORMANCE, FEEDBACK_FACTS, TICKET_FACTS
from support_flows.schedules import cron


def _day():
    from support_flows.analytics import load_day
    from support_flows.settings import load_settings

    ctx = get_current_context()
    moment = ctx.get("logical_date") or ctx["dag_run"].run_after
    return load_day(moment, ctx["params"].get("load_date"), load_settings().timezone)


@dag(
    dag_id="support_analytics_load",
    schedule=cron("SUPPORT_ANALYTICS_CRON"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args=DEFAULT_ARGS,
    params=params.analytics_load(),
    tags=["support", "flow-3", "flow-6", "scheduled", "analytics"],
    doc_md=__doc__,
)
def support_analytics_load():
    @task(outlets=[TICKET_FACTS])
    def load_tickets() -> dict:
        from support_flows import analytics
        from support_flows.runtime import FlowRuntime

        params.check_conf("support_analytics_load", get_current_context()["dag_run"].conf)
        return {"day": _day().isoformat(), **analytics.load_tickets(FlowRuntime.current(), _day())}

    @task(outlets=[FEEDBACK_FACTS])
    def load_feedback() -> dict:
        from support_flows import analytics
        from support_flows.runtime import FlowRuntime

        return analytics.load_feedback(FlowRuntime.current(), _day())

    @task(outlets=[AGENT_DAILY_PERFORMANCE])
    def load_agent_performance() -> dict:
        from support_flows import analytics
        from support_flows.runtime import FlowRuntime

        return analytics.load_agent_performance(FlowRuntime.current(), _day())

    load_tickets() >> [load_feedback(), load_agent_performance()]


support_analytics_load()
