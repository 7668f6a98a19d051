"""What operators look at (deploy/monitoring/): the Prometheus alert rules, checked and unit-tested
by Prometheus' own promtool (Debian's prometheus package; .ci/run installs it), and the Grafana
dashboard, whose every query promtool parses as PromQL. Every metric a rule or a panel reads must be
one that deploy/statsd/mappings.yml produces, so a renamed mapping cannot leave a panel empty or
an alert silent. Grafana itself is not packaged for this machine: the dashboard's JSON is checked
for what Grafana needs to import it (unique ids, a datasource variable, panels on the grid)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "alerts.rules.yml"
DASHBOARD = json.loads((MONITORING / "grafana-dashboard.json").read_text())
MAPPINGS = yaml.safe_load((ROOT / "deploy" / "statsd" / "mappings.yml").read_text())["mappings"]
# what the exporter adds to a mapped name: a timer's summary and counts; Prometheus' own functions
SUFFIXES = ("", "_count", "_sum", "_bucket")
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "without", "rate", "increase", "or", "and", "unless", "on",
    "vector", "label_values", "humanizePercentage", "humanizeDuration", "histogram_quantile",
}  # fmt: skip


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: apt-get install prometheus (.ci/run does)")
        pytest.skip("promtool is missing: apt-get install prometheus")
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in DASHBOARD["panels"] for target in panel["targets"]]


def rule_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers followed by a selector or a range,
    or standing alone, that are not functions, keywords or label names."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_grouping = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_labels)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", without_grouping))
    return {name for name in names if name not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdw]?|__\w+", name)}


def produced_names() -> set[str]:
    return {mapping["name"] + suffix for mapping in MAPPINGS for suffix in SUFFIXES}


def test_promtool_accepts_the_alert_rules():
    done = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 3 rules found" in done.stdout


def test_the_alerts_fire_when_they_should_and_not_otherwise():
    """promtool's rule unit tests (alerts.test.yml): each alert on series that should and should not fire it."""
    done = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts.test.yml").read_text()))
    assert tested == {name for name, _ in rule_queries()}, "every alert has a unit test"


def test_every_dashboard_query_is_promql(tmp_path):
    """promtool parses each panel's query (Grafana's $variables replaced by what Grafana puts there)."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:query_{n}",
                        "expr": expr.replace("$__rate_interval", "5m").replace("$flow", ".*"),
                    }
                    for n, (_, expr) in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_read_is_one_the_mappings_produce(source):
    queries = rule_queries() if source == "rules" else dashboard_queries()
    produced = produced_names()
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{title}: no metric found in {expr!r}"
        assert names <= produced, f"{title} reads {sorted(names - produced)}, which no mapping produces"


def test_the_metric_check_can_fail():
    assert metric_names('sum by (dag_id) (rate(airflow_dagrun_duration_ms_count{state="failed"}[5m]))') == {
        "airflow_dagrun_duration_ms_count"
    }
    assert "airflow_dagrun_duration_ms_count" not in produced_names()


def test_the_dashboard_covers_what_operators_watch():
    reads = {name for _, expr in dashboard_queries() for name in metric_names(expr)}
    for needed in (
        "airflow_dagrun_duration_seconds_count",  # run outcomes per flow
        "airflow_dagrun_duration_seconds",  # durations
        "airflow_executor_tasks",  # queued tasks
        "airflow_pool_slots",  # pool slots
        "support_watcher_lag_seconds",  # watcher lag
        "support_trigger_to_email_seconds",  # trigger to e-mail
    ):
        assert needed in reads, needed


def test_the_dashboard_is_importable():
    panels = DASHBOARD["panels"]
    assert DASHBOARD["uid"] and DASHBOARD["title"] and DASHBOARD["schemaVersion"] >= 36
    assert len({panel["id"] for panel in panels}) == len(panels)
    variables = {variable["name"]: variable for variable in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    cells = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["title"] and panel["description"] and panel["targets"], panel["id"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
