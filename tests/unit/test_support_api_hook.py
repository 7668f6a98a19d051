"""The Support API hook against requests-mock: retries, backoff, refusals, pagination, timeouts."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests

from support_flows.clients.retry import CallRetryPolicy
from support_flows.clients.support_api import (
    SupportApiError,
    SupportApiHook,
    SupportApiRequestError,
    SupportApiResponseError,
)

BASE = "http://api.test:5000"
TICKET = {"id": 7, "status": "new", "subject": "s"}


@pytest.fixture(autouse=True)
def api_connection(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SUPPORT_API",
        json.dumps({"conn_type": "http", "host": "api.test", "port": 5000, "schema": "http"}),
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def hook(sleeps) -> SupportApiHook:
    return SupportApiHook(retry_policy=CallRetryPolicy(base_delay=1.0, jitter=0), sleep=sleeps.append)


def test_creates_a_ticket_and_returns_it(requests_mock, hook):
    requests_mock.post(f"{BASE}/api/tickets", json=TICKET, status_code=201)
    assert hook.create_ticket(customer_name="A", subject="s") == TICKET
    assert requests_mock.last_request.json() == {"customer_name": "A", "subject": "s"}


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 503},
        {"status_code": 500},
        {"status_code": 502},
        {"exc": requests.exceptions.ConnectTimeout},
        {"exc": requests.exceptions.ReadTimeout},
        {"exc": requests.exceptions.ConnectionError},
    ],
)
def test_transient_failures_are_retried_with_exponential_backoff(requests_mock, hook, sleeps, failure):
    requests_mock.get(f"{BASE}/api/tickets/7", [failure, failure, {"json": TICKET}])
    assert hook.get_ticket(7) == TICKET
    assert requests_mock.call_count == 3
    assert sleeps == [1.0, 2.0]


def test_gives_up_after_three_attempts_with_the_last_error(requests_mock, hook, sleeps):
    requests_mock.get(f"{BASE}/api/tickets/7", status_code=503, json={"error": "maintenance"})
    with pytest.raises(SupportApiError, match=r"GET /api/tickets/7 failed after 3 attempts: HTTP 503: maintenance"):
        hook.get_ticket(7)
    assert requests_mock.call_count == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("retry_after, expected", [("7", 7.0), ("0", 0.0), ("1000", 30.0)])
def test_429_honours_retry_after(requests_mock, hook, sleeps, retry_after, expected):
    requests_mock.get(
        f"{BASE}/api/agents/3",
        [{"status_code": 429, "headers": {"Retry-After": retry_after}}, {"json": {"id": 3, "email": "a@x"}}],
    )
    assert hook.get_agent(3)["id"] == 3
    assert sleeps == [expected]  # capped at the policy's max_delay


def test_retry_after_as_http_date(requests_mock, hook, sleeps):
    requests_mock.get(
        f"{BASE}/api/agents/3",
        [
            {"status_code": 429, "headers": {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}},
            {"json": {"id": 3, "email": "a@x"}},
        ],
    )
    hook.get_agent(3)
    assert sleeps == [0.0]  # a date in the past: no wait


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_fail_at_once_with_the_servers_message(requests_mock, hook, sleeps, status):
    requests_mock.post(
        f"{BASE}/api/tickets/7/assign",
        status_code=status,
        json={"error": "agent_id: agent 99 does not exist", "field": "agent_id"},
    )
    with pytest.raises(SupportApiRequestError, match="agent 99 does not exist") as caught:
        hook.assign_ticket(7, 99, "admin")
    assert caught.value.status == status and caught.value.field == "agent_id"
    assert requests_mock.call_count == 1 and sleeps == []


def test_a_malformed_answer_names_what_was_expected(requests_mock, hook):
    requests_mock.get(f"{BASE}/api/tickets/7", text="<html>oops</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(SupportApiResponseError, match="expected a JSON answer"):
        hook.get_ticket(7)
    requests_mock.get(f"{BASE}/api/tickets/7", json={"unexpected": True})
    with pytest.raises(SupportApiResponseError, match="expected a ticket with id, status; missing id, status"):
        hook.get_ticket(7)


def test_every_call_has_a_timeout(requests_mock, monkeypatch):
    seen = []
    original = requests.Session.request

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    requests_mock.get(f"{BASE}/api/tickets/7", json=TICKET)
    SupportApiHook(timeout=4.5).get_ticket(7)
    assert seen == [4.5]


def test_connection_extra_timeout_overrides_the_default(requests_mock, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SUPPORT_API",
        json.dumps({"conn_type": "http", "host": "api.test", "port": 5000, "schema": "http", "extra": {"timeout": 2}}),
    )
    requests_mock.get(f"{BASE}/health", json={"status": "ok"})
    hook = SupportApiHook()
    hook.request("GET", "health")
    assert hook.timeout == 2.0


@pytest.mark.parametrize("extra_headers", [{}, {"X-Api-Key": "k"}])
def test_connection_extra_headers_are_sent(requests_mock, monkeypatch, extra_headers):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SUPPORT_API",
        json.dumps({"conn_type": "http", "host": "api.test", "port": 5000, "schema": "http", "extra": extra_headers}),
    )
    requests_mock.get(f"{BASE}/api/tickets/7", json=TICKET)
    SupportApiHook().get_ticket(7)
    sent = requests_mock.last_request.headers
    assert {name: sent.get(name) for name in extra_headers} == extra_headers
    assert ("X-Api-Key" in sent) == ("X-Api-Key" in extra_headers)  # nothing sent that was not configured


def test_iter_tickets_follows_the_cursor_and_passes_filters(requests_mock, hook):
    requests_mock.get(
        f"{BASE}/api/tickets",
        [
            {"json": {"items": [{"id": 1}, {"id": 2}], "next_cursor": "c1"}},
            {"json": {"items": [{"id": 3}], "next_cursor": None}},
        ],
    )
    got = list(hook.iter_tickets(status="assigned", unassigned=True, created_on=date(2026, 11, 1), page_size=2))
    assert [t["id"] for t in got] == [1, 2, 3]
    first, second = requests_mock.request_history
    assert first.qs == {"status": ["assigned"], "unassigned": ["true"], "created_on": ["2026-11-01"], "limit": ["2"]}
    assert second.qs["cursor"] == ["c1"]


def test_iter_tickets_is_lazy(requests_mock, hook):
    requests_mock.get(f"{BASE}/api/tickets", json={"items": [{"id": 1}], "next_cursor": "more"})
    pages = hook.iter_tickets()
    assert next(pages)["id"] == 1
    assert requests_mock.call_count == 1


def test_test_connection_reports_health(requests_mock, hook):
    requests_mock.get(f"{BASE}/health", json={"status": "ok"})
    assert hook.test_connection() == (True, "Support API is reachable")
    requests_mock.get(f"{BASE}/health", status_code=404, json={"error": "nope"})
    ok, message = hook.test_connection()
    assert not ok and "nope" in message


def test_hook_metadata_follows_airflow_conventions():
    assert SupportApiHook.conn_type == "http"
    assert SupportApiHook.default_conn_name == "support_api"
    assert SupportApiHook.conn_name_attr == "support_api_conn_id"
    hook = SupportApiHook()
    assert hook._session is None  # nothing is built until the first call


def test_a_long_list_logs_its_progress_after_each_page(requests_mock, hook, caplog):
    """Rows so far and the rate, once per page, so a person watching a long task's log sees it move."""
    pages = [
        {"items": [{"id": n} for n in range(start, start + 2)], "next_cursor": cursor}
        for start, cursor in ((0, "b"), (2, "c"), (4, None))
    ]
    requests_mock.get(f"{BASE}/api/tickets", [{"json": page} for page in pages])
    ticks = iter([0.0, 1.0, 2.0, 4.0])
    with caplog.at_level("INFO", logger="support_flows.clients.support_api"):
        items = list(hook.iter_pages("api/tickets", "ticket page", 2, {}, clock=lambda: next(ticks)))
    assert [item["id"] for item in items] == list(range(6))
    lines = [r.getMessage() for r in caplog.records if r.name == "support_flows.clients.support_api"]
    assert lines == [
        "api/tickets: 1 pages, 2 items so far (2 items/s)",
        "api/tickets: 2 pages, 4 items so far (2 items/s)",
        "api/tickets: 3 pages, 6 items so far (2 items/s), done",
    ]


def test_a_single_page_logs_nothing(requests_mock, hook, caplog):
    requests_mock.get(f"{BASE}/api/tickets", json={"items": [{"id": 1}], "next_cursor": None})
    with caplog.at_level("INFO", logger="support_flows.clients.support_api"):
        assert len(list(hook.iter_tickets())) == 1
    assert not [r for r in caplog.records if r.name == "support_flows.clients.support_api"]
