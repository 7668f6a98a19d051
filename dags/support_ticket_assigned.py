"""
### Flow 2: an admin assigns a ticket

Triggered by PowerApps over the REST API when an admin assigns a ticket to an agent.

1. **assign_ticket**: assign through the Support API. An unknown ticket or agent fails the run
   with a message saying which. The choice is checked against routing (skill, language, group:
   `support_flows.core.routing`): the admin decides, but a note on the ticket names an available
   agent with room who suits it better; `routing_match` says how well the choice suits it.
2. **notify_agent**: e-mail the agent a summary of the ticket with a link to it.
3. **schedule_follow_up**: a reminder in the agent's calendar 24 hours after the assignment
   (Variable `support_followup_reminder_hours`), idempotent through Graph's `transactionId`.
4. **update_status**: record the assignment on the ticket and return the outputs.

The same steps serve `support_auto_assign` (assignment by workload), from `support_flows.flows.assignment`.

**Outputs**: `{"ticket_id", "agent_id", "assignment_status", "agent_notification_status",
"reminder_event_id", "reminder_at", "routing_match"}`.

**Rerun**: safe; the agent gets one e-mail and one calendar event per assignment.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import event_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.flows.assignment import TICKET_ASSIGNED


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(TICKET_ASSIGNED),
)
def support_ticket_assigned():
    @step
    def assign_ticket(params, rt=None) -> dict:
        from support_flows.flows import assignment

        checked = assignment.check_choice(rt, params["ticket_id"], params["agent_id"])
        return {**assignment.assign(rt, params["ticket_id"], params["agent_id"], params["assigned_by"]), **checked}

    @step(pool=SENDER_MAILBOX_POOL)
    def notify_agent(assigned: dict, params, rt=None) -> str:
        from support_flows.flows import assignment

        return assignment.notify_agent(rt, assigned, params["assigned_by"])

    @step
    def schedule_follow_up(assigned: dict, rt=None) -> dict:
        from support_flows.flows import assignment

        return assignment.schedule_follow_up(rt, assigned)

    @step
    def update_status(assigned: dict, notification: str, reminder: dict, params, rt=None) -> dict:
        from support_flows.flows import assignment

        assignment.record_status(rt, assigned, params["assigned_by"])
        return {
            "ticket_id": assigned["ticket_id"],
            "agent_id": assigned["agent_id"],
            "assignment_status": assigned["assignment_status"],
            "agent_notification_status": notification,
            "reminder_event_id": reminder["event_id"],
            "reminder_at": reminder["start"],
            "routing_match": assigned["routing_match"],
        }

    assigned = assign_ticket()
    return update_status(assigned, notify_agent(assigned), schedule_follow_up(assigned))  # the run's result


support_ticket_assigned()
