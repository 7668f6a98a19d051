"""deploy/helm/values.yaml against the official Apache Airflow Helm chart's values schema (no
Kubernetes here): the schema is the chart's own (chart/values.schema.json of apache/airflow,
Apache-2.0), kept beside this test. Then what this package needs of a deployment: our image,
the Key Vault backend with workload identity, secrets only by reference, migrations as a job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("airflow-helm-values.schema.json")
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
COMPONENTS = ("scheduler", "workers", "apiServer", "dagProcessor", "triggerer")


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def test_valid_against_the_charts_values_schema(values):
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(values)


def test_the_schema_refuses_a_wrong_value(values):
    """The schema is strict enough to catch a typo (so the test above can fail)."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert not validator.is_valid({**values, "scheduler": {**values["scheduler"], "replica": 1}})
    assert not validator.is_valid({**values, "images": {"airflow": {"repository": "x", "tagg": "1"}}})
    assert not validator.is_valid({**values, "executor": 3})


def test_runs_our_image_on_airflow_3_3(values):
    assert values["airflowVersion"] == "3.3.2"
    assert values["images"]["airflow"]["repository"] == "support-flows-airflow"
    assert values["images"]["useDefaultImageForMigration"] is False
    assert values["executor"] == "CeleryExecutor"
    assert values["dags"]["gitSync"]["enabled"] is False and values["dags"]["persistence"]["enabled"] is False


def test_key_vault_with_workload_identity(values):
    secrets = values["config"]["secrets"]
    assert secrets["backend"].endswith("key_vault.AzureKeyVaultBackend")
    assert json.loads(secrets["backend_kwargs"])["vault_url"].startswith("https://")
    assert values["labels"]["azure.workload.identity/use"] == "true"
    for component in (*COMPONENTS, "migrateDatabaseJob", "createUserJob"):
        annotations = values[component]["serviceAccount"]["annotations"]
        assert re.fullmatch(r"[0-9a-f-]{36}", annotations["azure.workload.identity/client-id"]), component


def test_secrets_only_by_reference(values):
    for key in ("fernetKeySecretName", "jwtSecretName", "apiSecretKeySecretName"):
        assert values[key].startswith("support-flows-")
    for key in ("fernetKey", "jwtSecret", "apiSecretKey", "webserverSecretKey"):
        assert key not in values
    assert values["data"]["metadataSecretName"] and "metadataConnection" not in values["data"]
    assert values["redis"]["passwordSecretName"] and "password" not in values["redis"]
    assert {s["envName"] for s in values["secret"]} == {"AIRFLOW_CONN_SUPPORT_REPORTING"}
    for item in values["createUserJob"]["env"]:
        assert "value" not in item and item["valueFrom"]["secretKeyRef"]["name"] == "support-flows-users"


def test_every_component_has_resources_and_migrations_are_a_job(values):
    for component in (*COMPONENTS, "migrateDatabaseJob", "createUserJob", "statsd", "redis"):
        resources = values[component]["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], component
        assert resources["limits"]["memory"], component
    assert values["migrateDatabaseJob"]["enabled"] is True
    assert values["createUserJob"]["args"] == [
        "python -m support_flows.storage.migrations migrate && exec python -m support_flows.server.access bootstrap"
    ]
    assert values["statsd"]["enabled"] is True and values["config"]["metrics"]["statsd_on"] == "True"


def test_statsd_mappings_are_the_compose_files(values):
    mappings = yaml.safe_load((ROOT / "deploy" / "statsd" / "mappings.yml").read_text())["mappings"]
    assert values["statsd"]["overrideMappings"] == mappings
    assert values["config"]["metrics"]["statsd_prefix"] == "support_flows"
