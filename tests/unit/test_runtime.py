"""A task's runtime: what ``prefetch`` gets ready in the background is used, not made twice, and a
prefetch that fails leaves the error to the step that needs the resource."""

from __future__ import annotations

import threading
import time

import pytest

from support_flows.core import notifications
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


def test_prefetched_mailer_sends_with_its_token_and_connection_made_once(connections, mock, reads):
    rt = FlowRuntime(owner="test/run/task/-1", settings=LazySettings())
    rt.prefetch("sender_mailbox", "mailer")
    assert rt.settings.sender_mailbox == "support@support.example.com"  # while the thread reads it too
    sent = rt.mailer.send("ticket-1:ack", notifications.Email(("maria@example.org",), "Received", "<p>Hi</p>"))
    rt.close()
    assert sent and len(mock.mail()) == 1 and mock.token_requests() == 1
    assert reads.count("sender_mailbox") == 1 and reads.count("graph_timeout_seconds") == 1
    assert "retry_base_seconds" not in reads  # read only when a call has to be retried


def test_a_failed_prefetch_is_only_logged_and_the_step_meets_the_error(connections, mock, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_SUPPORT_REPORTING", '{"conn_type": "sqlite", "host": "/nonexistent/dir/x.db"}')
    rt = FlowRuntime(owner="test/run/task/-1", settings=LazySettings())
    rt.prefetch("store")
    rt._prefetching.join(timeout=30)
    assert "prefetching store did not finish" in caplog.text
    with pytest.raises(Exception, match="unable to open database file"):
        rt.store.engine  # noqa: B018
    rt.close()


def test_prefetch_names_what_it_cannot_get():
    rt = FlowRuntime(owner="test", settings=LazySettings())
    with pytest.raises(ValueError, match=r"cannot prefetch \['mailbox'\]"):
        rt.prefetch("mailbox", "graph")


def test_settings_read_by_two_threads_at_once_are_read_once(reads, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_PORTAL_URL", "https://desk.example.com/t")
    settings = LazySettings()
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(settings.portal_url)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["https://desk.example.com/t"] * 4 and reads == ["portal_url"]


def test_the_retry_policy_reads_its_base_delay_at_the_first_retry(reads, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_RETRY_BASE_SECONDS", "0.25")
    rt = FlowRuntime(owner="test", settings=LazySettings())
    policy = rt.retry_policy
    assert reads == []
    assert 0.25 <= policy.delay(1) <= 0.25 * 1.1 and reads == ["retry_base_seconds"]
