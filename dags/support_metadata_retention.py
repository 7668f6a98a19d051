"""
### Retention of Airflow's own records (nightly)

A PowerApps trigger's conf holds the customer's name, address and message, and Airflow keeps every
run, its XComs, its audit-log entry and its task logs until someone removes them. This DAG removes
them once they are older than `metadata_retention_days` (default 30):

1. **clean_metadata**: `airflow db clean` of runs, task instances (and their rendered fields),
   XComs, reschedules and the audit log before the cut-off, without archive tables. Airflow keeps
   the newest run of each DAG. The metadata database's address comes from the connection
   `airflow_metadata` (Airflow 3 gives tasks no database access of their own).
2. **delete_old_task_logs**: task log files under `[logging] base_log_folder` last written before
   the cut-off (remote logs expire by the storage's lifecycle rule: docs/operations.md).

Schedule: `SUPPORT_RETENTION_CRON` (default 02:45 every night).

**Outputs**: the cut-off, and how many log files went.

**Rerun**: safe; what is gone stays gone and nothing newer than the cut-off is touched.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.schedules import cron
from support_flows.core import catalog

DAG_ID = catalog.METADATA_RETENTION


@dag(schedule=cron("SUPPORT_RETENTION_CRON"), doc_md=__doc__, **scheduled_dag_args(DAG_ID))
def support_metadata_retention():
    @step
    def clean_metadata(rt=None) -> str:
        """Runs, XComs and the audit log before the cut-off, through ``airflow db clean``."""
        from support_flows.core import times
        from support_flows.operations import maintenance

        cut_off = maintenance.cut_off_for(rt.settings.metadata_retention_days, times.now())
        print(maintenance.clean_metadata(cut_off, maintenance.metadata_url()))
        return cut_off.isoformat()

    @step
    def delete_old_task_logs(cut_off: str, rt=None) -> int:
        """Local task log files last written before the cut-off."""
        from datetime import datetime
        from pathlib import Path

        from airflow.configuration import conf

        from support_flows.operations import maintenance

        folder = Path(conf.get("logging", "base_log_folder"))
        return maintenance.delete_old_logs(folder, datetime.fromisoformat(cut_off))

    delete_old_task_logs(clean_metadata())


support_metadata_retention()
