"""deploy/helm/values.yaml against the official Apache Airflow Helm chart (no Kubernetes here).

The chart's own values schema (chart/values.schema.json of apache/airflow, Apache-2.0, the chart
version the docs pin) is kept beside this test. The schema says which values exist, not what the
chart's templates do with them, so each rule of a template that this deployment relies on is a
test below that names the template (``chart/templates/...`` of that chart version): read there, and
each fails on the values as they were before the rule was written down."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("airflow-helm-values.schema.json")
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
REMOTE_LOGS = ROOT / "deploy" / "helm" / "values-remote-logs.yaml"
COMPONENTS = ("scheduler", "workers", "apiServer", "dagProcessor", "triggerer")
CHART_VERSION = "1.19.0"
RELEASE = "support-flows"  # the release name the docs install
OWNER_SECRET = "support-flows-reporting-owner"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_valid_against_the_charts_values_schema(values):
    validator().validate(values)


def test_the_remote_logs_overlay_is_valid_too(values):
    overlay = yaml.safe_load(REMOTE_LOGS.read_text())
    merged = {**values, "config": {**values["config"], **overlay["config"]}}
    validator().validate(merged)
    logging = overlay["config"]["logging"]
    assert logging["remote_logging"] == "True" and logging["remote_base_log_folder"].startswith("wasb")


def test_the_schema_refuses_a_wrong_value(values):
    """The schema is strict enough to catch a typo (so the test above can fail)."""
    schema = validator()
    assert not schema.is_valid({**values, "scheduler": {**values["scheduler"], "replica": 1}})
    assert not schema.is_valid({**values, "images": {"airflow": {"repository": "x", "tagg": "1"}}})
    assert not schema.is_valid({**values, "executor": 3})
    assert not schema.is_valid({**values, "data": {**values["data"], "brokerUrlSecret": "x"}})


# --- rules of the chart's templates ---------------------------------------------------------------


def test_the_broker_url_comes_from_the_operators_secret(values):
    """chart/templates/secrets/redis-secrets.yaml: with a Celery executor and no
    ``data.brokerUrlSecretName``, the chart writes its own ``<release>-broker-url`` secret whose URL
    carries ``redis.password`` or a random password, not the one in ``redis.passwordSecretName``:
    the workers could never reach Redis. chart/templates/_helpers.yaml then reads
    AIRFLOW__CELERY__BROKER_URL from ``data.brokerUrlSecretName``, key ``connection``."""
    assert "Celery" in values["executor"]
    if values["redis"].get("passwordSecretName"):
        assert values["data"].get("brokerUrlSecretName"), (
            "redis.passwordSecretName without data.brokerUrlSecretName: the broker URL gets a random password"
        )
    assert "password" not in values["redis"] and "brokerUrl" not in values["data"]
    docs = (ROOT / "docs" / "operations.md").read_text()
    # the broker's host is the chart's Redis service, "<airflow.fullname>-redis" (_helpers.yaml:
    # the release name, then "-airflow" unless the release name contains the chart's name)
    fullname = RELEASE if "airflow" in RELEASE else f"{RELEASE}-airflow"
    assert re.search(
        rf"create secret generic {values['data']['brokerUrlSecretName']} --from-literal=connection=redis://:\S+@{fullname}-redis:6379/0",
        docs,
    ), "docs/operations.md must make the broker URL with the Redis password and the chart's Redis host"
    assert f"create secret generic {values['redis']['passwordSecretName']} --from-literal=password=" in docs


def test_the_deploy_step_runs_whatever_the_default_user_settings(values):
    """chart/templates/jobs/create-user-job.yaml is made only while the chart's default user is
    enabled (``webserver.defaultUser.enabled``; ``apiServer.defaultUser.enabled`` for Airflow 3),
    which also makes an admin/admin user; chart/templates/jobs/migrate-database-job.yaml is made
    whenever ``migrateDatabaseJob.enabled``, as a post-install/post-upgrade hook with our image
    (``images.useDefaultImageForMigration: false``), ``command``/``args`` templated. So the deploy
    step lives there, and the chart's own user job is off."""
    job = values["migrateDatabaseJob"]
    assert job["enabled"] is True and job["useHelmHooks"] is True
    assert values["images"]["useDefaultImageForMigration"] is False
    assert values["apiServer"]["defaultUser"]["enabled"] is False
    assert values["webserver"]["defaultUser"]["enabled"] is False
    assert "createUserJob" not in values or not values["createUserJob"].get("args")
    script = " ".join(job["args"])
    steps = [
        "airflow db migrate",
        "python -m support_flows.storage.migrations migrate --url-file ",
        "python -m support_flows.server.preflight",
        "python -m support_flows.server.access bootstrap",
    ]
    positions = [script.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), f"deploy steps out of order: {script}"
    assert " && " in script and ";" not in script, "a failed step must stop the job"


def test_the_owners_credentials_are_mounted_in_the_deploy_job_only(values):
    """chart/templates/jobs/migrate-database-job.yaml mounts ``migrateDatabaseJob.extraVolumes`` /
    ``extraVolumeMounts`` in that job's pod alone; the top-level ``secret``, ``env``, ``volumes`` and
    ``extraEnv`` go into every Airflow pod (_helpers.yaml, custom_airflow_environment)."""
    job = values["migrateDatabaseJob"]
    outside = {key: value for key, value in values.items() if key != "migrateDatabaseJob"}
    assert OWNER_SECRET not in json.dumps(outside)
    assert "support-flows-users" not in json.dumps(outside)
    (volume,) = job["extraVolumes"]
    sources = {source["secret"]["name"] for source in volume["projected"]["sources"]}
    assert sources == {OWNER_SECRET, "support-flows-users"}
    (mount,) = job["extraVolumeMounts"]
    assert mount["name"] == volume["name"] and mount["readOnly"] is True
    files = {item["path"] for source in volume["projected"]["sources"] for item in source["secret"]["items"]}
    for name in files:
        assert f"{mount['mountPath']}/{name}" in " ".join(job["args"]), name


def test_https_ingress_for_the_api_server(values):
    """chart/templates/api-server/api-server-ingress.yaml (Airflow >= 3): rendered when
    ``ingress.apiServer.enabled``; it reads ``hosts[].name``, ``hosts[].tls.enabled`` and
    ``.secretName``, ``annotations``, ``ingressClassName``, ``path`` and ``pathType``. The values
    schema does not describe ``ingress.apiServer``, so a misspelt key would pass it: the keys are
    checked against that template's names here. ``[api] base_url`` is the same host, over https."""
    ingress = values["ingress"]["apiServer"]
    known = {
        "enabled",
        "annotations",
        "hosts",
        "ingressClassName",
        "path",
        "pathType",
        "precedingPaths",
        "succeedingPaths",
    }
    assert set(ingress) <= known, set(ingress) - known
    assert ingress["enabled"] is True
    assert ingress["annotations"]["cert-manager.io/cluster-issuer"]
    (host,) = ingress["hosts"]
    assert set(host) == {"name", "tls"} and host["tls"] == {"enabled": True, "secretName": host["tls"]["secretName"]}
    base_url = urlsplit(values["config"]["api"]["base_url"])
    assert base_url.scheme == "https" and base_url.hostname == host["name"]


def test_the_chart_version_is_pinned_wherever_it_is_installed():
    """Every helm install/upgrade command in the docs and the values file names the chart version
    whose schema and templates these tests were written against."""
    commands = []
    for path in (VALUES, ROOT / "docs" / "operations.md", ROOT / "README.md"):
        text = path.read_text().replace("\\\n", " ")
        commands += [(path.name, line) for line in text.splitlines() if re.search(r"helm (upgrade|install) ", line)]
    assert commands
    for name, line in commands:
        assert f"--version {CHART_VERSION}" in line, f"{name}: {line.strip()}"


# --- what this package needs of a deployment --------------------------------------------------------


def test_runs_our_image_on_airflow_3_3(values):
    assert values["airflowVersion"] == "3.3.2"
    assert values["images"]["airflow"]["repository"] == "support-flows-airflow"
    dockerfile = (ROOT / "Dockerfile").read_text()
    python = re.search(r"FROM apache/airflow:3\.3\.2-(python3\.\d+) AS production", dockerfile)[1]
    assert values["images"]["airflow"]["tag"].startswith(f"3.3.2-{python}-")
    assert values["executor"] == "CeleryExecutor"
    assert values["dags"]["gitSync"]["enabled"] is False and values["dags"]["persistence"]["enabled"] is False


def test_no_pythonpath_and_no_plugins_folder(values):
    """The package is installed in the image and registers its plugin by entry point."""
    assert all(item["name"] != "PYTHONPATH" for item in values.get("env", []))
    assert "plugins_folder" not in values["config"]["core"]


def test_key_vault_with_workload_identity(values):
    secrets = values["config"]["secrets"]
    assert secrets["backend"].endswith("key_vault.AzureKeyVaultBackend")
    assert json.loads(secrets["backend_kwargs"])["vault_url"].startswith("https://")
    assert values["labels"]["azure.workload.identity/use"] == "true"
    for component in (*COMPONENTS, "migrateDatabaseJob"):
        annotations = values[component]["serviceAccount"]["annotations"]
        assert re.fullmatch(r"[0-9a-f-]{36}", annotations["azure.workload.identity/client-id"]), component


def test_secrets_only_by_reference(values):
    for key in ("fernetKeySecretName", "jwtSecretName", "apiSecretKeySecretName"):
        assert values[key].startswith("support-flows-")
    for key in ("fernetKey", "jwtSecret", "apiSecretKey", "webserverSecretKey"):
        assert key not in values
    assert values["data"]["metadataSecretName"] and "metadataConnection" not in values["data"]
    assert values["redis"]["passwordSecretName"] and "password" not in values["redis"]
    assert {s["envName"]: s["secretName"] for s in values["secret"]} == {
        "AIRFLOW_CONN_SUPPORT_REPORTING": "support-flows-reporting-db",
    }


def test_every_component_has_resources(values):
    for component in (*COMPONENTS, "migrateDatabaseJob", "statsd", "redis"):
        resources = values[component]["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], component
        assert resources["limits"]["memory"], component
    assert values["statsd"]["enabled"] is True and values["config"]["metrics"]["statsd_on"] == "True"


def test_statsd_mappings_are_the_compose_files(values):
    mappings = yaml.safe_load((ROOT / "deploy" / "statsd" / "mappings.yml").read_text())["mappings"]
    assert values["statsd"]["overrideMappings"] == mappings
    assert values["config"]["metrics"]["statsd_prefix"] == "support_flows"


def test_retention_is_a_job_of_its_own_and_the_log_groomers_keep_the_same_days(values):
    """chart/templates/cleanup/cleanup-cronjob.yaml runs cleanup.command/args with the chart's
    standard environment (its metadata connection): the retention clean-up is that job, not a task,
    and no connection to Airflow's database is handed to the other pods. Each component's log
    groomer (logGroomerSidecar.retentionDays) keeps task logs as long as runs are kept."""
    from support_flows.core.settings import Settings

    cleanup = values["cleanup"]
    assert cleanup["enabled"] and cleanup["command"][-1] == "support_flows.operations.maintenance"
    assert cleanup["args"] == ["clean"] and len(cleanup["schedule"].split()) == 5
    assert not any(s["envName"].startswith("AIRFLOW_CONN_AIRFLOW") for s in values["secret"])
    days = Settings.__dataclass_fields__["metadata_retention_days"].default
    for component in ("workers", "scheduler", "triggerer", "dagProcessor"):
        assert values[component]["logGroomerSidecar"]["retentionDays"] == days, component
