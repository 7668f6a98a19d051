"""What a request with an integration key may reach, and the token it reaches it with.

A key reaches only the routes that start flows and answer their outcomes (``KEYED_ROUTES``;
Airflow's token routes are not among them, so a key is never exchanged for a token). There it acts
as its user: the middleware (``support_flows.server.api_keys``) hands Airflow a JWT of that user
living ``KEYED_TOKEN_SECONDS`` (the one request, never returned to the caller), and Airflow's own
authorisation (the ``PowerApps`` role) decides. How often a key may start runs and how many wrong
keys a source may send: ``support_flows.server.limits``.
"""

from __future__ import annotations

import re

from support_flows.server.api_guard import api_path

KEYED_TOKEN_SECONDS = 120  # the JWT handed to Airflow for one keyed request


def token_for(user_id: int) -> str:
    """A JWT for the user from Airflow's auth manager, living as long as one request needs."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    return manager.generate_jwt(
        manager.deserialize_user({"sub": str(user_id)}), expiration_time_in_seconds=KEYED_TOKEN_SECONDS
    )


TRIGGER_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$|^/support/v1/flows/(?P<flow>[^/]+)/?$")
# The only routes a key reaches: start a flow (Airflow's REST trigger, or the one-call API) and the
# one-call API's own routes (the flows it may start, the outcome of a run it started). Everything
# else, Airflow's token routes (``/auth/token``, ``/ui/auth/token``) included, is refused before
# Airflow sees the request: a key is never exchanged for a token, and never reads runs, XComs,
# task instances, logs or the UI's endpoints, whatever its user's role would allow.
KEYED_ROUTES = (
    ("POST", re.compile(r"^/api/v2/dags/[^/]+/dagRuns/?$")),
    ("GET", re.compile(r"^/support/v1/flows/?$")),
    ("POST", re.compile(r"^/support/v1/flows/[^/]+/?$")),
    ("GET", re.compile(r"^/support/v1/flows/[^/]+/runs/[^/]+/?$")),
    ("GET", re.compile(r"^/api/v2/monitor/health/?$")),
)
KEYED_ROUTES_TEXT = "POST /api/v2/dags/{dag_id}/dagRuns, POST /support/v1/flows/{dag_id} and its outcome route"


def keyed_route(scope) -> bool:
    """Whether a request with a key may go on: one of ``KEYED_ROUTES``, under any base-URL prefix."""
    method, path = scope.get("method"), api_path(scope)
    return any(method == allowed and pattern.match(path) for allowed, pattern in KEYED_ROUTES)


def starts_a_run(scope) -> bool:
    from support_flows.authoring.catalog import allowed_conf_keys

    match = TRIGGER_PATH.match(api_path(scope))
    dag_id = match and (match["dag_id"] or match["flow"])
    return bool(scope.get("method") == "POST" and dag_id and allowed_conf_keys(dag_id) is not None)
