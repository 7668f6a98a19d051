"""
### Flow 4: SLA escalation (daily)

1. **find_stale_tickets**: every running ticket (`new`, `queued`, `assigned`, `in_progress`)
   measured against its priority's SLA policy (`plugins/support_flows/core/sla.py`): the
   **response** clock (from the creation, the latest assignment or the agent's latest response; a
   customer's message does not move it) and the **resolution** clock (from the creation). Both
   count working hours (`support_business_days`, `support_business_hours`, holidays) and pause
   while the ticket waits on the customer. Normal priority keeps the seed's numbers: a warning at
   48 hours (`support_escalation_reminder_hours`), the supervisor at 72
   (`support_escalation_supervisor_hours`); `support_sla_policies` sets any priority's targets.
   Levels already recorded for the same clock start are left out. The candidates go to the
   reporting database (not XCom), so no task holds the whole backlog.
2. **remind_agents**: the warning, one digest e-mail per agent listing their tickets (the 100
   longest on the clock, and how many more); tickets nobody has go to the admins.
3. **tell_supervisors**: at a breach, an escalation note on the ticket (a system note, which does
   not count as activity) and one e-mail per supervisor (the admins for unassigned tickets).
4. **record_escalations**: the levels reached, in the `escalations` table; returns the outputs.

Schedule: `SUPPORT_ESCALATION_CRON` (default daily 07:00) in the support centre's time zone.

**Outputs**: `{"escalated": {"reminder": [ticket ids], "supervisor": [ticket ids]},
"agent_notifications": {...}, "supervisor_notifications": {...}}`; the details (clock, agent,
supervisor, hours on the clock, target) are in the `escalations` table.

**Rerun**: safe; a level is escalated once per clock start, and no e-mail or note is repeated.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.authoring.schedules import cron
from support_flows.core import catalog
from support_flows.storage.reporting_assets import ESCALATIONS

DAG_ID = catalog.ESCALATE_STALE_TICKETS


def _run_id() -> str:
    return get_current_context()["dag_run"].run_id


@dag(
    schedule=cron("SUPPORT_ESCALATION_CRON"),
    doc_md=__doc__,
    **scheduled_dag_args(DAG_ID),
)
def support_escalate_stale_tickets():
    @step
    def find_stale_tickets(rt=None) -> dict:
        """How many tickets reach each level (the tickets themselves go to the reporting database)."""
        from support_flows.core.runtime import run_moment
        from support_flows.flows import escalation

        return escalation.find_stale_tickets(rt, run_moment(), _run_id())

    @step(pool=SENDER_MAILBOX_POOL)
    def remind_agents(found: dict, rt=None) -> dict:
        from support_flows.flows import escalation

        return escalation.remind_agents(rt, _run_id()) if found["reminder"] else {}

    @step(pool=SENDER_MAILBOX_POOL)
    def tell_supervisors(found: dict, rt=None) -> dict:
        from support_flows.flows import escalation

        return escalation.tell_supervisors(rt, _run_id()) if found["supervisor"] else {}

    @step(outlets=[ESCALATIONS])
    def record_escalations(agent_notifications: dict, supervisor_notifications: dict, rt=None) -> dict:
        from support_flows.core.runtime import run_moment
        from support_flows.flows import escalation

        return {
            "escalated": escalation.record(rt, _run_id(), run_moment()),
            "agent_notifications": agent_notifications,
            "supervisor_notifications": supervisor_notifications,
        }

    found = find_stale_tickets()
    record_escalations(remind_agents(found), tell_supervisors(found))


support_escalate_stale_tickets()
