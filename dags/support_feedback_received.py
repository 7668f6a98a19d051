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

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import event_dag_args, step, task
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.flows.feedback import FEEDBACK_RECEIVED
from support_flows.storage.reporting_assets import AGENT_DAILY_PERFORMANCE, FEEDBACK_FACTS


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(FEEDBACK_RECEIVED),
)
def support_feedback_received():
    @step
    def save_feedback(params, rt=None) -> dict:
        from support_flows.flows import feedback

        return feedback.save(rt, params["ticket_id"], params["rating"], params.get("comment"))

    @step
    def create_follow_up(saved: dict, rt=None) -> str | None:
        from support_flows.flows import feedback

        return feedback.create_follow_up(rt, saved)

    @step(outlets=[FEEDBACK_FACTS, AGENT_DAILY_PERFORMANCE])
    def update_agent_metrics(saved: dict, followup_task_id: str | None, rt=None) -> dict:
        from support_flows.flows import feedback

        return feedback.update_agent_metrics(rt, saved, followup_task_id)

    @step(pool=SENDER_MAILBOX_POOL)
    def thank_customer(saved: dict, rt=None) -> str:
        from support_flows.flows import feedback

        return feedback.thank_customer(rt, saved)

    @task
    def report(saved: dict, followup_task_id: str | None, metrics: dict, notification: str) -> dict:
        from support_flows.flows import feedback

        return feedback.outputs(saved, followup_task_id, metrics, notification)

    saved = save_feedback()
    follow_up = create_follow_up(saved)
    return report(saved, follow_up, update_agent_metrics(saved, follow_up), thank_customer(saved))  # the run's result


support_feedback_received()
