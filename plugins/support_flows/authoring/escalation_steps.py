"""Flow 4's steps as tasks, for the two DAGs that run them: ``support_escalate_stale_tickets``
(daily, the contract's Flow 4) and ``support_sla_watch`` (every 15 minutes, so a warning or a
breach of a short SLA, such as urgent's 2 and 4 hours, is noticed within 15 minutes of falling due).
One flow, two schedules: a level is recorded once per clock start, whichever run finds it first,
so neither repeats the other's e-mails or notes."""

from __future__ import annotations

from airflow.sdk import get_current_context

from support_flows.authoring.dag_defaults import step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.storage.reporting_assets import ESCALATIONS


def _run_id() -> str:
    return get_current_context()["dag_run"].run_id


def escalation_steps():
    """find_stale_tickets >> (remind_agents, tell_supervisors) >> record_escalations, in the DAG
    being defined; returns the last task (the run's outputs)."""

    @step
    def find_stale_tickets(rt=None) -> dict:
        """How many tickets reach each level (the tickets themselves go to the reporting database)."""
        from support_flows.core.runtime import run_moment
        from support_flows.flows import escalation

        return escalation.find_stale_tickets(rt, run_moment(), _run_id())

    @step(pool=SENDER_MAILBOX_POOL)
    def remind_agents(found: dict, rt=None) -> dict:
        from support_flows.flows import escalation

        return escalation.remind_agents(rt, _run_id()) if found["reminder"] else {}

    @step(pool=SENDER_MAILBOX_POOL)
    def tell_supervisors(found: dict, rt=None) -> dict:
        from support_flows.flows import escalation

        return escalation.tell_supervisors(rt, _run_id()) if found["supervisor"] else {}

    @step(outlets=[ESCALATIONS])
    def record_escalations(agent_notifications: dict, supervisor_notifications: dict, rt=None) -> dict:
        from support_flows.core.runtime import run_moment
        from support_flows.flows import escalation

        return {
            "escalated": escalation.record(rt, _run_id(), run_moment()),
            "agent_notifications": agent_notifications,
            "supervisor_notifications": supervisor_notifications,
        }

    found = find_stale_tickets()
    return record_escalations(remind_agents(found), tell_supervisors(found))
