"""
### Flow 4: escalation of idle tickets (daily)

1. **find_stale_tickets**: tickets in status `assigned` whose last activity by a person (agent or
   customer) is older than 48 hours (`support_escalation_reminder_hours`); 72 hours
   (`support_escalation_supervisor_hours`) for the supervisor. With a business calendar
   (`support_business_days`, `support_business_hours`, `support_holidays`) only working hours
   count. Levels already recorded for the same idle period are left out. The candidates go to
   the reporting database (not XCom), so no task holds the whole backlog.
2. **remind_agents**: one digest e-mail per agent listing their stale tickets (the 100 longest
   idle, and how many more).
3. **tell_supervisors**: an escalation note on each 72-hour ticket (a system note, which does not
   count as activity) and one e-mail per supervisor.
4. **record_escalations**: the levels reached, in the `escalations` table; returns the outputs.

Schedule: `SUPPORT_ESCALATION_CRON` (default daily 07:00) in the support centre's time zone.

**Outputs**: `{"escalated": {"reminder": [ticket ids], "supervisor": [ticket ids]},
"agent_notifications": {...}, "supervisor_notifications": {...}}`; the details (agent, supervisor,
idle hours) are in the `escalations` table.

**Rerun**: safe; a level is escalated once per idle period, and no e-mail or note is repeated.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import DEFAULT_ARGS, START_DATE, tags, task
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.authoring.schedules import cron
from support_flows.storage.reporting_assets import ESCALATIONS


def _reference_time():
    """The moment ages are measured to: the end of the run's interval (or when it was triggered)."""
    ctx = get_current_context()
    return ctx.get("data_interval_end") or ctx["dag_run"].run_after


def _run_id() -> str:
    return get_current_context()["dag_run"].run_id


@dag(
    dag_id="support_escalate_stale_tickets",
    schedule=cron("SUPPORT_ESCALATION_CRON"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args=DEFAULT_ARGS,
    tags=tags(4, "scheduled"),
    doc_md=__doc__,
)
def support_escalate_stale_tickets():
    @task
    def find_stale_tickets() -> dict:
        """How many tickets reach each level (the tickets themselves go to the reporting database)."""
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import escalation

        return escalation.find_stale_tickets(FlowRuntime.current(), _reference_time(), _run_id())

    @task(pool=SENDER_MAILBOX_POOL)
    def remind_agents(found: dict) -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import escalation

        return escalation.remind_agents(FlowRuntime.current(), _run_id()) if found["reminder"] else {}

    @task(pool=SENDER_MAILBOX_POOL)
    def tell_supervisors(found: dict) -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import escalation

        return escalation.tell_supervisors(FlowRuntime.current(), _run_id()) if found["supervisor"] else {}

    @task(outlets=[ESCALATIONS])
    def record_escalations(agent_notifications: dict, supervisor_notifications: dict) -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import escalation

        return {
            "escalated": escalation.record(FlowRuntime.current(), _run_id(), _reference_time()),
            "agent_notifications": agent_notifications,
            "supervisor_notifications": supervisor_notifications,
        }

    found = find_stale_tickets()
    record_escalations(remind_agents(found), tell_supervisors(found))


support_escalate_stale_tickets()
