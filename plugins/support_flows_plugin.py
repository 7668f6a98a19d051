"""Registers the package's Airflow extensions (the plugins folder's only entry point): the
listener behind the central error log and failure alerts, and the REST guard against unknown conf
fields, and the least-privilege guard of the PowerApps user."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from support_flows import listener
from support_flows.api_guard import EventDagsOnlyGuard, UnknownConfFieldGuard


class SupportFlowsPlugin(AirflowPlugin):
    name = "support_flows"
    listeners = [listener]
    fastapi_root_middlewares = [
        {"middleware": UnknownConfFieldGuard, "args": [], "kwargs": {}, "name": "Refuse unknown conf fields"},
        {"middleware": EventDagsOnlyGuard, "args": [], "kwargs": {}, "name": "Event DAGs only for PowerApps"},
    ]
