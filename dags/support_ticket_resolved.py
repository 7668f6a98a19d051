"""
### Flow 3: an agent resolves a ticket

Triggered by PowerApps over the REST API when an agent resolves a ticket.

1. **resolve_ticket**: mark the ticket resolved through the Support API.
2. **notify_customer**: e-mail the customer the resolution summary.
3. **load_reporting**: load the ticket into `ticket_facts` (idempotent upsert).
4. **send_survey**: when `send_survey` is true, create the satisfaction survey in the backend and
   e-mail the customer its link (after the resolution e-mail).
5. **remove_reminder**: the agent's follow-up reminder for the ticket leaves their calendar.
6. **report**: return the outputs.

**Outputs**: `{"ticket_id", "resolution_status", "customer_notification_status", "survey_status",
"survey_url"}`.

**Rerun**: safe; one resolution e-mail, one survey, one reporting row per ticket.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import event_dag_args, step, task
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.flows.resolution import TICKET_RESOLVED
from support_flows.storage.reporting_assets import TICKET_FACTS


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(TICKET_RESOLVED),
)
def support_ticket_resolved():
    @step
    def resolve_ticket(params, rt=None) -> dict:
        from support_flows.flows import resolution

        return resolution.resolve(rt, params["ticket_id"], params["agent_id"], params["resolution_summary"])

    @step(pool=SENDER_MAILBOX_POOL)
    def notify_customer(resolved: dict, rt=None) -> str:
        from support_flows.flows import resolution

        return resolution.notify_customer(rt, resolved["ticket_id"])

    @step(outlets=[TICKET_FACTS])
    def load_reporting(resolved: dict, rt=None) -> int:
        from support_flows.flows import resolution

        return resolution.load_reporting(rt, resolved["ticket_id"])

    @step(pool=SENDER_MAILBOX_POOL)
    def send_survey(resolved: dict, params, rt=None) -> dict:
        from support_flows.flows import resolution

        return resolution.send_survey(rt, resolved["ticket_id"], params["send_survey"])

    @step
    def remove_reminder(resolved: dict, rt=None) -> str:
        from support_flows.flows import assignment

        return assignment.remove_reminder(rt, resolved["ticket_id"])

    @task
    def report(resolved: dict, notification: str, loaded: int, survey: dict) -> dict:
        from support_flows.flows import resolution

        return resolution.outputs(resolved, notification, survey)

    resolved = resolve_ticket()
    remove_reminder(resolved)
    notified = notify_customer(resolved)
    survey = send_survey(resolved)
    notified >> survey  # the survey never reaches the customer before the resolution does
    return report(resolved, notified, load_reporting(resolved), survey)  # the run's result


support_ticket_resolved()
