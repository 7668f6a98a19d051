"""
### Backend events: flows that start without PowerApps

Runs continuously, one short run after another. Each run waits in the triggerer (no worker slot)
until the Support API's event feed has something for the flows, then starts them:

- a ticket that arrived through another channel (web form, e-mail, phone, chat) starts
  `support_ticket_created` for that ticket (it finds the existing ticket by its request id);
- a customer's reply to a ticket starts `support_customer_replied` (an AI answer goes to an agent);
- an answer to the survey link starts `support_feedback_received`.

1. **wait_for_events**: wait from the durable cursor (kept in the reporting database).
2. **plan_flow_runs**: read the events in the window the wait saw (from the cursor to the last
   event it looked at); one flow run per relevant event.
3. **start_flow**: trigger each run, with a run id made from the event id and claimed in the
   ledger first, so an event read twice still makes exactly one run (a repeat is skipped). A run
   under that id that the watcher did not start is reported and the event gets a fresh id.
4. **save_cursor**: move the cursor past what was handled.

**Outputs**: the flow runs started (`plan_flow_runs`) and the new cursor (`save_cursor`).

**Rerun**: safe at any point; the cursor only moves forward and run ids make repeats harmless.
"""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.operations import lateness
from support_flows.operations.events import BACKEND_EVENTS, BackendEventSensor


@dag(
    schedule="@continuous",
    # each run waits at most event_max_wait_seconds (10 min): one still going well past that means
    # the watcher stopped (a triggerer down, a stuck task), and no flow starts from the feed
    deadline=lateness.deadline("SUPPORT_BACKEND_EVENTS_DEADLINE_MINUTES", "queued"),
    doc_md=__doc__,
    **scheduled_dag_args(BACKEND_EVENTS),
)
def support_backend_events():
    waited = BackendEventSensor(task_id="wait_for_events")

    @step
    def plan_flow_runs(signal: dict, ti=None, rt=None) -> list[dict]:
        """One flow run per relevant event in the window the sensor saw."""
        from support_flows.operations.events import flow_run_for, own_runs, read_events, report_lag

        def run_exists(dag_id: str, run_id: str) -> bool:
            return ti.get_dr_count(dag_id=dag_id, run_ids=[run_id]) > 0

        events = read_events(rt.api, signal["after"], signal["seen_up_to"])
        report_lag(rt, events, ti.dag_id, ti.run_id)
        planned = [(event, run) for event in events if (run := flow_run_for(event, rt.api))]
        return own_runs(planned, rt, run_exists, ti.dag_id, ti.run_id)

    runs = plan_flow_runs(waited.output)
    started = TriggerDagRunOperator.partial(task_id="start_flow", skip_when_already_exists=True).expand_kwargs(runs)

    @step(trigger_rule="none_failed")
    def save_cursor(signal: dict, rt=None) -> int:
        """Past the window the runs were started for."""
        from support_flows.operations.events import WATERMARK

        rt.store.set_watermark(WATERMARK, signal["seen_up_to"])
        return signal["seen_up_to"]

    started >> save_cursor(waited.output)


support_backend_events()
