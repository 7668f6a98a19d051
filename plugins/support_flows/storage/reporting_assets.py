"""The reporting tables as Airflow Assets (docs/data-dictionary.md): a task that loads a table names it
in ``outlets``, so analytics DAGs can be scheduled on it (``schedule=[TICKET_FACTS]``).

Kept apart from ``reporting`` so that DAG files can import them without loading SQLAlchemy, and
each Asset is built only when first used (building one costs about a millisecond of parse time).
"""

from __future__ import annotations

import functools

from airflow.sdk import Asset

# "x-" marks a scheme of our own: Airflow leaves it as is instead of loading every provider's URI
# normalizers to look for one (6 ms of parse time in each DAG file that names an Asset).
URI_SCHEME = "x-support-reporting"
TABLES = {
    "TICKET_FACTS": "ticket_facts",
    "FEEDBACK_FACTS": "feedback_facts",
    "AGENT_DAILY_PERFORMANCE": "agent_daily_performance",
    "DAILY_SUMMARY": "daily_summary",
    "ESCALATIONS": "escalations",
    "FLOW_ERRORS": "flow_errors",
    "FLOW_RUNS": "flow_runs",
}


@functools.cache
def reporting_asset(table: str) -> Asset:
    return Asset(
        name=f"support_reporting.{table}",
        uri=f"{URI_SCHEME}://support_reporting/{table}",
        group="support_reporting",
        extra={"connection": "support_reporting", "table": table},
    )


def __getattr__(name: str) -> Asset | tuple[Asset, ...]:
    """``TICKET_FACTS`` and friends, and ``ALL``, built on first access."""
    if name in TABLES:
        return reporting_asset(TABLES[name])
    if name == "ALL":
        return tuple(reporting_asset(table) for table in TABLES.values())
    raise AttributeError(name)
