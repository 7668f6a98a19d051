"""The running stack, shared by the end-to-end tests that need an ordinary one (it takes a minute to
start). The modules that start stacks of their own (Celery, the connector's short tokens, the `run`
command) run after every user of the shared stack, and the shared stack stops as soon as its last
user is done: left running, its idle scheduler took a third of a core from the stacks that came
after it, on a machine of two."""

from __future__ import annotations

import pytest

from e2e_support import EVENT_DAGS, Stack, customer_data_in_airflow, customers_of

_SHARED: dict[str, Stack] = {}
_STARTS: list[str] = []  # the node id of each test that started the shared stack
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
def stack(request, tmp_path_factory) -> Stack:
    """The shared stack, started by its first user and stopped after its last (see the hooks below)."""
    if "stack" not in _SHARED:
        _STARTS.append(request.node.nodeid)
        _SHARED["stack"] = _start_shared(tmp_path_factory)
    return _SHARED["stack"]


def _uses_shared_stack(item) -> bool:
    """The item asks for ``stack`` and gets this file's (a module may define a stack of its own)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).get("stack", ())
    return bool(definitions) and definitions[-1].baseid == _BASEID


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """The end-to-end tests last and together, the shared stack's users first among them (each
    group in the order it had), so the shared stack starts once and stops before the other stacks.

    A wrapper, outermost: it orders after every other hook has, pytest-randomly's shuffle included
    (a plain hook ran before the shuffle, which scattered the users between other modules, and the
    shared stack started again after each: ten starts in one run).

    Under pytest-xdist (`dev.py test` runs on every core) they are one unit of work that one
    worker takes whole, in this order (tests/conftest.py's scheduler)."""
    yield
    e2e, others = [], []
    for item in items:
        (e2e if "/tests/e2e/" in str(item.path) else others).append(item)
    items[:] = others + sorted(e2e, key=lambda item: not _uses_shared_stack(item))


def pytest_runtest_teardown(item, nextitem):
    """After the shared stack's last user: every customer's name and address its backend holds is
    looked for in Airflow's metadata database and task logs (CONTRACT section 1: runs carry
    references); found, it fails that last test's teardown, naming where."""
    if "stack" in _SHARED and (nextitem is None or not _uses_shared_stack(nextitem)):
        stack = _SHARED.pop("stack")
        try:
            found = customer_data_in_airflow(stack, customers_of(stack))
        finally:
            stack.stop()
        assert found == [], "customers' names or addresses in Airflow's metadata after the e2e tests:\n" + "\n".join(
            found
        )


def pytest_sessionfinish(session, exitstatus):
    if "stack" in _SHARED:  # interrupted: stop it all the same
        _SHARED.pop("stack").stop()
    if len(_STARTS) > 1:  # the order above broke: each extra start costs a minute of every run
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nthe shared stack started {len(_STARTS)} times, its users were not together:", *_STARTS, sep="\n  ")
