"""Time as the flows read it: the Support API's ISO 8601 texts as aware times, now, in UTC, and the
schedules' time zone (light: DAG files import it while they are parsed)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

TIMEZONE_ENVIRONMENT = "AIRFLOW_VAR_SUPPORT_TIMEZONE"


def schedule_timezone() -> str:
    """The time zone of the schedules: fixed when a DAG file is parsed, so read from the environment
    alone (no Variable, no secrets backend, no database at parse time). The tasks' time zone, the
    Variable support_timezone, must agree (``support_flows.core.settings``)."""
    return os.environ.get(TIMEZONE_ENVIRONMENT) or "UTC"


def moment(value: str | datetime | None) -> datetime | None:
    """An aware time from the Support API's ISO 8601 text (``2026-11-25T09:00:00Z``) or a datetime;
    a time without a zone is taken as UTC; None stays None."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def now() -> datetime:
    """Now, in UTC (one place to read the clock, so tests can move it)."""
    return datetime.now(UTC)
