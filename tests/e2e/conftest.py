"""The running stack, shared by the end-to-end tests that need an ordinary one (it takes a minute to
start). The modules that start stacks of their own (Celery, the connector's short tokens, the `run`
command) run after every user of the shared stack, and the shared stack stops as soon as its last
user is done: left running, its idle scheduler took a third of a core from the stacks that came
after it, on a machine of two."""

from __future__ import annotations

import pytest

from e2e_support import EVENT_DAGS, Stack

_SHARED: dict[str, Stack] = {}
_BASEID = "tests/e2e"  # the node id of this folder: where this file's fixtures are defined


def _start_shared(tmp_path_factory) -> Stack:
    stack = Stack.on_free_ports(
        tmp_path_factory.mktemp("stack"),
        extra_env={
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_VAR_SUPPORT_EVENT_POLL_SECONDS": "1",
            # a short deadline for Flow 1, so test_deadline_alerts.py sees a late run alerted
            "SUPPORT_TICKET_CREATED_DEADLINE_MINUTES": "0.25",
        },
    )
    stack.start()
    try:
        stack.wait_for_dags(EVENT_DAGS, timeout=180)
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture
def stack(tmp_path_factory) -> Stack:
    """The shared stack, started by its first user and stopped after its last (see the hooks below)."""
    if "stack" not in _SHARED:
        _SHARED["stack"] = _start_shared(tmp_path_factory)
    return _SHARED["stack"]


def _uses_shared_stack(item) -> bool:
    """The item asks for ``stack`` and gets this file's (a module may define a stack of its own)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).get("stack", ())
    return bool(definitions) and definitions[-1].baseid == _BASEID


def pytest_collection_modifyitems(session, config, items):
    """Within the end-to-end tests, the shared stack's users first (in their order), then the rest."""
    e2e = [i for i, item in enumerate(items) if "/tests/e2e/" in str(item.path)]
    ordered = sorted((items[i] for i in e2e), key=lambda item: not _uses_shared_stack(item))
    for i, item in zip(e2e, ordered, strict=True):
        items[i] = item


def pytest_runtest_teardown(item, nextitem):
    if "stack" in _SHARED and (nextitem is None or not _uses_shared_stack(nextitem)):
        _SHARED.pop("stack").stop()


def pytest_sessionfinish(session, exitstatus):
    if "stack" in _SHARED:  # interrupted: stop it all the same
        _SHARED.pop("stack").stop()
