"""
### Flow 1, concluded: AI answers without a reply are resolved (hourly)

The AI's answer resolved the customer's question unless they reply (`support_customer_replied`).

1. **close_unanswered**: every ticket still `ai_responded` with no activity of the customer for
   `support_ai_answer_close_hours` (72) is resolved as answered by AI (`resolved_by: ai`, no agent)
   and loaded into `ticket_facts` (`agent_id` null, `ai_responded` true), streamed in batches.

Schedule: `SUPPORT_AI_ANSWERS_CRON` (default 5 past every hour).

**Outputs**: `{"closed", "loaded", "cutoff"}`.

**Rerun**: safe; a resolved ticket is not resolved again, and the load is an upsert.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.schedules import cron
from support_flows.flows.ai_answers import CLOSE_AI_ANSWERS
from support_flows.storage.reporting_assets import TICKET_FACTS


@dag(
    schedule=cron(CLOSE_AI_ANSWERS.schedule),
    doc_md=__doc__,
    **scheduled_dag_args(CLOSE_AI_ANSWERS),
)
def support_close_ai_answers():
    @step(outlets=[TICKET_FACTS])
    def close_unanswered(rt=None) -> dict:
        from support_flows.core.runtime import run_moment
        from support_flows.flows import ai_answers

        # the run's own moment, so a rerun of a past run closes what that run would have closed
        return ai_answers.close_unanswered(rt, run_moment())

    return close_unanswered()  # the run's result


support_close_ai_answers()
