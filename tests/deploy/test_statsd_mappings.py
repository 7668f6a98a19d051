"""deploy/statsd/mappings.yml, applied as statsd-exporter applies glob mappings (each ``*`` is one
dot-separated part, the first matching mapping wins) to metric names Airflow 3 emits with our
prefix: the DAG, task, pool and state become labels, and the compose file loads the mappings.

statsd-exporter itself is not packaged for this machine (no Debian package, no PyPI one), so the
glob matching is ours; what is matched is not: every mapping is held to the names in Airflow's own
metrics registry (airflow/_shared/observability/metrics/metrics_template.yaml, the list Airflow
emits from) or to the package's own metrics (support_flows/core/metrics.py)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = yaml.safe_load((ROOT / "deploy" / "statsd" / "mappings.yml").read_text())["mappings"]


def apply(metric: str) -> tuple[str, dict[str, str]] | None:
    for mapping in MAPPINGS:
        pattern = "^" + re.escape(mapping["match"]).replace(r"\*", "([^.]+)") + "$"
        found = re.match(pattern, metric)
        if found:
            labels = {
                key: re.sub(r"\$(\d+)", lambda m, found=found: found.group(int(m.group(1))), value)
                for key, value in mapping.get("labels", {}).items()
            }
            return mapping["name"], labels
    return None


@pytest.mark.parametrize(
    "metric, name, labels",
    [
        (
            "support_flows.dag.support_ticket_created.answer_or_queue.duration",
            "airflow_task_duration_seconds",
            {"dag_id": "support_ticket_created", "task_id": "answer_or_queue"},
        ),
        (
            "support_flows.ti.finish.support_daily_summary.email_admins.failed",
            "airflow_task_finishes_total",
            {"dag_id": "support_daily_summary", "task_id": "email_admins", "state": "failed"},
        ),
        (
            "support_flows.dagrun.duration.success.support_ticket_resolved",
            "airflow_dagrun_duration_seconds",
            {"state": "success", "dag_id": "support_ticket_resolved"},
        ),
        (
            "support_flows.pool.open_slots.graph_mailbox",
            "airflow_pool_slots",
            {"kind": "open_slots", "pool": "graph_mailbox"},
        ),
        (
            "support_flows.dagrun.schedule_delay.support_daily_summary",
            "airflow_dagrun_schedule_delay_seconds",
            {"dag_id": "support_daily_summary"},
        ),
    ],
)
def test_airflow_metric_names_get_labels(metric, name, labels):
    assert apply(metric) == (name, labels)


def test_unrelated_names_are_left_alone():
    assert apply("support_flows.scheduler_heartbeat") is None
    assert apply("other_prefix.dag.a.b.duration") is None


def test_every_mapping_labels_what_its_wildcards_match():
    for mapping in MAPPINGS:
        stars = mapping["match"].count("*")
        used = {int(n) for value in mapping.get("labels", {}).values() for n in re.findall(r"\$(\d+)", value)}
        assert used == set(range(1, stars + 1)), mapping["match"]


def airflow_legacy_names() -> set[str]:
    """The StatsD names Airflow 3 emits that carry a DAG, task, pool or file, as globs (each
    ``{variable}`` of the registry's legacy name becomes ``*``)."""
    import airflow._shared.observability.metrics as metrics_package

    registry = yaml.safe_load((Path(metrics_package.__file__).parent / "metrics_template.yaml").read_text())
    return {
        re.sub(r"\{\w+\}", "*", metric["legacy_name"])
        for metric in registry["metrics"]
        if metric.get("legacy_name", "-") != "-"
    }


def test_every_mapping_matches_a_name_airflow_or_the_package_emits():
    from support_flows.core import metrics

    ours = {re.sub(r"\{\w+\}", "*", name) for name in metrics.NAMES}
    emitted = airflow_legacy_names() | ours
    for mapping in MAPPINGS:
        match = mapping["match"].removeprefix("support_flows.")
        assert match in emitted or any(
            fnmatch.fnmatchcase(name, match) and name.count(".") == match.count(".") for name in emitted
        ), f"{mapping['match']} matches nothing Airflow's registry or support_flows/core/metrics.py names"
    for name in ours:
        assert apply(f"support_flows.{name.replace('*', 'x')}") is not None, f"no mapping for our metric {name}"


@pytest.mark.parametrize(
    "legacy",
    [
        "dag.*.*.duration",
        "ti.finish.*.*.*",
        "dagrun.duration.success.*",
        "dagrun.duration.failed.*",
        "pool.open_slots.*",
    ],
)
def test_the_metrics_the_dashboard_needs_are_still_emitted_by_airflow(legacy):
    """An Airflow upgrade that renamed one would leave the dashboard empty: fail here first."""
    assert legacy in airflow_legacy_names()


def test_compose_loads_the_mappings():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    exporter = compose["services"]["statsd-exporter"]
    target = exporter["configs"][0]["target"]
    assert f"--statsd.mapping-config={target}" in exporter["command"]
    assert compose["configs"][exporter["configs"][0]["source"]]["file"] == "./deploy/statsd/mappings.yml"
