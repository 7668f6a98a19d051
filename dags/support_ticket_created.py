"""
### Flow 1: a new ticket

Triggered by PowerApps over the REST API (and by backend events for tickets from other channels).

One task, **answer_or_queue**, so that the customer's e-mail leaves one scheduling round after
the trigger (each extra task adds about a second; see docs/performance.md):

1. create the ticket through the Support API. The caller's `request_id` (or, without one, this
   run's id) makes it idempotent: a repeated trigger or a retried task yields the same ticket,
   never a second one;
2. ask the backend's AI for an immediate answer. If it has one above the confidence threshold
   (Variable `support_ai_confidence_threshold`), write it on the ticket and e-mail it to the
   customer; otherwise put the ticket in the unassigned queue and e-mail an acknowledgement (in
   that order: an e-mail outage does not keep the ticket from the agents). No automatic e-mail
   answers a ticket from our own mailbox or an automatic reply (mail-loop guard), nor a ticket
   whose address already had `customer_emails_per_hour` of these e-mails within the hour (the
   ticket is queued, the output's `no_reply_reason` and the error log say why), nor past the daily
   ceiling of customer e-mails of the runs its caller started (`customer_emails_per_caller_per_day`:
   the administrators are alerted, a key may have leaked).

**Outputs** (XCom `return_value` of `answer_or_queue`): `{"ticket_id": 17, "status": "ai_responded"}`
or `{"ticket_id": 18, "status": "queued"}`, plus `customer_notified`.

**Rerun**: clearing a task or the whole run is safe; no ticket and no e-mail is made twice.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import event_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.flows.tickets import TICKET_CREATED
from support_flows.operations import lateness

DAG_ID = TICKET_CREATED.dag_id


@dag(
    schedule=None,
    deadline=lateness.deadline("SUPPORT_TICKET_CREATED_DEADLINE_MINUTES", "queued"),
    doc_md=__doc__,
    **event_dag_args(TICKET_CREATED),
)
def support_ticket_created():
    @step(pool=SENDER_MAILBOX_POOL)
    def answer_or_queue(params, rt=None) -> dict:
        """Create the ticket (idempotent by request id), then the AI's answer to the customer, or the
        queue and an acknowledgement. Each step is safe to repeat, so a retry redoes only what is
        missing."""
        from support_flows.flows import tickets
        from support_flows.operations import alerts

        run = get_current_context()["dag_run"]
        ticket = tickets.create_ticket_from_request(rt, params, run.run_id)
        no_ai: dict[int, str] = {}
        outcome = tickets.answer_or_queue(
            rt,
            ticket,
            triggered_at=run.run_after,
            on_ai_unavailable=no_ai.__setitem__,
            caller=run.triggering_user_name,
        )
        alerts.report_ai_unavailable(rt, DAG_ID, run.run_id, no_ai)
        alerts.report_no_reply(rt, DAG_ID, run.run_id, outcome, run.triggering_user_name)
        return outcome

    return answer_or_queue()  # the run's result (what /wait and PowerApps read)


support_ticket_created()
