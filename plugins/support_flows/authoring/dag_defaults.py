"""What every support DAG shares: owner, retries with exponential backoff, failure alerting."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import task as airflow_task

OWNER = "support-automation"
START_DATE = datetime(2026, 1, 1)

# Task retries sit on top of the clients' own 3 quick attempts: they cover outages that last
# minutes (30 s, 60 s, 120 s, capped at 10 min). See the retry table in the README. The first
# delay can be set from the environment (read at parse time, like the schedules).
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(seconds=float(os.environ.get("SUPPORT_TASK_RETRY_DELAY_SECONDS") or 30)),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
}


def task(python_callable=None, **kwargs):
    """Airflow's ``@task``, with one output per task: its return value. Airflow would also push
    each key of a returned dict as an XCom of its own when the function says ``-> dict`` (one
    round trip to the API server each, about 20 ms); nothing reads them, PowerApps reads
    ``return_value``."""
    kwargs.setdefault("multiple_outputs", False)
    return airflow_task(python_callable, **kwargs)


# What the PowerApps role may do on each event DAG: trigger it and read its runs and outputs
# (DAG-level access control, synced into Airflow's FAB roles as the DAGs are parsed; see
# support_flows.server.access for the rest of the role).
POWERAPPS_ROLE = "PowerApps"
EVENT_DAG_ACCESS = {POWERAPPS_ROLE: {"DAGs": {"can_read"}, "DAG Runs": {"can_read", "can_create"}}}


def tags(flow: int, kind: str) -> list[str]:
    """Tags by flow and by kind (event or scheduled), so the UI can filter either way."""
    return ["support", f"flow-{flow}", kind]


def event_dag_args(flow: int, params: dict) -> dict:
    """The ``@dag`` arguments every REST-triggered flow shares (besides ``schedule=None``, which
    each file states itself): unpaused on creation, so a trigger never waits silently, the
    shared defaults, its Params and tags, and the PowerApps role's access."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "is_paused_upon_creation": False,
        "default_args": DEFAULT_ARGS,
        "params": params,
        "tags": tags(flow, "event"),
        "access_control": EVENT_DAG_ACCESS,
    }
