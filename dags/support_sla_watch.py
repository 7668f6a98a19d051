"""
### Flow 4, on time: SLA warnings and breaches within 15 minutes

The same steps as `support_escalate_stale_tickets` (find the levels due, warn the agents, tell the
supervisors and note the ticket, record), every 15 minutes, so a short SLA (urgent: a warning at 2
working hours, the breach at 4) is noticed within 15 minutes of the moment it falls due, not at the
next morning's run. A level is recorded once per clock start, whichever of the two DAGs finds it
first: neither repeats the other's e-mails or notes. The policies and their clocks:
`plugins/support_flows/core/sla.py` and docs/operations.md (SLA policies).

Schedule: `SUPPORT_SLA_WATCH_CRON` (default every 15 minutes).

**Outputs**: as `support_escalate_stale_tickets`'.

**Rerun**: safe; a level is escalated once per clock start, and no e-mail or note is repeated.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args
from support_flows.authoring.escalation_steps import escalation_steps
from support_flows.authoring.schedules import cron
from support_flows.flows.escalation import SLA_WATCH


@dag(schedule=cron(SLA_WATCH.schedule), doc_md=__doc__, **scheduled_dag_args(SLA_WATCH))
def support_sla_watch():
    escalation_steps()


support_sla_watch()
