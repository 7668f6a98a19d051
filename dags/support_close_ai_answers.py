"""
### Flow 1, concluded: AI answers without a reply are resolved (hourly)

The AI's answer resolved the customer's question unless they reply (`support_customer_replied`).

1. **close_unanswered**: every ticket still `ai_responded` with no activity of the customer for
   `support_ai_answer_close_hours` (72) is resolved as answered by AI (`resolved_by: ai`, no agent)
   and loaded into `ticket_facts` (`agent_id` null, `ai_responded` true), in batches of 500.

Schedule: `SUPPORT_AI_ANSWERS_CRON` (default 5 past every hour).

**Outputs**: `{"closed", "loaded", "cutoff"}`.

**Rerun**: safe; a resolved ticket is not resolved again, and the load is an upsert.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context

from support_flows.authoring.dag_defaults import DEFAULT_ARGS, START_DATE, tags, task
from support_flows.authoring.schedules import cron
from support_flows.storage.reporting_assets import TICKET_FACTS


@dag(
    dag_id="support_close_ai_answers",
    schedule=cron("SUPPORT_AI_ANSWERS_CRON"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args=DEFAULT_ARGS,
    tags=tags(1, "scheduled"),
    doc_md=__doc__,
)
def support_close_ai_answers():
    @task(outlets=[TICKET_FACTS])
    def close_unanswered() -> dict:
        from support_flows.core.runtime import FlowRuntime
        from support_flows.flows import ai_answers

        ctx = get_current_context()
        # the run's own moment, so a rerun of a past run closes what that run would have closed
        moment = ctx.get("data_interval_end") or ctx["dag_run"].run_after
        return ai_answers.close_unanswered(FlowRuntime.current(), moment)

    close_unanswered()


support_close_ai_answers()
