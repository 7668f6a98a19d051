"""The reporting tables as Airflow Assets (docs/data-dictionary.md): a task that loads a table names it
in ``outlets``, so analytics DAGs can be scheduled on it (``schedule=[TICKET_FACTS]``).

Kept apart from ``reporting`` so that DAG files can import them without loading SQLAlchemy.
"""

from __future__ import annotations

from airflow.sdk import Asset

# "x-" marks a scheme of our own: Airflow leaves it as is instead of loading every provider's URI
# normalizers to look for one (parse time in each DAG file that names an Asset).
URI_SCHEME = "x-support-reporting"


def reporting_asset(table: str) -> Asset:
    return Asset(
        name=f"support_reporting.{table}",
        uri=f"{URI_SCHEME}://support_reporting/{table}",
        group="support_reporting",
        extra={"connection": "support_reporting", "table": table},
    )


TICKET_FACTS = reporting_asset("ticket_facts")
FEEDBACK_FACTS = reporting_asset("feedback_facts")
AGENT_DAILY_PERFORMANCE = reporting_asset("agent_daily_performance")
DAILY_SUMMARY = reporting_asset("daily_summary")
ESCALATIONS = reporting_asset("escalations")
FLOW_ERRORS = reporting_asset("flow_errors")
FLOW_RUNS = reporting_asset("flow_runs")
AGENTS = reporting_asset("agents")
CALENDAR = reporting_asset("calendar")
ALL = (
    TICKET_FACTS,
    FEEDBACK_FACTS,
    AGENT_DAILY_PERFORMANCE,
    DAILY_SUMMARY,
    ESCALATIONS,
    FLOW_ERRORS,
    FLOW_RUNS,
    AGENTS,
    CALENDAR,
)
