"""
### The central error log's own round, and the housekeeping (every 10 minutes)

Every task failure of every DAG lands in `flow_errors` (the package's listener) and a failure for
good alerts the system administrators at once. This DAG does what no failure triggers:

1. **send_pending_alerts**: alerts that Microsoft Graph could not take when they happened
   (`alert_status = pending`) go out in one e-mail as soon as Graph answers again, within about
   15 minutes of its recovery, without waiting for the next failure.
2. **publish_new_errors**: when new rows reached `flow_errors` since the last round, an event of the
   `support_reporting.flow_errors` Asset, so DAGs that watch the error log can be scheduled on it;
   skipped (no event) when there is nothing new.
3. **warn_of_mail_budget**: a sender mailbox that has used `mail_budget_warning_percent` (80 %) of
   Exchange Online's 10,000 recipients a day warns the system administrators, once a day per mailbox
   (support_flows.core.mailer: internal mail waits first, then customers' mail too).
4. **purge_kept_requests**: the personal fields the API server kept for runs' first steps, out of
   Airflow's metadata (`support_internal.intake`), once older than `intake_retention_hours` (24).

Schedule: `SUPPORT_ERROR_LOG_CRON` (default every 10 minutes).

**Outputs**: how many pending alerts went out; how many new errors were published; the mailboxes
warned; how many runs' kept fields were deleted.

**Rerun**: safe; a pending alert is sent once, and the published position only moves forward.
"""

from __future__ import annotations

from airflow.sdk import dag

from support_flows.authoring.dag_defaults import scheduled_dag_args, step
from support_flows.authoring.pools import SENDER_MAILBOX_POOL
from support_flows.authoring.schedules import cron
from support_flows.operations.alerts import ERROR_LOG
from support_flows.storage.reporting_assets import FLOW_ERRORS


@dag(
    schedule=cron(ERROR_LOG.schedule),
    doc_md=__doc__,
    **scheduled_dag_args(ERROR_LOG),
)
def support_error_log():
    @step(pool=SENDER_MAILBOX_POOL)
    def send_pending_alerts(rt=None) -> int:
        from support_flows.operations import alerts

        return alerts.send_pending(rt.store, rt.graph, rt.settings)

    @step(outlets=[FLOW_ERRORS])
    def publish_new_errors(rt=None) -> int:
        from airflow.sdk.exceptions import AirflowSkipException

        from support_flows.operations import alerts

        published = alerts.publish_new_errors(rt.store)
        if not published:
            raise AirflowSkipException("no new rows in flow_errors since the last round: no Asset event")
        return published

    @step(pool=SENDER_MAILBOX_POOL)
    def warn_of_mail_budget(ti=None, rt=None) -> list[str]:
        from support_flows.operations import alerts

        return alerts.warn_of_mail_budget(rt, ti.dag_id, ti.run_id)

    @step
    def purge_kept_requests(rt=None) -> int:
        """Runs' personal fields past intake_retention_hours (support_flows.storage.intake)."""
        from datetime import timedelta

        from support_flows.core import times
        from support_flows.storage import intake

        return intake.purge(rt.store.engine, times.now() - timedelta(hours=rt.settings.intake_retention_hours))

    send_pending_alerts() >> publish_new_errors()
    warn_of_mail_budget()
    purge_kept_requests()  # beside the error log's own two


support_error_log()
