"""Backend events that start flows without PowerApps: tickets that arrive through other channels
(web form, e-mail, phone, chat) start Flow 1, a customer's reply hands an AI-answered ticket to the
agents (``support_customer_replied``), and answers to the survey link start Flow 6.

The backend's event feed is an ordered list read with a cursor. The watcher DAG
(``support_backend_events``) keeps that cursor in the reporting database, so it survives any
restart, and gives each event's flow run a run id made from the event id, so an event read twice
(a crash between triggering and saving the cursor) still makes exactly one run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from support_flows.core.contract import FlowContract
from support_flows.flows.feedback import FEEDBACK_RECEIVED
from support_flows.flows.replies import CUSTOMER_REPLIED
from support_flows.flows.tickets import TICKET_CREATED

BACKEND_EVENTS = FlowContract(
    dag_id="support_backend_events",
    flow="1 and 6 from other channels, customers' replies, survey answers",
    kind="continuous",
    starts="continuously",
    returns="flow runs started",
    flow_tags=("flow-1", "flow-6"),
    extra_tags=("watcher",),
)

log = logging.getLogger(__name__)

WATERMARK = "backend_events"
LAGGING = "WatcherLagging"
# Each flow a backend event starts declares which, and the conf its run gets (its contract's ``events``).
STARTED_BY = {kind: flow for flow in (TICKET_CREATED, CUSTOMER_REPLIED, FEEDBACK_RECEIVED) for kind in flow.events}
EVENT_TYPES = tuple(STARTED_BY)
# Read this far past the cursor without finding anything to do, the trigger still fires, so the
# cursor moves on and the next wait starts near the head of the feed.
IDLE_SCAN_LIMIT = 1000


def is_relevant(event: dict) -> bool:
    """Events the flows have not seen: PowerApps' own tickets and feedback already started one."""
    flow = STARTED_BY.get(event["type"])
    return flow is not None and flow.events[event["type"]].when(event)


def run_id_for(event: dict) -> str:
    return f"backend_event__{event['id']}"


def flow_run_for(event: dict, api) -> dict | None:
    """The flow run an event asks for, as TriggerDagRunOperator arguments, or None."""
    if not is_relevant(event):
        return None
    flow = STARTED_BY[event["type"]]
    conf = flow.events[event["type"]].conf(event, api)
    return {"trigger_dag_id": flow.dag_id, "trigger_run_id": run_id_for(event), "conf": conf}


SQUATTED = "RunIdTaken"


def own_runs(planned: list[tuple[dict, dict]], rt, run_exists, dag_id: str, run_id: str) -> list[dict]:
    """The planned runs (``(event, run)`` pairs) with the run ids this watcher owns.

    Each id is claimed in the side-effect ledger before the run is started, so an event read again
    (a crash before the cursor moved) reuses it and the start is skipped as a repeat. A run that
    already exists under the id with no claim was not started by the watcher (someone chose the
    id): the event gets a run of its own under a fresh id, so no ticket is left unanswered, and
    the taken ids are reported (one error-log row and alert for the batch)."""
    import secrets

    from support_flows.operations import alerts

    taken: list[str] = []
    owned = []
    for event, run in planned:

        def choose(run=run, event=event) -> str:
            name = run["trigger_run_id"]
            if not run_exists(run["trigger_dag_id"], name):
                return name
            fresh = f"{name}__{secrets.token_hex(4)}"
            taken.append(f"{name} of {run['trigger_dag_id']} (event {event['id']}, {event['type']}: now run {fresh})")
            return fresh

        chosen, _ = rt.store.once(f"watcher-run:{event['id']}", "flow_run", rt.owner, choose)
        owned.append({**run, "trigger_run_id": chosen})
    if taken:
        message = (
            f"{len(taken)} run id(s) the watcher gives events exist as runs the watcher did not start "
            f"(someone chose them): {'; '.join(taken)}. Each event was handled under a fresh id."
        )
        log.warning("backend events: %s", message)
        failure = alerts.run_failure(dag_id, run_id, "plan_flow_runs", SQUATTED, message)
        alerts.handle_failure(failure, rt.settings, store=rt.store)
    return owned


def read_events(api, after: int, up_to: int) -> list[dict]:
    """The events after ``after`` up to ``up_to`` (the window the trigger saw: the cursor then
    moves to ``up_to``, so later events wait for the next run)."""
    from support_flows.clients.support_api import MalformedEventFeed

    events: list[dict] = []
    position = after
    while position < up_to:
        batch = api.list_events(after=position, limit=100, types=list(EVENT_TYPES))
        if not batch["items"]:
            break
        if batch["last_id"] <= position:  # the client refuses this; a cursor must move to loop again
            raise MalformedEventFeed(
                f"event batch after {position}: the cursor did not move (last_id {batch['last_id']})"
            )
        events.extend(event for event in batch["items"] if event["id"] <= up_to)
        position = batch["last_id"]
    return events


def oldest_wait(events: list[dict], now: datetime) -> tuple[float, dict] | None:
    """How long the oldest event that starts a flow has waited for it (seconds), and that event."""
    from support_flows.core.times import moment

    waiting = [((now - moment(str(e["created_at"]))).total_seconds(), e) for e in events if is_relevant(e)]
    return max(waiting, key=lambda pair: pair[0]) if waiting else None


def report_lag(rt, events: list[dict], dag_id: str, run_id: str) -> float | None:
    """The watcher's lag: logged every run, alerted (flow_errors + the administrators' e-mail, as a
    failure) past ``watcher_lag_alert_minutes``. A stopped watcher is caught by its deadline
    (``support_flows.operations.lateness``)."""
    from support_flows.core import metrics, times
    from support_flows.operations import alerts

    oldest = oldest_wait(events, times.now())
    metrics.watcher_lag(oldest[0] if oldest else 0.0)
    if oldest is None:
        return None
    lag, event = oldest
    log.info("backend events: the oldest event to start a flow (%s, %s) waited %.0f s", event["id"], event["type"], lag)
    threshold = rt.settings.watcher_lag_alert_minutes
    if lag > threshold * 60:
        message = (
            f"event {event['id']} ({event['type']}) waited {lag / 60:.0f} minutes for its flow "
            f"(alert threshold {threshold:g} minutes): the flows it starts are behind"
        )
        failure = alerts.run_failure(dag_id, run_id, "watcher_lag", LAGGING, message)
        alerts.handle_failure(failure, rt.settings, store=rt.store)
    return lag


class EventFeedUnavailable(AirflowFailException):
    """The event feed answered nothing for a whole wait. Not retried: the watcher runs
    continuously, so its next run goes on watching from the same cursor at once."""


class BackendEventTrigger(BaseTrigger):
    """Wait, in the triggerer, until the feed holds an event after ``after`` that starts a flow.

    Polls ``GET /api/events`` on the ``support_api`` connection; costs no worker slot while waiting.
    A feed that answers nothing for ``max_wait`` seconds in a row ends the wait with ``feed_error``
    (the sensor then fails, so the outage reaches the error log and the administrator); shorter
    outages are waited out.
    """

    def __init__(
        self,
        after: int,
        poll_interval: float = 5.0,
        max_wait: float = 600.0,
        conn_id: str = "support_api",
        timeout: float = 30.0,
    ):
        super().__init__()
        self.after, self.poll_interval, self.max_wait = after, poll_interval, max_wait
        self.conn_id, self.timeout = conn_id, timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "support_flows.operations.events.BackendEventTrigger",
            {
                "after": self.after,
                "poll_interval": self.poll_interval,
                "max_wait": self.max_wait,
                "conn_id": self.conn_id,
                "timeout": self.timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from support_flows.clients.support_api import MalformedEventFeed, event_feed

        position = self.after
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        failing_since: float | None = None
        async with event_feed(self.conn_id, self.timeout) as feed:
            while True:
                try:
                    batch = await feed.list_events(position, limit=100, types=EVENT_TYPES)
                except MalformedEventFeed as err:
                    # reading again gives the same batch: stop now, naming the event and field
                    yield TriggerEvent(
                        {
                            "after": self.after,
                            "seen_up_to": position,
                            "relevant": 0,
                            "feed_error": str(err),
                            "malformed": True,
                        }
                    )
                    return
                except Exception as err:  # noqa: BLE001 - any failure to read is an outage of the feed
                    if failing_since is None:
                        failing_since = loop.time()
                    failing_for = loop.time() - failing_since
                    if failing_for >= self.max_wait:
                        error = f"{feed.url}: {type(err).__name__}: {err}"
                        yield TriggerEvent(
                            {
                                "after": self.after,
                                "seen_up_to": position,
                                "relevant": 0,
                                "feed_error": error,
                                "failing_for": failing_for,
                            }
                        )
                        return
                    self.log.warning("event feed unavailable (%s); trying again in %.0fs", err, self.poll_interval)
                    await asyncio.sleep(self.poll_interval)
                    continue
                failing_since = None
                relevant = sum(1 for event in batch["items"] if is_relevant(event))
                advanced = batch["last_id"] > position
                position = batch["last_id"]
                if relevant or position - self.after >= IDLE_SCAN_LIMIT or loop.time() >= deadline:
                    # After max_wait the run ends even with nothing to do, so the UI shows a
                    # heartbeat of short runs rather than one run that never finishes.
                    yield TriggerEvent({"after": self.after, "seen_up_to": position, "relevant": relevant})
                    return
                if not batch["items"] or not advanced:
                    await asyncio.sleep(self.poll_interval)


class BackendEventSensor(BaseSensorOperator):
    """Defers to ``BackendEventTrigger`` from the durable cursor; returns the trigger's event.
    Poll interval and longest wait are settings (``event_poll_seconds``, ``event_max_wait_seconds``)."""

    def execute(self, context: Any) -> None:
        from support_flows.core.settings import load_settings
        from support_flows.storage.reporting import ReportingStore

        settings = load_settings()
        after = ReportingStore().get_watermark(WATERMARK)
        self.defer(
            trigger=BackendEventTrigger(
                after=after, poll_interval=settings.event_poll_seconds, max_wait=settings.event_max_wait_seconds
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Any) -> bool:  # the sensor always defers; poke is never the path taken
        return False

    def execute_complete(self, context: Any, event: dict) -> dict:
        if event.get("malformed"):
            raise EventFeedUnavailable(
                f"the backend's event feed answered a batch the watcher cannot use: {event['feed_error']} "
                f"(the cursor stays at event {event['after']}; fix the feed, then the next run starts there)"
            )
        if event.get("feed_error"):
            raise EventFeedUnavailable(
                f"the backend's event feed answered nothing for {event['failing_for']:.0f} s: "
                f"{event['feed_error']} (the cursor stays at event {event['after']}; the next run starts there)"
            )
        return event
