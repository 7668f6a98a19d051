"""Retention of Airflow's own records: run conf (a PowerApps ticket's name, address and message),
XComs, task-instance rows, the audit log and the Celery results older than
``metadata_retention_days`` are purged with ``airflow db clean``, and task log files of the same age
are deleted where they are local.

A deploy job, not a task: it needs the metadata database's owner, and a task that had its address
would hand it to every task (they share their containers). It runs with the deploy steps'
environment: compose's ``airflow-retention`` service (every night), the Helm chart's clean-up
CronJob, the dev stack's ``retention`` component.

    python -m support_flows.operations.maintenance clean [--days 30] [--dry-run] [--every-day-at 02:45]
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

# the tables that hold what a run was given and what it produced, and the Celery results; `airflow
# db clean` keeps the newest run of every DAG (the scheduler needs it) and deletes the rest before
# the cut-off (a table a deployment has not got, like Celery's on the LocalExecutor, is skipped)
TABLES = (
    "dag_run",
    "task_instance",
    "task_instance_history",
    "task_reschedule",
    "xcom",
    "log",
    "celery_taskmeta",
    "celery_tasksetmeta",
)


def clean_metadata(cut_off: datetime, url: str | None = None, *, dry_run: bool = False) -> str:
    """``airflow db clean`` of ``TABLES`` before ``cut_off`` (no archive tables: an archive would
    keep what retention removes), on ``url`` (default: this process's own metadata database, the
    job's); its output."""
    from airflow.configuration import conf

    url = url or conf.get("database", "sql_alchemy_conn")
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
        raise RetentionError(f"airflow db clean failed ({done.returncode}): {output[-2000:]}")
    return output


class RetentionError(Exception):
    pass


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


def clean(days: int | None = None, *, now: datetime | None = None, dry_run: bool = False) -> dict:
    """One clean-up: the metadata tables and the local task logs older than ``days`` (default: the
    setting ``metadata_retention_days``); what it did."""
    from airflow.configuration import conf

    from support_flows.core import times
    from support_flows.core.settings import LazySettings

    days = days if days is not None else LazySettings().metadata_retention_days
    cut_off = cut_off_for(days, now or times.now())
    output = clean_metadata(cut_off, dry_run=dry_run)
    logs = 0 if dry_run else delete_old_logs(Path(conf.get("logging", "base_log_folder")), cut_off)
    return {"cut_off": cut_off.isoformat(), "days": days, "log_files_deleted": logs, "db_clean": output[-4000:]}


def seconds_until(at: str, now: datetime) -> float:
    """Seconds from ``now`` to the next ``HH:MM`` (UTC)."""
    hour, minute = (int(part) for part in at.split(":"))
    next_run = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if next_run <= now:
        next_run += timedelta(days=1)
    return (next_run - now).total_seconds()


def main(argv: list[str]) -> int:
    import argparse
    import json

    from support_flows.core import times

    parser = argparse.ArgumentParser(
        prog="python -m support_flows.operations.maintenance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cleaning = commands.add_parser("clean", help="purge runs, XComs, the audit log, Celery results and task logs")
    cleaning.add_argument("--days", type=int, help="keep this many days (default: metadata_retention_days)")
    cleaning.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    cleaning.add_argument(
        "--every-day-at", metavar="HH:MM", help="stay running and clean every day at this time (UTC): compose's service"
    )
    cleaning.add_argument(
        "--status-file", type=Path, help="touched at start and after each clean-up that worked (a health check's)"
    )
    args = parser.parse_args(argv)
    if args.status_file:
        args.status_file.write_text("started\n")
    while True:
        if args.every_day_at:
            wait = seconds_until(args.every_day_at, times.now())
            print(f"retention: next clean-up in {wait / 3600:.1f} h", flush=True)
            time.sleep(wait)
        try:
            report = clean(args.days, dry_run=args.dry_run)
        except RetentionError as err:
            print(f"retention: {err}", file=sys.stderr, flush=True)
            if not args.every_day_at:
                return 1
        else:
            summary = json.dumps({k: v for k, v in report.items() if k != "db_clean"})
            print(summary, flush=True)
            if args.status_file:
                args.status_file.write_text(summary + "\n")
        if not args.every_day_at:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
