"""Every loop over the Support API makes progress or stops loudly: a cursor that does not move, an
event batch the watcher cannot use. Each case is fed to the reader that would otherwise spin."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest

from support_flows.clients.retry import CallRetryPolicy
from support_flows.clients.support_api import (
    MalformedEventFeed,
    SupportApiHook,
    SupportApiResponseError,
    event_batch,
)
from support_flows.operations import events as watcher

BASE = "http://api.test:5000"


def event(event_id: int, kind: str = "ticket.created", **data) -> dict:
    return {
        "id": event_id,
        "type": kind,
        "created_at": "2026-12-01T10:00:00Z",
        "data": {"ticket_id": 5, "origin": "channel", **data},
    }


@pytest.fixture
def hook(monkeypatch) -> SupportApiHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SUPPORT_API",
        json.dumps({"conn_type": "http", "host": "api.test", "port": 5000, "schema": "http"}),
    )
    return SupportApiHook(retry_policy=CallRetryPolicy(base_delay=0, jitter=0), sleep=lambda _: None)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"items": {}, "last_id": 3}, "items is dict"),
        ({"items": [], "last_id": "3"}, "last_id is '3'"),
        ({"items": [event(2)], "last_id": 3}, "id 2 is not an integer after 2"),
        ({"items": [event(4), event(4)], "last_id": 4}, "id 4 is not an integer after 4"),
        ({"items": [{**event(4), "type": None}], "last_id": 4}, "event 4: type is missing"),
        ({"items": [{**event(4), "data": []}], "last_id": 4}, "event 4: data is missing or not a dict"),
        ({"items": [event(4, ticket_id="5")], "last_id": 4}, "event 4 (ticket.created): data.ticket_id is '5'"),
        ({"items": [event(4, "feedback.submitted")], "last_id": 4}, "data.feedback_id is None"),
        ({"items": [event(4)], "last_id": 3}, "last_id 3 is before its last event 4"),
        ({"items": [], "last_id": 1}, "last_id 1 is before its last event 2"),
    ],
)
def test_a_malformed_event_batch_names_the_event_and_field(payload, named):
    with pytest.raises(MalformedEventFeed, match=named.replace("(", r"\(").replace(")", r"\)")):
        event_batch(payload, after=2)


def test_a_good_batch_passes_unchanged():
    batch = {"items": [event(3), event(9, "feedback.submitted", feedback_id=4)], "last_id": 12}
    assert event_batch(batch, after=2) is batch
    assert event_batch({"items": [], "last_id": 2}, after=2)["items"] == []


def test_the_hook_refuses_a_malformed_batch_without_retrying(requests_mock, hook):
    requests_mock.get(f"{BASE}/api/events", json={"items": [event(1, ticket_id=None)], "last_id": 1})
    with pytest.raises(MalformedEventFeed, match="event 1 .*data.ticket_id"):
        hook.list_events(after=0)
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    "pages",
    [
        [{"items": [{"id": 1}], "next_cursor": "a"}, {"items": [{"id": 2}], "next_cursor": "a"}],
        [{"items": [{"id": 1}], "next_cursor": "a"}, {"items": [], "next_cursor": "b"}],
    ],
    ids=["repeated cursor", "empty page naming a next one"],
)
def test_a_list_whose_cursor_does_not_move_stops_with_a_named_error(requests_mock, hook, pages):
    requests_mock.get(f"{BASE}/api/tickets", [{"json": page} for page in pages] * 50)
    with pytest.raises(SupportApiResponseError, match="ticket page cursor did not move"):
        list(hook.iter_tickets(page_size=1))
    assert requests_mock.call_count == 2


class FeedApi:
    """``list_events`` answering a fixed batch for every cursor (a feed stuck in place)."""

    def __init__(self, batch: dict):
        self.batch, self.calls = batch, 0

    def list_events(self, after, limit, types):
        self.calls += 1
        if self.calls > 5:
            raise AssertionError("read_events kept reading a feed that does not move")
        return self.batch


def test_reading_a_window_stops_when_the_cursor_does_not_move():
    api = FeedApi({"items": [event(7)], "last_id": 6})
    with pytest.raises(MalformedEventFeed, match="cursor did not move"):
        watcher.read_events(api, after=6, up_to=20)
    assert api.calls == 1


class ScriptedFeed:
    """An async event feed that answers the scripted results in turn (then repeats the last)."""

    url = "http://api.test/api/events"

    def __init__(self, script: list):
        self.script, self.reads = script, []

    async def list_events(self, after, limit=100, types=()):
        self.reads.append(after)
        answer = self.script[min(len(self.reads) - 1, len(self.script) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return event_batch(answer, after)


def run_trigger(monkeypatch, feed: ScriptedFeed, **kwargs) -> tuple[dict, list[float]]:
    import support_flows.clients.support_api as client

    @asynccontextmanager
    async def fake_feed(conn_id, timeout):
        yield feed

    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def counting_sleep(seconds):
        sleeps.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(client, "event_feed", fake_feed)
    monkeypatch.setattr(watcher.asyncio, "sleep", counting_sleep)
    trigger = watcher.BackendEventTrigger(after=0, **{"poll_interval": 0.5, "max_wait": 600.0, **kwargs})

    async def first():
        async for fired in trigger.run():
            return fired.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout=10)), sleeps


def test_the_trigger_sleeps_between_empty_batches(monkeypatch):
    feed = ScriptedFeed([{"items": [], "last_id": 0}] * 3 + [{"items": [event(1)], "last_id": 1}])
    fired, sleeps = run_trigger(monkeypatch, feed)
    assert fired == {"after": 0, "seen_up_to": 1, "relevant": 1}
    assert sleeps == [0.5, 0.5, 0.5]


def test_the_trigger_fails_at_once_on_a_malformed_batch_naming_event_and_field(monkeypatch):
    feed = ScriptedFeed([{"items": [], "last_id": 0}, {"items": [event(3, ticket_id=None)], "last_id": 3}])
    fired, _ = run_trigger(monkeypatch, feed)
    assert fired["malformed"] is True and fired["seen_up_to"] == 0
    assert "event 3 (ticket.created): data.ticket_id is None" in fired["feed_error"]
    assert len(feed.reads) == 2

    sensor = watcher.BackendEventSensor(task_id="wait_for_events")
    with pytest.raises(watcher.EventFeedUnavailable, match="cannot use: .*event 3 .*data.ticket_id"):
        sensor.execute_complete({}, fired)
