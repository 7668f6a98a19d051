"""docker-compose.yaml (production) and docker-compose.demo.yaml cannot run here (no Docker engine),
so they are checked statically: against the Compose Specification's schema, with Compose's own
interpolation rules applied to an .env made from .env.example (a missing secret must stop
`docker compose up` naming it), and for what production needs: no literal secret, the Key Vault
backend on, an image with runtime dependencies only, volumes its user can write."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The Compose Specification's JSON schema (compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0).
SPEC = Path(__file__).with_name("compose-spec.json")
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "airflow-retention",
}
# .env.example's settings that are not secrets (everything else in it is one)
NOT_SECRETS = {
    "AIRFLOW_BASE_URL",
    "SUPPORT_TIMEZONE",
    "AZURE_CLIENT_ID",
    "AZURE_KEY_VAULT_URL",
    "TLS_CERTIFICATE_FILE",
    "TLS_PRIVATE_KEY_FILE",
}
KEY_VAULT = "airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend"

# Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}
INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute as `docker compose` does before it reads the file (compose-spec: interpolation)."""

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op and op.startswith(":"))
        if op in (":?", "?") and unset_or_empty:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and unset_or_empty:
            return arg
        return value or ""

    return INTERPOLATION.sub(substitute, text)


def compose_text(name: str) -> str:
    """A compose file without its comment lines (Compose interpolates values, not comments)."""
    return "\n".join(line for line in (ROOT / name).read_text().splitlines() if not line.lstrip().startswith("#"))


def env_example() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return {name.strip(): value.strip() for name, value in pairs}


def filled_env() -> dict[str, str]:
    """.env.example as an operator fills it in: a fresh value for every empty line."""
    env = {name: value or secrets.token_urlsafe(24) for name, value in env_example().items()}
    env["AZURE_KEY_VAULT_URL"] = "https://support-flows.vault.azure.net/"
    env["AZURE_CLIENT_ID"] = ""
    env["AIRFLOW_BASE_URL"] = "https://airflow.support.contoso.com"
    env["TLS_CERTIFICATE_FILE"], env["TLS_PRIVATE_KEY_FILE"] = (
        "/etc/ssl/support-flows.crt",
        "/etc/ssl/support-flows.key",
    )
    return env


def load(name: str, env: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(interpolate(compose_text(name), filled_env() if env is None else env))


def merged(*names: str) -> dict:
    """`docker compose -f a -f b`: later files override mappings key by key (compose-spec: merge)."""

    def merge(base, override):
        if isinstance(base, dict) and isinstance(override, dict):
            return {key: merge(base[key], value) if key in base else value for key, value in override.items()} | {
                key: value for key, value in base.items() if key not in override
            }
        return override

    result: dict = {}
    for name in names:
        result = merge(result, load(name))
    return result


def secret_names() -> set[str]:
    return set(env_example()) - NOT_SECRETS


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("docker-compose.yaml")


@pytest.fixture(scope="module")
def demo() -> dict:
    return merged("docker-compose.yaml", "docker-compose.demo.yaml")


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.demo.yaml"])
def test_valid_against_the_compose_specification(name):
    jsonschema.validate(load(name), json.loads(SPEC.read_text()))


def test_the_demo_merged_onto_production_is_valid_too(demo):
    jsonschema.validate(demo, json.loads(SPEC.read_text()))


def test_has_the_production_services(compose):
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "statsd-exporter", "proxy"}
    assert compose["services"]["airflow-worker"]["command"] == "celery worker"


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.demo.yaml"])
def test_every_secret_is_required_and_named_in_env_example(name):
    text = compose_text(name)
    used = [(m["braced"] or m["plain"], m["op"]) for m in INTERPOLATION.finditer(text) if not m["escaped"]]
    assert {variable for variable, _ in used} <= set(env_example()) | {"SUPPORT_FLOWS_IMAGE"}, (
        "every variable is listed in .env.example"
    )
    for variable, op in used:
        if variable in secret_names():
            assert op == ":?", f"{name}: ${{{variable}}} must be required (${{{variable}:?message}}), not {op!r}"
    assert all(not value for name_, value in env_example().items() if name_ in secret_names()), (
        ".env.example must not carry a value for a secret"
    )


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.demo.yaml"])
def test_a_missing_secret_stops_compose_naming_it(name):
    text = compose_text(name)
    needed = {m["braced"] for m in INTERPOLATION.finditer(text) if m["op"] == ":?"}
    assert needed, "the file requires its secrets"
    for variable in needed:
        env = filled_env()
        for value in (None, ""):
            if value is None:
                env.pop(variable)
            else:
                env[variable] = value
            with pytest.raises(MissingVariable, match=variable):
                interpolate(text, env)


def _passwords(value: str) -> list[str]:
    found = re.findall(r"://[^/:@\s]*:([^@\s]+)@", value)
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if isinstance(document, dict):
        found += [str(document[key]) for key in ("password",) if document.get(key)]
    return found


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.demo.yaml"])
def test_no_service_has_a_literal_secret(name):
    """Every password, key and salt a service is given is one of the operator's values from .env."""
    env = filled_env()
    operator_values = {env[variable] for variable in secret_names()}
    secret_key = re.compile(r"PASSWORD|SECRET|FERNET|SALT|TOKEN|_KEY\b")
    for service_name, service in load(name, env)["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if secret_key.search(key) and "__SECRETS__" not in key:  # not the secrets backend's settings
                assert value in operator_values, f"{service_name}: {key} is not one of the operator's secrets"
            for password in _passwords(value):
                assert password in operator_values, f"{service_name}: {key} has a literal password"


def test_production_reads_the_connections_from_key_vault(compose):
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__SECRETS__BACKEND"] == KEY_VAULT, name
        kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
        assert kwargs["vault_url"] == "https://support-flows.vault.azure.net/"
        assert (
            kwargs["connections_prefix"] == "airflow-connections" and kwargs["variables_prefix"] == "airflow-variables"
        )
        assert not {
            "AIRFLOW_CONN_SUPPORT_API",
            "AIRFLOW_CONN_SUPPORT_GRAPH",
            "AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT",
        } & set(env), name
        reporting = json.loads(env["AIRFLOW_CONN_SUPPORT_REPORTING"])
        assert reporting["conn_type"] == "postgres" and reporting["schema"] == "reporting"


def test_airflow_services_share_settings(compose):
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        assert env["AIRFLOW__CORE__FERNET_KEY"], name


def test_the_demo_is_separate_and_uses_the_mock(compose, demo):
    assert "mock-backend" not in compose["services"]
    assert "mock-backend" in demo["services"]
    for name in AIRFLOW_SERVICES:
        env = demo["services"][name]["environment"]
        assert env["AIRFLOW__SECRETS__BACKEND"] == "", name
        assert json.loads(env["AIRFLOW_CONN_SUPPORT_API"])["host"] == "mock-backend"
        assert json.loads(env["AIRFLOW_CONN_SUPPORT_GRAPH"])["host"].startswith("mock-backend")
        assert env["AIRFLOW__CORE__FERNET_KEY"], "the demo keeps production's other settings"


def test_volumes_are_named_and_writable_by_the_images_user(demo):
    """Named volumes start owned by the image's user where the image made their folder."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    created = set(re.findall(r"/opt/airflow/[\w-]+", " ".join(re.findall(r"^RUN [^\n]*mkdir -p [^\n]*", text, re.M))))
    created |= set(re.findall(r"mkdir -p (/opt/airflow/[\w-]+)", text))
    for name, service in demo["services"].items():
        if name in {"postgres", "redis", "statsd-exporter", "proxy"}:
            continue
        assert service["user"].split(":")[0] == "50000", f"{name} runs as the image's user"
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            assert not source.startswith((".", "/", "$")), f"{name}: {volume} is a bind mount"
            assert target in created, f"{name}: {target} is not created (and owned) by the image's user"


def test_services_have_health_checks(demo):
    for name, service in demo["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in service, name


def test_metrics_go_to_statsd(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "true" and env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"


def test_the_init_service_migrates_the_reporting_database_before_the_flows_start(compose):
    init = compose["services"]["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    script = init["command"][-1]
    steps = [
        'python -m support_flows.storage.migrations migrate --url "$REPORTING_OWNER_URL" && ',
        "python -m support_flows.server.preflight && ",
        "exec python -m support_flows.server.access bootstrap",
    ]
    assert all(step in script for step in steps) and script.index(steps[1]) < script.index(steps[2]), script
    assert init["environment"]["REPORTING_OWNER_URL"].startswith("postgresql+psycopg2://airflow:")
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert (
            compose["services"][name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        ), name


# --- fit for a server: TLS in front, nothing else on the network, a broker with a password ----------


def published(service: dict) -> list[tuple[str, str]]:
    """(host address, host port) of each published port; no address means every interface."""
    found = []
    for port in service.get("ports", []):
        parts = str(port).split(":")
        found.append((parts[0] if len(parts) == 3 else "0.0.0.0", parts[-2] if len(parts) > 1 else parts[0]))
    return found


@pytest.mark.parametrize("name", ["docker-compose.yaml", "docker-compose.demo.yaml"])
def test_only_the_tls_proxy_listens_on_the_network(name):
    """The API server (8080) and the metrics (9102) are on 127.0.0.1; the proxy's 443 (and 80, which
    only redirects) are the public ports. The demo's mock (5000) is the one exception, on purpose."""
    services = (merged("docker-compose.yaml", name) if name != "docker-compose.yaml" else load(name))["services"]
    public = {
        (service, port)
        for service, spec in services.items()
        for address, port in published(spec)
        if address != "127.0.0.1"
    }
    allowed = {("proxy", "443"), ("proxy", "80")} | ({("mock-backend", "5000")} if "demo" in name else set())
    assert public <= allowed, public - allowed
    assert ("127.0.0.1", "8080") in published(services["airflow-apiserver"])
    assert ("127.0.0.1", "9102") in published(services["statsd-exporter"])


def test_the_proxy_terminates_tls_with_the_operators_certificate(compose):
    proxy = compose["services"]["proxy"]
    assert set(proxy["secrets"]) == {"tls-certificate", "tls-private-key"}
    assert compose["secrets"]["tls-certificate"]["file"] == "/etc/ssl/support-flows.crt"
    assert compose["secrets"]["tls-private-key"]["file"] == "/etc/ssl/support-flows.key"
    config = compose["configs"][proxy["configs"][0]["source"]]["content"]
    assert "listen 443 ssl;" in config and "ssl_protocols TLSv1.2 TLSv1.3;" in config
    assert "ssl_certificate /run/secrets/tls-certificate;" in config
    assert "ssl_certificate_key /run/secrets/tls-private-key;" in config
    assert "proxy_pass http://airflow-apiserver:8080;" in config
    assert "return 301 https://$host$request_uri;" in config, "plain http only redirects"
    assert "$$" not in config, "compose turns $$ into $ for nginx"
    for name in AIRFLOW_SERVICES:
        assert (
            compose["services"][name]["environment"]["AIRFLOW__API__BASE_URL"] == "https://airflow.support.contoso.com"
        )


def test_a_missing_tls_file_or_base_url_stops_compose():
    text = compose_text("docker-compose.yaml")
    for variable in ("TLS_CERTIFICATE_FILE", "TLS_PRIVATE_KEY_FILE", "AIRFLOW_BASE_URL", "REDIS_PASSWORD"):
        env = filled_env()
        env.pop(variable)
        with pytest.raises(MissingVariable, match=variable):
            interpolate(text, env)


def test_redis_has_a_password_the_broker_url_carries():
    env = filled_env()
    spec = load("docker-compose.yaml", env)
    redis = spec["services"]["redis"]
    (config,) = redis["configs"]
    assert spec["configs"][config["source"]]["content"].split() == ["requirepass", env["REDIS_PASSWORD"]]
    assert redis["command"][-1] == config["target"], "redis-server reads the config with the password"
    assert redis["environment"]["REDISCLI_AUTH"] == env["REDIS_PASSWORD"], "the health check authenticates"
    for name in AIRFLOW_SERVICES:
        broker = spec["services"][name]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
        assert broker == f"redis://:{env['REDIS_PASSWORD']}@redis:6379/0", name


def test_no_pythonpath_or_plugins_folder_anywhere(compose, demo):
    """The image has the package installed; Airflow finds the plugin by its entry point."""
    for spec in (compose, demo):
        for name, service in spec["services"].items():
            env = service.get("environment") or {}
            assert "PYTHONPATH" not in env and "AIRFLOW__CORE__PLUGINS_FOLDER" not in env, name


def test_the_demo_sets_the_mock_tenants_settings_and_waits_for_the_mock(demo):
    from mock_backend import tenant

    env = demo["services"]["airflow-init"]["environment"]
    for name, value in tenant.settings("http://localhost:5000").items():
        assert env[f"AIRFLOW_VAR_SUPPORT_{name.upper()}"] == value, name
    assert demo["services"]["airflow-init"]["depends_on"]["mock-backend"]["condition"] == "service_healthy"
    assert demo["services"]["mock-backend"]["build"]["target"] == "demo"
