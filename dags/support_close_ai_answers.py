"""
### Flow 1, concluded: AI answers without a reply are resolved (hourly)

The AI's answer resolved the customer's question unless they reply (`support_customer_replied`).

1. **close_unanswered**: every ticket still `ai_responded` with no activity of the customer for
   `support_ai_answer_close_hours` (72) is resolved as answered by AI (`resolved_by: ai`, no agent)
   and loaded into `ticket_facts` (`agent_id` null, `ai_responded` true), streamed in batches.
2. **survey_ai_resolved**: every ticket resolved as answered by AI since the last run (closed here,
   or confirmed by the customer) gets the satisfaction survey, as agents' resolutions do
   (`support_survey_ai_answers`, default true), so the reports compare satisfaction with the AI's
   answers and with agents'. It runs even when the first step failed.

Schedule: `SUPPORT_AI_ANSWERS_CRON` (default 5 past every hour).

**Outputs**: `{"closed", "loaded", "cutoff"}`, then `{"surveys_sent", "surveys_sent_before", "since"}`.

**Rerun**: safe; a resolved ticket is not resolved again, the load is an upsert, and each survey
e-mail goes once (the ledger).
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
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

    @step(pool=SENDER_MAILBOX_POOL, trigger_rule=TriggerRule.ALL_DONE)  # it e-mails customers
    def survey_ai_resolved(rt=None) -> dict:
        from support_flows.core.runtime import run_moment
        from support_flows.flows import ai_answers

        return ai_answers.survey_ai_resolved(rt, run_moment())

    closed = close_unanswered()
    closed >> survey_ai_resolved()
    return closed


support_close_ai_answers()
