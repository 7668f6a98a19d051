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
