"""Retention of Airflow's own records: run conf (a PowerApps ticket's name, address and message),
XComs, task-instance rows and the audit log older than ``metadata_retention_days`` are purged
with ``airflow db clean``, and task log files of the same age are deleted where they are local.

Airflow 3 keeps tasks away from the metadata database (a task process gets no usable
``sql_alchemy_conn``), so the clean-up reads the database's address from the Airflow connection
``airflow_metadata`` (from Key Vault in production), which only this DAG uses.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

METADATA_CONN_ID = "airflow_metadata"
# the tables that hold what a run was given and what it produced; `airflow db clean` keeps the
# newest run of every DAG (the scheduler needs it) and deletes the rest before the cut-off
TABLES = ("dag_run", "task_instance", "task_instance_history", "task_reschedule", "xcom", "log")


def metadata_url(conn_id: str = METADATA_CONN_ID) -> str:
    """The metadata database's SQLAlchemy URL, from the connection (psycopg2 for PostgreSQL, the
    driver Airflow itself uses here)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise AirflowFailException(
            f"the connection {conn_id} is missing: it holds the address of Airflow's metadata database for the "
            "retention clean-up (docs/operations.md, 'Retention')"
        ) from None
    hook = connection.get_hook()
    if connection.conn_type == "postgres":
        return hook.sqlalchemy_url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return hook.get_uri()


def clean_metadata(cut_off: datetime, url: str, *, dry_run: bool = False) -> str:
    """``airflow db clean`` of ``TABLES`` before ``cut_off`` (no archive tables: an archive would
    keep what retention removes); its output."""
    command = [
        sys.executable,
        "-m",
        "airflow",
        "db",
        "clean",
        "--clean-before-timestamp",
        cut_off.isoformat(),
        "--tables",
        ",".join(TABLES),
        "--skip-archive",
        "--error-on-cleanup-failure",
        "--yes",
    ]
    if dry_run:
        command.append("--dry-run")
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    env.pop("_AIRFLOW_PROCESS_CONTEXT", None)  # the CLI is a client of the database, not of the task API
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        from airflow.sdk.exceptions import AirflowException

        raise AirflowException(f"airflow db clean failed ({done.returncode}): {output[-2000:]}")
    return output


def delete_old_logs(folder: Path, cut_off: datetime) -> int:
    """Delete task log files last written before ``cut_off`` under ``folder`` (and the folders
    that leaves empty); how many files went. Remote logs (Azure Blob) expire by the container's
    lifecycle rule instead (docs/operations.md)."""
    if not folder.is_dir():
        return 0
    limit, deleted = cut_off.timestamp(), 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink()
            deleted += 1
        elif path.is_dir() and not any(path.iterdir()) and path.stat().st_mtime < time.time() - 60:
            path.rmdir()
    return deleted


def cut_off_for(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)
