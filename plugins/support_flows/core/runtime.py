"""What a task needs to do its work, built at run time from the task's context: settings, the
clients of the outside systems, and a mailer whose idempotency keys belong to this task."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from support_flows.clients.graph import GraphClient
from support_flows.clients.retry import CallRetryPolicy
from support_flows.clients.support_api import SupportApiHook
from support_flows.core.mailer import Mailer
from support_flows.core.settings import LazySettings, Settings
from support_flows.storage.reporting import ReportingStore


@dataclass
class FlowRuntime:
    """One task's settings, clients, store and mailer, each made on first use, in the task's own
    thread (a background thread that got them ready early bought nothing measurable:
    docs/performance.md)."""

    owner: str
    settings: Settings | LazySettings

    @classmethod
    def current(cls, **setting_overrides: Any) -> FlowRuntime:
        """The runtime of the task now running (its id owns the side effects it claims)."""
        from airflow.sdk import get_current_context

        ctx = get_current_context()
        ti = ctx["ti"]
        owner = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}"
        return cls(owner=owner, settings=LazySettings(**setting_overrides))

    @functools.cached_property
    def retry_policy(self) -> CallRetryPolicy:
        return CallRetryPolicy(base_delay=lambda: self.settings.retry_base_seconds)

    @functools.cached_property
    def api(self) -> SupportApiHook:
        """The Support API's client, its session already made from the connection."""
        hook = SupportApiHook(timeout=self.settings.api_timeout_seconds, retry_policy=self.retry_policy)
        hook.session()
        return hook

    @functools.cached_property
    def graph(self) -> GraphClient:
        return GraphClient(timeout=self.settings.graph_timeout_seconds, retry_policy=self.retry_policy)

    @functools.cached_property
    def store(self) -> ReportingStore:
        return ReportingStore()

    @functools.cached_property
    def mailer(self) -> Mailer:
        return Mailer(self.graph, self.store, self.settings, self.owner)

    def close(self) -> None:
        """Let the clients' connections go at the end of the task."""
        graph = self.__dict__.get("graph")  # only if the task made one
        if graph is not None:
            graph.close()

    def ticket_link(self, ticket_id: int) -> str:
        return f"{self.settings.portal_url.rstrip('/')}/{ticket_id}"


def run_moment() -> datetime:
    """The moment the running DAG run is about: its logical date (for a scheduled run, the end of
    its interval: the schedules are CronTriggerTimetables, where the two are the same), or, for a
    run triggered without one, when it was triggered. Every scheduled DAG asks here."""
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    return ctx.get("logical_date") or ctx["dag_run"].run_after


def run_day(timezone: str, requested: str | None = None) -> date:
    """The day the running DAG run is about: ``requested`` (a YYYY-MM-DD Param, to redo a past
    day), else the day of its moment in the support centre's time zone."""
    if requested:
        return date.fromisoformat(requested)
    return run_moment().astimezone(ZoneInfo(timezone)).date()
