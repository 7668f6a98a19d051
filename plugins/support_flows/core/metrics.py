"""The package's own StatsD metrics, beside Airflow's: what the operators' dashboard and alert rules
(deploy/monitoring/) need and Airflow does not measure. Airflow's StatsD client sends them with its
prefix (``support_flows.``); deploy/statsd/mappings.yml turns them into Prometheus metrics.

A metric never fails a task: where StatsD is off or unreachable, nothing is sent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

log = logging.getLogger(__name__)

# StatsD names; a test holds deploy/statsd/mappings.yml to them
WATCHER_LAG = "support.watcher_lag_seconds"  # gauge: how long the oldest flow-starting event has waited
TRIGGER_TO_EMAIL = "support.trigger_to_email.{dag_id}"  # timer: the run's trigger to the customer's e-mail
NAMES = (WATCHER_LAG, TRIGGER_TO_EMAIL)


def watcher_lag(seconds: float) -> None:
    """The watcher's lag (0 when nothing waits), on every watcher run."""
    _send("gauge", WATCHER_LAG, seconds)


def trigger_to_email(dag_id: str, triggered_at: datetime | None) -> None:
    """From the run's trigger (its ``run_after``) to the customer's e-mail, when it went out now."""
    if triggered_at is not None:
        _send("timing", TRIGGER_TO_EMAIL.format(dag_id=dag_id), datetime.now(UTC) - triggered_at)


def _send(kind: str, name: str, value) -> None:
    try:
        from airflow.sdk.observability.stats import Stats

        getattr(Stats, kind)(name, value)
    except Exception as err:  # noqa: BLE001 - metrics must never fail the work they measure
        log.debug("metric %s not sent: %s", name, err)
