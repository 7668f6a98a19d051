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
from support_flows.core import catalog
from support_flows.storage.reporting_assets import TICKET_FACTS

DAG_ID = catalog.TICKET_RESOLVED


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(DAG_ID),
)
def support_ticket_resolved():
    @step
    def resolve_ticket(rt, params) -> dict:
        ticket = rt.api.resolve_ticket(params["ticket_id"], params["agent_id"], params["resolution_summary"])
        return {"ticket_id": ticket["id"], "resolution_status": ticket["status"]}

    @step(pool=SENDER_MAILBOX_POOL)
    def notify_customer(rt, params, resolved: dict) -> str:
        from support_flows.core import notifications

        ticket = rt.api.get_ticket(resolved["ticket_id"])
        agent = rt.api.get_agent(ticket["agent_id"]) if ticket.get("agent_id") else None
        email = notifications.resolution_email(ticket, ticket["resolution_summary"], agent)
        sent = rt.mailer.send(f"ticket-{ticket['id']}:resolved-{ticket['resolved_at']}", email)
        return "sent" if sent else "already_sent"

    @step(outlets=[TICKET_FACTS])
    def load_reporting(rt, params, resolved: dict) -> int:
        from support_flows.core.facts import ticket_fact

        ticket = rt.api.get_ticket(resolved["ticket_id"])
        return rt.store.upsert("ticket_facts", [ticket_fact(ticket, rt.settings.customer_key_salt)])

    @step(pool=SENDER_MAILBOX_POOL)
    def send_survey(rt, params, resolved: dict) -> dict:
        from support_flows.core import notifications

        if not params["send_survey"]:
            return {"survey_status": "not_requested", "survey_url": None}
        survey = rt.api.create_survey(resolved["ticket_id"])
        ticket = rt.api.get_ticket(resolved["ticket_id"])
        email = notifications.survey_email(ticket, survey["url"])
        sent = rt.mailer.send(f"ticket-{ticket['id']}:survey-{survey['id']}", email)
        return {"survey_status": "sent" if sent else "already_sent", "survey_url": survey["url"]}

    @step
    def remove_reminder(rt, params, resolved: dict) -> str:
        from support_flows.flows import assignment

        return assignment.remove_reminder(rt, resolved["ticket_id"])

    @task
    def report(resolved: dict, notification: str, loaded: int, survey: dict) -> dict:
        return {
            "ticket_id": resolved["ticket_id"],
            "resolution_status": resolved["resolution_status"],
            "customer_notification_status": notification,
            **survey,
        }

    resolved = resolve_ticket()
    remove_reminder(resolved)
    notified = notify_customer(resolved)
    survey = send_survey(resolved)
    notified >> survey  # the survey never reaches the customer before the resolution does
    report(resolved, notified, load_reporting(resolved), survey)


support_ticket_resolved()
