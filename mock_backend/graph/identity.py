"""The Microsoft identity platform: the OpenID discovery document MSAL reads, and the
client-credentials token endpoint.
"""

from __future__ import annotations

import secrets

from flask import request

from mock_backend.graph.common import TOKEN_PREFIX, token_bp


@token_bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str):
    """The tenant's OpenID configuration, which MSAL reads before asking for a token."""
    base = request.host_url.rstrip("/")
    return {
        "issuer": f"{base}/{tenant}/v2.0",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_types_supported": ["code", "token"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }


@token_bp.post("/<tenant>/oauth2/v2.0/token")
def issue_token(tenant: str):
    """The identity platform's client-credentials token for Graph."""
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return {"error": "unsupported_grant_type", "error_description": "Only client_credentials is supported."}, 400
    if not form.get("client_id") or not (form.get("client_secret") or form.get("client_assertion")):
        return {"error": "invalid_client", "error_description": "client_id and client_secret are required."}, 401
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}"
    return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
