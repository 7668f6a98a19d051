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

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import event_dag_args, task
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.core import catalog
from support_flows.storage.reporting_assets import TICKET_FACTS

DAG_ID = catalog.TICKET_RESOLVED


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(DAG_ID),
)
def support_ticket_resolved():
    @task
    def resolve_ticket() -> dict:
        from support_flows.core.runtime import FlowRuntime

        ctx = get_current_context()
        catalog.check_conf(DAG_ID, ctx["dag_run"].conf)
        p = ctx["params"]
        ticket = FlowRuntime.current().api.resolve_ticket(p["ticket_id"], p["agent_id"], p["resolution_summary"])
        return {"ticket_id": ticket["id"], "resolution_status": ticket["status"]}

    @task(pool=SENDER_MAILBOX_POOL)
    def notify_customer(resolved: dict) -> str:
        from support_flows.core import notifications
        from support_flows.core.runtime import FlowRuntime

        rt = FlowRuntime.current()
        ticket = rt.api.get_ticket(resolved["ticket_id"])
        agent = rt.api.get_agent(ticket["agent_id"]) if ticket.get("agent_id") else None
        email = notifications.resolution_email(ticket, ticket["resolution_summary"], agent)
        return (
            "sent"
            if rt.mailer.send(f"ticket-{ticket['id']}:resolved-{ticket['resolved_at']}", email)
            else "already_sent"
        )

    @task(outlets=[TICKET_FACTS])
    def load_reporting(resolved: dict) -> int:
        from support_flows.core.facts import ticket_fact
        from support_flows.core.runtime import FlowRuntime

        rt = FlowRuntime.current()
        ticket = rt.api.get_ticket(resolved["ticket_id"])
        return rt.store.upsert("ticket_facts", [ticket_fact(ticket, rt.settings.customer_key_salt)])

    @task(pool=SENDER_MAILBOX_POOL)
    def send_survey(resolved: dict) -> dict:
        from support_flows.core import notifications
        from support_flows.core.runtime import FlowRuntime

        if not get_current_context()["params"]["send_survey"]:
            return {"survey_status": "not_requested", "survey_url": None}
        rt = FlowRuntime.current()
        survey = rt.api.create_survey(resolved["ticket_id"])
        ticket = rt.api.get_ticket(resolved["ticket_id"])
        sent = rt.mailer.send(
            f"ticket-{ticket['id']}:survey-{survey['id']}", notifications.survey_email(ticket, survey["url"])
        )
        return {"survey_status": "sent" if sent else "already_sent", "survey_url": survey["url"]}

    @task
    def report(resolved: dict, notification: str, loaded: int, survey: dict) -> dict:
        return {
            "ticket_id": resolved["ticket_id"],
            "resolution_status": resolved["resolution_status"],
            "customer_notification_status": notification,
            **survey,
        }

    @task
    def remove_reminder(resolved: dict) -> str:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import assignment

        return assignment.remove_reminder(FlowRuntime.current(), resolved["ticket_id"])

    resolved = resolve_ticket()
    remove_reminder(resolved)
    notified = notify_customer(resolved)
    survey = send_survey(resolved)
    notified >> survey  # the survey never reaches the customer before the resolution does
    report(resolved, notified, load_reporting(resolved), survey)


support_ticket_resolved()
