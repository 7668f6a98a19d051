"""Registers the package's Airflow extensions: the listener behind the central error log, failure
alerts and failure reasons, the REST guard on trigger bodies, the integration keys of the
PowerApps connection, and the one-call API PowerApps starts a flow with (``/support/v1``).

Airflow finds it through the package's ``airflow.plugins`` entry point (pyproject.toml), so an
installed package is all a deployment needs: no plugins folder, no PYTHONPATH. Keep this module out
of any plugins folder Airflow scans, or the plugin is registered twice."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from support_flows.server import listener
from support_flows.server.api_guard import UnknownConfFieldGuard
from support_flows.server.api_keys import ApiKeyAuth
from support_flows.server.flow_calls import URL_PREFIX
from support_flows.server.flow_calls import app as flow_calls_app


class SupportFlowsPlugin(AirflowPlugin):
    name = "support_flows"
    listeners = [listener]
    fastapi_apps = [{"app": flow_calls_app, "url_prefix": URL_PREFIX, "name": "Support flows: one call per flow"}]
    fastapi_root_middlewares = [
        {"middleware": UnknownConfFieldGuard, "args": [], "kwargs": {}, "name": "Check trigger bodies"},
        {"middleware": ApiKeyAuth, "args": [], "kwargs": {}, "name": "Integration keys (X-Api-Key)"},
    ]
