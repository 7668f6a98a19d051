"""Airflow's tokens live at most 15 minutes on every stack that runs the API server (Airflow's own
default is a day, and anyone who holds one can mint another): the README's stack, compose and the
Helm chart. The UI's session slides meanwhile (support_flows.server.access; tested in
tests/unit/test_accounts.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LONGEST = 15 * 60


def test_the_readme_stack(tmp_path):
    from support_flows_dev import devstack

    env = devstack.Stack(state_dir=tmp_path, database_url="postgresql://x@127.0.0.1/airflow", quiet=True).env()
    assert 0 < int(env["AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME"]) <= LONGEST
    assert 0 < int(env["AIRFLOW__API_AUTH__JWT_CLI_EXPIRATION_TIME"]) <= LONGEST


def test_compose():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    env = compose["x-airflow-common"]["environment"]
    assert 0 < int(env["AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME"]) <= LONGEST
    assert 0 < int(env["AIRFLOW__API_AUTH__JWT_CLI_EXPIRATION_TIME"]) <= LONGEST


def test_the_helm_chart():
    config = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())["config"]["api_auth"]
    assert 0 < int(config["jwt_expiration_time"]) <= LONGEST
    assert 0 < int(config["jwt_cli_expiration_time"]) <= LONGEST


# The API server sees the caller's address, not the proxy's (the keys' limits count per caller),
# and takes X-Forwarded-For from the proxy alone: compose and Helm set both.


def test_compose_trusts_the_forwarded_address_from_its_proxy_only():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    api = compose["services"]["airflow-apiserver"]
    assert "--proxy-headers" in api["command"].split()
    proxy_address = compose["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    assert api["environment"]["FORWARDED_ALLOW_IPS"] == proxy_address
    config = compose["configs"]["proxy-config"]["content"]
    assert "proxy_set_header X-Forwarded-For $$remote_addr;" in config  # what the caller sent is replaced


def test_helm_trusts_the_forwarded_address_from_the_ingress_only():
    api = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())["apiServer"]
    assert api["args"][-1].split()[-2:] == ["api-server", "--proxy-headers"]
    (trusted,) = [e["value"] for e in api["env"] if e["name"] == "FORWARDED_ALLOW_IPS"]
    assert trusted not in ("*", "0.0.0.0/0")
