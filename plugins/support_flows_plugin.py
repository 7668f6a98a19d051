"""Registers the package's Airflow extensions (the plugins folder's only entry point):
the REST guard against unknown conf fields."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from support_flows.api_guard import UnknownConfFieldGuard


class SupportFlowsPlugin(AirflowPlugin):
    name = "support_flows"
    fastapi_root_middlewares = [
        {"middleware": UnknownConfFieldGuard, "args": [], "kwargs": {}, "name": "Refuse unknown conf fields"},
    ]
