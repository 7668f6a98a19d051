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

Schedule: `SUPPORT_ESCALATION_CRON` (default daily 07:00) in the support centre's time zone. The
same steps run every 15 minutes as `support_sla_watch`, so a short SLA's warning and breach are
noticed within 15 minutes of falling due; a level is recorded once per clock start, whichever run
finds it first, so this morning run sends what the watch has not (when it was paused, say).

**Outputs**: `{"escalated": {"reminder": [ticket ids], "supervisor": [ticket ids]},
"agent_notifications": {...}, "supervisor_notifications": {...}}`; the details (clock, agent,
supervisor, hours on the clock, target) are in the `escalations` table.

**Rerun**: safe; a level is escalated once per clock start, and no e-mail or note is repeated.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args
from support_flows.authoring.escalation_steps import escalation_steps
from support_flows.authoring.schedules import cron
from support_flows.flows.escalation import ESCALATE_STALE_TICKETS


@dag(
    schedule=cron(ESCALATE_STALE_TICKETS.schedule),
    doc_md=__doc__,
    **scheduled_dag_args(ESCALATE_STALE_TICKETS),
)
def support_escalate_stale_tickets():
    escalation_steps()


support_escalate_stale_tickets()
