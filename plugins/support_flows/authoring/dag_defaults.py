"""What every support DAG shares: owner, retries with exponential backoff, failure alerting."""

from __future__ import annotations

import functools
import os
from datetime import datetime, timedelta

from airflow.sdk import task as airflow_task

from support_flows.core.contract import FlowContract

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
    round trip to the API server each); nothing reads them, PowerApps reads ``return_value``."""
    kwargs.setdefault("multiple_outputs", False)
    return airflow_task(python_callable, **kwargs)


def step(python_callable=None, **kwargs):
    """A flow's step as a task: ``task`` above, given ``rt``, the task's ``FlowRuntime`` (settings,
    clients, store, mailer), as the keyword argument ``rt``. Upstream results come first, as in any
    task; ``params`` and other context values come by name, as Airflow gives them to any task::

        @step(pool=SENDER_MAILBOX_POOL)
        def notify_agent(assigned: dict, params, rt=None) -> str:
            return assignment.notify_agent(rt, assigned, params["assigned_by"])

    The first steps of a run (no step upstream) check its conf for fields the DAG does not know
    (once per run, not in every task), and get the customer's words the API server kept out of the
    conf (``support_flows.server.personal``) in their ``params``. The runtime's clients are closed
    when the function returns or fails.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kw):
            from airflow.sdk import get_current_context

            from support_flows.core.runtime import FlowRuntime

            ctx = get_current_context()
            rt = FlowRuntime.current()
            try:
                if _first_step(ctx["ti"].task):
                    kept = _kept_fields(rt, ctx)
                    if kept and "params" in kw:
                        kw["params"] = {**kw["params"], **kept}
                    _catalog().check_conf(ctx["ti"].dag_id, {**(ctx["dag_run"].conf or {}), **kept})
                return fn(*args, rt=rt, **kw)
            finally:
                rt.close()

        run.is_flow_step = True
        return task(run, **kwargs)

    return decorate(python_callable) if python_callable else decorate


def _catalog():
    """At run time only: the catalog imports every flow module, a DAG file needs its own contract alone."""
    from support_flows.authoring import catalog

    return catalog


def _kept_fields(rt, ctx) -> dict:
    """The run's personal fields, kept out of Airflow's metadata by the API server, when its conf has
    none of them itself (``dag.test()`` and the CLI pass them in the conf); {} when there are none."""
    dag_id, conf = ctx["ti"].dag_id, ctx["dag_run"].conf or {}
    names = _catalog().personal_fields(dag_id)
    if not names or any(conf.get(name) is not None for name in names):
        return {}
    from support_flows.storage import intake

    return intake.read(rt.store.engine, dag_id, ctx["dag_run"].run_id) or {}


def _first_step(operator) -> bool:
    """No step upstream of this one: it is where the run's conf is checked."""
    return not any(
        getattr(getattr(up, "python_callable", None), "is_flow_step", False) for up in operator.upstream_list
    )


# What the PowerApps role may do on each event DAG: start a run, nothing else (no read of the DAG,
# its runs, XComs or logs: the outcome of its own runs comes from the one-call API). DAG-level
# access control, synced into Airflow's FAB roles as the DAGs are parsed, which also revokes what an
# older version granted; see support_flows.server.access for the rest of the role.
POWERAPPS_ROLE = "PowerApps"
EVENT_DAG_ACCESS = {POWERAPPS_ROLE: {"DAG Runs": {"can_create"}}}


def event_dag_args(contract: FlowContract) -> dict:
    """The ``@dag`` arguments of a DAG that an event starts (a REST trigger or the event watcher),
    besides ``schedule=None``, which each file states itself: unpaused on creation, so a trigger
    never waits silently, the shared defaults, and its Params, tags and PowerApps access from its
    contract."""
    args = {
        "dag_id": contract.dag_id,
        "start_date": START_DATE,
        "catchup": False,
        "is_paused_upon_creation": False,
        "default_args": DEFAULT_ARGS,
        "params": contract.fresh_params(),
        "tags": contract.tags,
    }
    if contract.powerapps:
        args["access_control"] = EVENT_DAG_ACCESS
    return args


def scheduled_dag_args(contract: FlowContract) -> dict:
    """The ``@dag`` arguments of a scheduled (or continuous) DAG, besides its ``schedule`` (each file
    states it: ``cron(contract.schedule)``): one run at a time, no catch-up (the flows catch up
    themselves, from watermarks), unpaused on creation, the shared defaults, and its Params and tags
    from its contract."""
    return {
        "dag_id": contract.dag_id,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "is_paused_upon_creation": False,
        "default_args": DEFAULT_ARGS,
        "params": contract.fresh_params(),
        "tags": contract.tags,
    }
