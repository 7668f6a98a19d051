"""The Airflow listener that sees every task failure of every DAG (registered by the plugin) and
hands it to ``support_flows.operations.alerts``: one place, so no DAG can forget its error handling. A
failure caused by the caller's input keeps its reason for the run's note instead of paging anyone
(``support_flows.server.failure_reasons``). It also records each DAG run's end (flow health) and, as the
scheduler starts, preloads the task modules for the LocalExecutor's workers
(``support_flows.server.preload``)."""

from __future__ import annotations

import logging
import sys

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)
RETRY_STATES = {"up_for_retry", "up_for_reschedule"}


@hookimpl
def on_starting(component):
    """The scheduler is starting (this runs before it starts its executor): with the LocalExecutor,
    whose workers fork from the scheduler, preload the task modules so every task starts with them."""
    # Which job is starting can only be told from the command: Airflow calls this from Job.__init__,
    # before the job runner sets the job's job_type (so checking job_type would never preload).
    if sys.argv[1:2] != ["scheduler"]:
        return
    from airflow.configuration import conf
    from airflow.jobs.job import Job

    # Task processes forked from the scheduler keep its argv and call this too, with a marker of
    # their own: only the scheduler's job itself preloads.
    if not isinstance(component, Job):
        return

    if conf.get("core", "executor").split(",")[0].strip() in (
        "LocalExecutor",
        "airflow.executors.local_executor.LocalExecutor",
    ):
        from support_flows.server import preload

        preload.task_modules()
        log.info("support_flows: task modules preloaded for the LocalExecutor's workers")


@hookimpl
def on_task_instance_failed(previous_state, task_instance, error):
    try:
        from support_flows.core import times
        from support_flows.core.settings import airflow_ui_url, load_settings
        from support_flows.operations import alerts
        from support_flows.server import failure_reasons

        settings = load_settings()
        state = str(getattr(task_instance, "state", "") or "").lower().rsplit(".", 1)[-1]
        map_index = getattr(task_instance, "map_index", -1)
        map_index = -1 if map_index is None else map_index
        try_number = int(getattr(task_instance, "try_number", 1) or 1)
        kind, message = alerts.describe(error)
        failure = alerts.Failure(
            dag_id=task_instance.dag_id,
            run_id=task_instance.run_id,
            task_id=task_instance.task_id,
            map_index=map_index,
            try_number=try_number,
            occurred_at=times.now(),
            error_type=kind,
            message=message,
            is_final=state not in RETRY_STATES,
            log_url=alerts.log_url(
                airflow_ui_url(),
                task_instance.dag_id,
                task_instance.run_id,
                task_instance.task_id,
                map_index,
                try_number,
            ),
        )
        reason = failure_reasons.input_reason(error)
        if reason is not None:
            task_instance.xcom_push(failure_reasons.XCOM_KEY, reason)
        alerts.handle_failure(failure, settings, page=reason is None)
    except Exception:  # noqa: BLE001 - a listener must never break the task runner
        log.exception("support_flows listener could not handle a task failure")


def run_origin(run_id: str, run_type: str | None, triggered_by: str | None) -> str:
    """Where a run came from, in the words of ``flow_runs.origin``: ``watcher`` (a backend event),
    ``rest_api`` (PowerApps and other callers: ``triggering_user`` says who), ``ui``, ``schedule``,
    ``asset``, ``backfill``, ``cli``, ``operator``, ``test``."""
    if run_id.startswith("backend_event__"):
        return "watcher"
    if run_id.startswith("flow_call__"):
        return "rest_api"  # the one-call API's idempotent runs
    kind = (triggered_by or "").rsplit(".", 1)[-1].lower()
    if kind == "timetable" or (not kind and run_type == "scheduled"):
        return "schedule"
    return kind or run_type or "unknown"


def _record_run(dag_run) -> None:
    try:
        from support_flows.storage.reporting import ReportingStore

        start, end = getattr(dag_run, "start_date", None), getattr(dag_run, "end_date", None)
        run_type = str(getattr(dag_run, "run_type", "") or "").rsplit(".", 1)[-1].lower() or None
        store = ReportingStore()
        store.upsert(
            "flow_runs",
            [
                {
                    "dag_id": dag_run.dag_id,
                    "run_id": dag_run.run_id,
                    "run_type": run_type,
                    "origin": run_origin(dag_run.run_id, run_type, str(getattr(dag_run, "triggered_by", "") or "")),
                    "triggering_user": getattr(dag_run, "triggering_user_name", None),
                    "state": str(dag_run.state).rsplit(".", 1)[-1].lower(),
                    "started_at": start,
                    "ended_at": end,
                    "duration_seconds": (end - start).total_seconds() if start and end else None,
                }
            ],
        )
        store.engine.dispose()  # the scheduler lives long: no pool left behind per finished run
    except Exception:  # noqa: BLE001 - a listener must never break the scheduler
        log.exception("support_flows listener could not record a finished run")


@hookimpl
def on_dag_run_success(dag_run, msg):
    """Runs as they end, for the flow-health section of the daily summary."""
    _record_run(dag_run)


def _explain_failure(dag_run) -> None:
    """Runs in the scheduler as the run ends failed: a reason kept by a failed task (see
    on_task_instance_failed) becomes the run's note, which the REST API returns with the run."""
    try:
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is not None:
            # the scheduler's own session: it holds the run's row lock, so write through it
            _write_reason_note(session, dag_run)
            return
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as session:  # dag.test() hands over a detached run
            _write_reason_note(session, session.get(DagRun, dag_run.id))
    except Exception:  # noqa: BLE001 - a listener must never break the scheduler
        log.exception("support_flows listener could not explain a failed run")


def _write_reason_note(session, dag_run) -> None:
    from airflow.models.xcom import XComModel

    from support_flows.server import failure_reasons

    row = session.scalars(
        XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key=failure_reasons.XCOM_KEY)
    ).first()
    if row is not None:
        dag_run.note = failure_reasons.note(XComModel.deserialize_value(row))


@hookimpl
def on_dag_run_failed(dag_run, msg):
    _explain_failure(dag_run)
    _record_run(dag_run)
