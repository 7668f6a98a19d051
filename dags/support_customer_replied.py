"""
### Flow 1, continued: the customer replies to the AI's answer

Started by the backend-events watcher (`support_backend_events`) for each `ticket.customer_replied`
event of the backend: the AI's e-mail promised that a reply reaches a person.

1. **hand_to_agent**: an AI-answered ticket goes to the unassigned queue (status `queued`) with a
   system note saying why, where auto-assignment and the admins pick it up. A ticket already
   waiting for or with an agent, or resolved, is left as it is (the reply is on it as a customer
   note). An unknown ticket fails the run with a message naming it.

**Outputs**: `{"ticket_id", "status", "outcome"}` (`queued_for_agent`, `already_waiting`,
`with_agent` or `already_resolved`).

**Rerun**: safe; one note (idempotency key), and a queued ticket stays queued.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import event_dag_args, step
from support_flows.core import catalog

DAG_ID = catalog.CUSTOMER_REPLIED


@dag(
    schedule=None,
    doc_md=__doc__,
    **event_dag_args(DAG_ID),
)
def support_customer_replied():
    @step
    def hand_to_agent(params, rt=None) -> dict:
        from support_flows.flows import ai_answers

        return ai_answers.hand_to_agent(rt, params["ticket_id"])

    return hand_to_agent()  # the run's result


support_customer_replied()
