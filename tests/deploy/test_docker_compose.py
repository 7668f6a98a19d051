"""docker-compose.yaml cannot run here (no Docker engine), so it is checked statically: against the
Compose Specification's schema, and for the services, shared settings and mounts production needs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The Compose Specification's JSON schema (compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0).
SPEC = Path(__file__).with_name("compose-spec.json")
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_valid_against_the_compose_specification(compose):
    jsonschema.validate(compose, json.loads(SPEC.read_text()))


def test_has_the_production_services(compose):
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "mock-backend", "statsd-exporter"}
    assert compose["services"]["airflow-worker"]["command"] == "celery worker"


def test_airflow_services_share_settings_and_mount_dags_and_plugins(compose):
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        for conn_id in ("SUPPORT_API", "SUPPORT_GRAPH", "SUPPORT_REPORTING"):
            json.loads(env[f"AIRFLOW_CONN_{conn_id}"].replace("${GRAPH_CLIENT_SECRET:-mock-secret}", "x")
                       .replace("${POSTGRES_PASSWORD:-airflow}", "x"))
        targets = {volume.rsplit(":", 1)[1] for volume in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins"} <= targets, name


def test_connections_point_at_the_mock_service_and_reporting_is_postgres(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert json.loads(env["AIRFLOW_CONN_SUPPORT_API"])["host"] == "mock-backend"
    reporting = json.loads(env["AIRFLOW_CONN_SUPPORT_REPORTING"].replace("${POSTGRES_PASSWORD:-airflow}", "x"))
    assert reporting["conn_type"] == "postgres" and reporting["schema"] == "reporting"


def test_key_vault_backend_is_present_but_commented(compose):
    text = (ROOT / "docker-compose.yaml").read_text()
    assert "# AIRFLOW__SECRETS__BACKEND: airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend" in text
    assert "AIRFLOW__SECRETS__BACKEND" not in compose["services"]["airflow-scheduler"]["environment"]


def test_services_have_health_checks(compose):
    for name, service in compose["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in service, name


def test_metrics_go_to_statsd(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "true" and env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
