"""
### Flow 6: a customer's feedback

Triggered by PowerApps over the REST API (and by backend events when the customer answers the
survey link).

1. **save_feedback**: save it through the Support API (one feedback per ticket).
2. **create_follow_up**: a rating of 1 or 2 stars creates a Planner task for the agent's
   supervisor (title, ticket link, due in 2 days).
3. **update_agent_metrics**: count the rating in the agent's metrics (backend) and load
   `feedback_facts` and `agent_daily_performance`.
4. **thank_customer**: e-mail the customer a thank-you.
5. **report**: return the outputs.

**Outputs**: `{"feedback_id", "feedback_processing_status", "followup_task_id" (or null),
"customer_notification_status"}`.

**Rerun**: safe; one Planner task and one thank-you e-mail per feedback.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import event_dag_args, task
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.core import catalog
from support_flows.storage.reporting_assets import AGENT_DAILY_PERFORMANCE, FEEDBACK_FACTS

DAG_ID = catalog.FEEDBACK_RECEIVED


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(DAG_ID),
)
def support_feedback_received():
    @task
    def save_feedback() -> dict:
        from support_flows.core.runtime import FlowRuntime

        ctx = get_current_context()
        catalog.check_conf(DAG_ID, ctx["dag_run"].conf)
        p = ctx["params"]
        return FlowRuntime.current().api.create_feedback(p["ticket_id"], p["rating"], p.get("comment"))

    @task
    def create_follow_up(feedback: dict) -> str | None:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows.feedback import create_follow_up as follow_up

        return follow_up(FlowRuntime.current(), feedback)

    @task(outlets=[FEEDBACK_FACTS, AGENT_DAILY_PERFORMANCE])
    def update_agent_metrics(feedback: dict, followup_task_id: str | None) -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows.feedback import update_agent_metrics as update

        return update(FlowRuntime.current(), feedback, followup_task_id)

    @task(pool=SENDER_MAILBOX_POOL)
    def thank_customer(feedback: dict) -> str:
        from support_flows.core import notifications
        from support_flows.core.runtime import FlowRuntime

        rt = FlowRuntime.current()
        ticket = rt.api.get_ticket(feedback["ticket_id"])
        email = notifications.feedback_thanks_email(ticket, feedback["rating"])
        return "sent" if rt.mailer.send(f"feedback-{feedback['id']}:thanks", email) else "already_sent"

    @task
    def report(feedback: dict, followup_task_id: str | None, metrics: dict, notification: str) -> dict:
        return {
            "feedback_id": feedback["id"],
            "ticket_id": feedback["ticket_id"],
            "rating": feedback["rating"],
            "feedback_processing_status": "processed",
            "followup_task_id": followup_task_id,
            "agent_metrics": metrics,
            "customer_notification_status": notification,
        }

    feedback = save_feedback()
    follow_up = create_follow_up(feedback)
    report(feedback, follow_up, update_agent_metrics(feedback, follow_up), thank_customer(feedback))


support_feedback_received()
