"""
### Flow 5: daily summary for the admins

At the end of the support day (`SUPPORT_DAILY_SUMMARY_CRON`, default 18:30 in the support
centre's time zone):

1. **collect_statistics**: the day's statistics and the last 14 days from the Support API.
2. **format_report**: a readable HTML report (headline figures, tables, and a chart of created,
   resolved and backlog as an inline PNG that Outlook shows) and a CSV.
3. **email_admins**: the report to `support_admin_recipients`.
4. **archive_in_sharepoint**: HTML and CSV under `Reports/YYYY/MM/` in the configured site.
5. **record_summary**: the `daily_summary` row; returns the outputs.

Every report says which part of the day it covers: at 18:30 "00:00 to 18:30, so far" (in the
subject, the e-mail, the archive and the CSV; `daily_summary.covers_until`). The day is completed
after it is over by the nightly analytics load (`support_analytics_load`, step `close_the_day`):
the row counts the whole day, and the archived report is replaced by the whole day's.

**Rerun** a past day with `report_date` (YYYY-MM-DD) in the trigger form, or clear/backfill a
run: the report is reproduced exactly, nothing is sent or uploaded twice, no row changes.

**Outputs**: `{"report_date", "email_status", "archived": {path: status}, "summary_row_written"}`.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.authoring.schedules import cron
from support_flows.flows.daily_summary import DAILY_SUMMARY
from support_flows.operations import lateness
from support_flows.storage.reporting_assets import DAILY_SUMMARY as DAILY_SUMMARY_TABLE


@dag(
    schedule=cron(DAILY_SUMMARY.schedule),
    deadline=lateness.deadline("SUPPORT_DAILY_SUMMARY_DEADLINE_MINUTES", "queued"),
    doc_md=__doc__,
    **scheduled_dag_args(DAILY_SUMMARY),
)
def support_daily_summary():
    @step
    def collect_statistics(params, rt=None) -> dict:
        from support_flows.core.runtime import run_day
        from support_flows.flows import daily_summary

        return daily_summary.collect(rt, run_day(rt.settings.timezone, params.get("report_date")))

    @step
    def format_report(data: dict, rt=None) -> dict:
        from support_flows.flows import daily_summary

        return daily_summary.render(rt, data)

    @step(pool=SENDER_MAILBOX_POOL)
    def email_admins(report: dict, rt=None) -> str:
        from support_flows.flows import daily_summary

        return daily_summary.email_admins(rt, report)

    @step
    def archive_in_sharepoint(report: dict, rt=None) -> dict:
        from support_flows.flows import daily_summary

        return daily_summary.archive(rt, report)

    @step(outlets=[DAILY_SUMMARY_TABLE])
    def record_summary(data: dict, report: dict, email_status: str, archived: dict, rt=None) -> dict:
        from support_flows.flows import daily_summary

        written = rt.store.upsert("daily_summary", [daily_summary.summary_row(rt, data, report)])
        return {
            "report_date": data["day"],
            "email_status": email_status,
            "archived": archived,
            "summary_row_written": bool(written),
        }

    data = collect_statistics()
    report = format_report(data)
    record_summary(data, report, email_admins(report), archive_in_sharepoint(report))


support_daily_summary()
