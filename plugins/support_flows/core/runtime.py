"""What a task needs to do its work, built at run time from the task's context: settings, the
clients of the outside systems, and a mailer whose idempotency keys belong to this task."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from support_flows.clients.graph import GraphClient
from support_flows.clients.retry import RetryPolicy
from support_flows.clients.support_api import SupportApiHook
from support_flows.core.notifications import Mailer
from support_flows.core.settings import SETTING_NAMES, LazySettings, Settings
from support_flows.storage.reporting import ReportingStore

log = logging.getLogger(__name__)
T = TypeVar("T")


def _built_once(build: Callable[[FlowRuntime], T]) -> property:
    """Like ``cached_property``, but safe when ``prefetch``'s thread and the task ask at once."""
    name = build.__name__

    @functools.wraps(build)
    def get(self: FlowRuntime) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build(self)
            return self._built[name]

    return property(get)


# What ``prefetch`` can get ready besides settings, and how: each reads the settings it needs and
# makes the connections it will use, so that the task's own steps do not wait for them.
_PREFETCH: dict[str, Callable[[FlowRuntime], Any]] = {
    "graph": lambda rt: rt.graph.warm_up(),  # the connection and a token, on the client's loop
    "store": lambda rt: rt.store.engine,  # connected, schema version checked
    "mailer": lambda rt: (rt.settings.sender_mailbox, rt.graph.warm_up(), rt.store.engine, rt.mailer),
}


@dataclass
class FlowRuntime:
    owner: str
    settings: Settings | LazySettings
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)
    _built: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _prefetching: threading.Thread | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def current(cls, **setting_overrides: Any) -> FlowRuntime:
        """The runtime of the task now running (its id owns the side effects it claims)."""
        from airflow.sdk import get_current_context

        ctx = get_current_context()
        ti = ctx["ti"]
        owner = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}"
        return cls(owner=owner, settings=LazySettings(**setting_overrides))

    @_built_once
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_delay=lambda: self.settings.retry_base_seconds)

    @_built_once
    def api(self) -> SupportApiHook:
        """The Support API's client, its session already made from the connection."""
        hook = SupportApiHook(timeout=self.settings.api_timeout_seconds, retry_policy=self.retry_policy)
        hook.session()
        return hook

    @_built_once
    def graph(self) -> GraphClient:
        return GraphClient(timeout=self.settings.graph_timeout_seconds, retry_policy=self.retry_policy)

    @_built_once
    def store(self) -> ReportingStore:
        return ReportingStore()

    @_built_once
    def mailer(self) -> Mailer:
        return Mailer(self.graph, self.store, self.settings.sender_mailbox, self.owner)

    def prefetch(self, *names: str) -> None:
        """Get ``names`` ("graph", "store", "mailer", or settings) ready in a background thread
        while the task goes on with its steps (Flow 1's e-mail waited for a Graph token and a
        database connection after its Support API calls: docs/performance.md). Call it once the
        step's first request has what it needs: both threads share one line to the API server
        (settings, connections). A failure here is only logged: the step that needs the resource
        meets it again, with its retries and its error."""
        if self._prefetching is not None:
            raise RuntimeError("prefetch() is called once per task")
        unknown = set(names) - set(_PREFETCH) - set(SETTING_NAMES)
        if unknown:
            raise ValueError(f"cannot prefetch {sorted(unknown)}: neither a setting nor one of {sorted(_PREFETCH)}")

        def get_ready() -> None:
            for name in names:
                try:
                    _PREFETCH[name](self) if name in _PREFETCH else getattr(self.settings, name)
                except Exception as err:  # noqa: BLE001 - the step that needs it reports it
                    log.info("prefetching %s did not finish: %s", name, err)

        self._prefetching = threading.Thread(target=get_ready, name="flow-runtime-prefetch", daemon=True)
        self._prefetching.start()

    def close(self) -> None:
        """Let the clients' connections go at the end of the task (after any prefetch)."""
        if self._prefetching is not None:
            self._prefetching.join(timeout=60)
        graph = self._built.get("graph")
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
