"""
### Flow 3, continued: a ticket's life ends (hourly)

1. **follow_up_pending**: a ticket waiting on the customer's answer (`pending`, the agent asked
   something) for `support_pending_nudge_days` (3) working days gets one reminder to the customer
   (and a note); `support_pending_close_days` (4) working days after that reminder, still without an
   answer, it is resolved by its agent's name, the customer told (a reply within `reopen_days`
   reopens it), the agent's calendar reminder removed, the ticket loaded into `ticket_facts`.
   Working days follow the desk's calendar (`business_days`, holidays).
2. **close_resolved**: a ticket resolved more than `support_reopen_days` (7) days ago becomes
   `closed`; from then on the customer's reply opens a new ticket linked to it
   (`support_customer_replied`). Its `ticket_facts` row says `closed`. It runs even when the first
   step failed.

Schedule: `SUPPORT_LIFECYCLE_CRON` (default 20 past every hour).

**Outputs**: `{"reminded", "resolved"}`, then `{"closed", "loaded", "cutoff"}`.

**Rerun**: safe; each e-mail goes once per waiting period (the ledger), a resolved or closed ticket
is not resolved or closed again, and the loads are upserts.
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.authoring.schedules import cron
from support_flows.flows.lifecycle import TICKET_LIFECYCLE
from support_flows.storage.reporting_assets import TICKET_FACTS


@dag(
    schedule=cron(TICKET_LIFECYCLE.schedule),
    doc_md=__doc__,
    **scheduled_dag_args(TICKET_LIFECYCLE),
)
def support_ticket_lifecycle():
    @step(pool=SENDER_MAILBOX_POOL, outlets=[TICKET_FACTS])  # it e-mails customers
    def follow_up_pending(rt=None) -> dict:
        from support_flows.core.runtime import run_moment
        from support_flows.flows import lifecycle

        return lifecycle.follow_up_pending(rt, run_moment())

    @step(outlets=[TICKET_FACTS], trigger_rule=TriggerRule.ALL_DONE)
    def close_resolved(rt=None) -> dict:
        from support_flows.core.runtime import run_moment
        from support_flows.flows import lifecycle

        return lifecycle.close_resolved(rt, run_moment())

    follow_up_pending() >> close_resolved()


support_ticket_lifecycle()
