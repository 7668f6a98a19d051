"""Azure Key Vault (secrets, API 7.x) and the managed-identity token endpoint, so Airflow's
``AzureKeyVaultBackend`` can be tested end to end: it asks the vault, gets the bearer challenge,
takes a token from the (App Service style) managed identity, and reads the secret.

The vault answers only over HTTPS (the mock's TLS port), as the Key Vault client insists on.
``POST /_mock/vault`` (in ``control``) stores secrets.
"""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, jsonify, request

from mock_backend import db
from mock_backend.graph import TOKEN_PREFIX

bp = Blueprint("vault", __name__)


@bp.get("/msi/token")
def managed_identity_token():
    """App Service managed identity (IDENTITY_ENDPOINT / IDENTITY_HEADER)."""
    if not request.headers.get("X-IDENTITY-HEADER"):
        return {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER is required"}, 400
    resource = request.args.get("resource")
    if not resource:
        return {"error": "invalid_request", "error_description": "resource is required"}, 400
    return {
        "access_token": f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}",
        "expires_on": str(int(time.time()) + 3600),
        "resource": resource,
        "token_type": "Bearer",
    }


def _vault_error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


@bp.get("/secrets/<name>", defaults={"version": ""})
@bp.get("/secrets/<name>/", defaults={"version": ""})
@bp.get("/secrets/<name>/<version>")
def get_secret(name: str, version: str):
    """Key Vault's `GET /secrets/{name}[/{version}]` (API 7.x): the bearer challenge first, then the secret."""
    if request.scheme != "https":
        return _vault_error(400, "BadRequest", "Key Vault is served over HTTPS only")
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token.startswith(TOKEN_PREFIX):
        response, status = _vault_error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        response.headers["WWW-Authenticate"] = (
            'Bearer authorization="https://login.microsoftonline.com/mock-tenant", resource="https://vault.azure.net"'
        )
        return response, status
    row = db().execute("SELECT value, version FROM vault_secrets WHERE name = ?", (name,)).fetchone()
    if row is None:
        return _vault_error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
    base = request.host_url.rstrip("/")
    return {
        "value": row["value"],
        "id": f"{base}/secrets/{name}/{row['version']}",
        "attributes": {"enabled": True, "recoveryLevel": "Recoverable+Purgeable"},
    }
