"""
### A customer replies: the reply reaches a person

Started by the backend-events watcher (`support_backend_events`) for each `ticket.customer_replied`
event of the backend (a customer's e-mail to the ticket's thread). The e-mails promise that a reply
reaches a person; **hand_to_agent** keeps that promise for every state of the ticket:

- an AI answer: the ticket goes to the unassigned queue with a note saying why;
- resolved within `reopen_days` (7): reopened, to its agent if still available (assigned to them
  again, and told by e-mail with the customer's words), else to the queue; a note says which;
- resolved longer ago: a new ticket in the queue, linked to the old one by notes both ways;
- with an agent (`assigned`, `in_progress`): the agent is told by e-mail, with the customer's words;
- waiting in the queue: nothing to do (the reply is on the ticket as a customer note).

The AI answer's e-mail has two links besides: "I still need help" is a reply like any other; "this
solved my problem" (`answer_confirmed`) resolves the ticket as answered by AI at once and loads it
into `ticket_facts`.

An unknown ticket fails the run with a message naming it.

**Outputs**: `{"ticket_id", "status", "outcome"}`; `outcome` is `queued_for_agent`,
`reopened_to_agent`, `reopened_to_queue`, `new_ticket` (with `new_ticket_id`), `agent_told`,
`already_waiting`, `with_agent`, `resolved_as_confirmed` or `already_moved_on`.

**Rerun**: safe; each note and e-mail is made once per reply (idempotency keys).
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import event_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.flows.replies import CUSTOMER_REPLIED


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(CUSTOMER_REPLIED),
)
def support_customer_replied():
    @step(pool=SENDER_MAILBOX_POOL)  # it e-mails the agent (or acknowledges a new linked ticket)
    def hand_to_agent(params, rt=None) -> dict:
        from support_flows.flows import replies

        return replies.handle_reply(
            rt, params["ticket_id"], params.get("note_id"), confirmed=bool(params.get("answer_confirmed"))
        )

    return hand_to_agent()  # the run's result


support_customer_replied()
