"""
### Flow 2, scheduled: assignment by agent workload

Every 15 minutes (`SUPPORT_AUTO_ASSIGN_CRON`):

0. **resume_stranded_tickets**: tickets still `new` 30 minutes after they were last touched lost
   their Flow 1 run to an outage longer than its retries (the Support API or Graph after the
   ticket existed); each gets what Flow 1 would have given it (the AI's answer, or the queue and
   the acknowledgement), each e-mail once, so no outage leaves a ticket nobody will pick up.
1. **plan_assignments**: unassigned tickets, most urgent and oldest first, each to the available
   agent who suits it best (routing by skill, language and group: `support_flows.core.routing`;
   the topic's skill and the customer's language first), then with the most spare capacity below
   their cap (ties broken fairly); nobody is assigned past capacity.
2. **assign_ticket** (one per planned assignment): the same steps as `support_ticket_assigned`:
   assign through the API, e-mail the agent, set the follow-up reminder, record the assignment.
3. **report**: returns the outputs.

Beside them, **withdraw_answered_reminders**: the follow-up reminder is for an agent who has not
responded (the seed: "if no response within 24 hours"), so a reminder whose ticket its agent has
responded to (a note by the agent since the assignment, or `in_progress`) leaves the calendar, as
does one whose ticket left the agent (resolved, back in the queue). Pausing this DAG pauses that too.

**Outputs**: `{"assigned": [{"ticket_id", "agent_id", "agent_notification_status", "routing_match"}], "count"}`.

**Rerun**: safe; an assignment already made is not repeated, nor its e-mail or reminder.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step, task
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.authoring.schedules import cron
from support_flows.flows.assignment import AUTO_ASSIGN

DAG_ID = AUTO_ASSIGN.dag_id

ASSIGNED_BY = "auto-assign (workload)"


@dag(
    schedule=cron(AUTO_ASSIGN.schedule),
    doc_md=__doc__,
    **scheduled_dag_args(AUTO_ASSIGN),
)
def support_auto_assign():
    @step(pool=SENDER_MAILBOX_POOL)
    def resume_stranded_tickets(rt=None) -> list[int]:
        from airflow.sdk import get_current_context

        from support_flows.core import times
        from support_flows.flows import tickets
        from support_flows.operations import alerts

        no_ai: dict[int, str] = {}
        try:
            return tickets.resume_stranded(rt, times.now(), on_ai_unavailable=no_ai.__setitem__)
        finally:
            alerts.report_ai_unavailable(rt, DAG_ID, get_current_context()["dag_run"].run_id, no_ai)

    @step(trigger_rule="all_done")  # a ticket still stranded does not hold back the assignments
    def plan_assignments(rt=None) -> list[dict]:
        from support_flows.flows import assignment

        return assignment.plan_by_workload(rt)

    @step(pool=SENDER_MAILBOX_POOL, map_index_template="ticket {{ task.op_kwargs['planned']['ticket_id'] }}")
    def assign_ticket(planned: dict, rt=None) -> dict:
        from support_flows.flows import assignment

        made = assignment.assign(rt, planned["ticket_id"], planned["agent_id"], ASSIGNED_BY)
        notification = assignment.notify_agent(rt, made, ASSIGNED_BY)
        reminder = assignment.schedule_follow_up(rt, made)
        assignment.record_status(rt, made, ASSIGNED_BY)
        return {
            "ticket_id": made["ticket_id"],
            "agent_id": made["agent_id"],
            "agent_notification_status": notification,
            "reminder_event_id": reminder["event_id"],
            "routing_match": planned.get("routing_match"),
        }

    @task(trigger_rule="none_failed")
    def report(assigned: list[dict]) -> dict:
        made = list(assigned or [])
        return {"assigned": made, "count": len(made)}

    @step
    def withdraw_answered_reminders(rt=None) -> dict:
        from support_flows.flows import assignment

        return assignment.withdraw_answered_reminders(rt)

    withdraw_answered_reminders()
    planned = plan_assignments()
    resume_stranded_tickets() >> planned
    return report(assign_ticket.expand(planned=planned))  # the run's result


support_auto_assign()
