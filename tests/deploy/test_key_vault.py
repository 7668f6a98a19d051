"""Azure Key Vault as Airflow's secrets backend, end to end against the mock's HTTPS vault: the
connection and the salt come from the vault, fetched with a managed identity's token, in a fresh
Airflow process configured only through the environment (as docker-compose.yaml configures it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json
from airflow.sdk import BaseHook, Variable
conn = BaseHook.get_connection("support_api")
print(json.dumps({"host": conn.host, "port": conn.port, "salt": Variable.get("support_customer_key_salt"),
                  "missing": Variable.get("support_not_in_the_vault", default="default-used")}))
"""


@pytest.fixture
def vault(mock):
    mock.post(
        "/_mock/vault",
        {
            "airflow-connections-support-api": json.dumps(
                {"conn_type": "http", "host": "api.from-the-vault.example", "port": 8443}
            ),
            "airflow-variables-support-customer-key-salt": "salt-from-the-vault",
        },
    )
    return mock


def test_connections_and_variables_come_from_key_vault(vault):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env.update(
        {
            "AIRFLOW__SECRETS__BACKEND": "airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend",
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
                {
                    "connections_prefix": "airflow-connections",
                    "variables_prefix": "airflow-variables",
                    "vault_url": f"https://localhost:{vault.tls_port}",
                    # the mock's certificate is self-signed, and its challenge names vault.azure.net:
                    "connection_verify": False,
                    "verify_challenge_resource": False,
                }
            ),
            # A managed identity (App Service style), as the seed asks: no client secret anywhere.
            "IDENTITY_ENDPOINT": f"{vault.url}/msi/token",
            "IDENTITY_HEADER": "mock-identity-header",
        }
    )
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "host": "api.from-the-vault.example",
        "port": 8443,
        "salt": "salt-from-the-vault",
        "missing": "default-used",
    }
    calls = [r["path"] for r in vault.get("/_mock/requests")["items"]]
    assert any(p.startswith("/msi/token") for p in calls)
    assert any(p.startswith("/secrets/airflow-connections-support-api") for p in calls)


def test_the_vault_refuses_calls_without_a_token(vault):
    import requests

    response = requests.get(
        f"https://localhost:{vault.tls_port}/secrets/airflow-variables-support-customer-key-salt",
        params={"api-version": "7.5"},
        verify=False,
        timeout=10,
    )
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]
