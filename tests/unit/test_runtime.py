"""A task's runtime: its settings are read when first used, once each, and the retry policy reads
its base delay only at a first retry."""

from __future__ import annotations

import time

import pytest

from support_flows.core import settings as settings_module
from support_flows.core.runtime import FlowRuntime
from support_flows.core.settings import LazySettings


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every setting read from Airflow, slowed down like a round trip to the API server."""
    seen: list[str] = []
    original = settings_module._read

    def slow_read(name, kind):
        seen.append(name)
        time.sleep(0.05)
        return original(name, kind)

    monkeypatch.setattr(settings_module, "_read", slow_read)
    return seen


def test_the_retry_policy_reads_its_base_delay_at_the_first_retry(reads, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_RETRY_BASE_SECONDS", "0.25")
    rt = FlowRuntime(owner="test", settings=LazySettings())
    policy = rt.retry_policy
    assert reads == []
    assert 0.25 <= policy.delay(1) <= 0.25 * 1.1 and reads == ["retry_base_seconds"]


def test_a_setting_is_read_when_first_used_and_only_once(reads, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_PORTAL_URL", "https://desk.example.com/t")
    rt = FlowRuntime(owner="test", settings=LazySettings())
    assert reads == []
    assert [rt.ticket_link(7), rt.ticket_link(8)] == ["https://desk.example.com/t/7", "https://desk.example.com/t/8"]
    assert reads == ["portal_url"]


def test_closing_a_runtime_that_made_no_graph_client_makes_none(monkeypatch):
    rt = FlowRuntime(owner="test", settings=LazySettings())
    rt.close()
    assert "graph" not in rt.__dict__
