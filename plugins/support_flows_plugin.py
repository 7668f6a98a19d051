"""Registers the package's Airflow extensions (the plugins folder's only entry point): the
listener behind the central error log, failure alerts and failure reasons, the REST guard on
trigger bodies, and the integration keys of the PowerApps connection."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from support_flows.server import listener
from support_flows.server.api_guard import UnknownConfFieldGuard
from support_flows.server.api_keys import ApiKeyAuth


class SupportFlowsPlugin(AirflowPlugin):
    name = "support_flows"
    listeners = [listener]
    fastapi_root_middlewares = [
        {"middleware": UnknownConfFieldGuard, "args": [], "kwargs": {}, "name": "Check trigger bodies"},
        {"middleware": ApiKeyAuth, "args": [], "kwargs": {}, "name": "Integration keys (X-Api-Key)"},
    ]
