"""deploy/statsd/mappings.yml, applied as statsd-exporter applies glob mappings (each ``*`` is one
dot-separated part, the first matching mapping wins) to metric names Airflow 3 emits with our
prefix: the DAG, task, pool and state become labels, and the compose file loads the mappings."""

from __future__ import annotations

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
            "airflow_task_duration_milliseconds",
            {"dag_id": "support_ticket_created", "task_id": "answer_or_queue"},
        ),
        (
            "support_flows.ti.finish.support_daily_summary.email_admins.failed",
            "airflow_task_finishes_total",
            {"dag_id": "support_daily_summary", "task_id": "email_admins", "state": "failed"},
        ),
        (
            "support_flows.dagrun.duration.success.support_ticket_resolved",
            "airflow_dagrun_duration_milliseconds",
            {"state": "success", "dag_id": "support_ticket_resolved"},
        ),
        (
            "support_flows.pool.open_slots.graph_mailbox",
            "airflow_pool_slots",
            {"kind": "open_slots", "pool": "graph_mailbox"},
        ),
        (
            "support_flows.dagrun.schedule_delay.support_daily_summary",
            "airflow_dagrun_schedule_delay_milliseconds",
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
        used = {int(n) for value in mapping["labels"].values() for n in re.findall(r"\$(\d+)", value)}
        assert used == set(range(1, stars + 1)), mapping["match"]


def test_compose_loads_the_mappings():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    exporter = compose["services"]["statsd-exporter"]
    target = exporter["configs"][0]["target"]
    assert f"--statsd.mapping-config={target}" in exporter["command"]
    assert compose["configs"][exporter["configs"][0]["source"]]["file"] == "./deploy/statsd/mappings.yml"
