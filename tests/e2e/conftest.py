"""The running stack, shared by the end-to-end tests that need an ordinary one: the README's
`python3 scripts/dev.py run`, started exactly as a user starts it (it takes a minute). Its users run
first and together, in three groups: the ordinary ones; those marked ``stack_last`` (a premise that
needs time to pass, generated traffic that must not crowd the others); then the `run` command's own
tests, which kill its components and stop it (tests/e2e/test_run_command.py). The modules that
start stacks of their own (Celery) run after them, once the shared stack has stopped: left running,
its idle scheduler took a third of a core from the stacks that came after it, on a machine of two."""

from __future__ import annotations

import pytest

from e2e_support import EVENT_DAGS, RunCommand, Stack, customer_data_in_airflow, customers_of

_SHARED: dict[str, RunCommand] = {}
_STARTS: list[str] = []  # the node id of each test that started the shared stack
_CHECKED: list[bool] = []  # the customer-data check ran (before the `run` command's own tests)
_BASEID = "tests/e2e"  # the node id of this folder: where this file's fixtures are defined
ORDINARY, LAST, RUN_COMMAND, NOT_SHARED = range(4)


def _start_shared(tmp_path_factory) -> RunCommand:
    command = RunCommand(
        tmp_path_factory.mktemp("run") / "state",
        extra_env={
            # a short deadline for Flow 1, so test_deadline_alerts.py sees a late run alerted
            "SUPPORT_TICKET_CREATED_DEADLINE_MINUTES": "0.25",
            # a task retried (one whose process a stopped `run` took down) waits 5 s, not 30
            "SUPPORT_TASK_RETRY_DELAY_SECONDS": "5",
        },
    )
    command.start()
    try:
        command.stack.wait_for_dags(EVENT_DAGS, timeout=180)
    except BaseException:
        command.terminate()
        raise
    return command


def _shared(request, tmp_path_factory) -> RunCommand:
    """The shared `run`, started by its first user; started again when a test stopped it."""
    if "run" not in _SHARED:
        _STARTS.append(request.node.nodeid)
        _SHARED["run"] = _start_shared(tmp_path_factory)
    command = _SHARED["run"]
    if command.process.poll() is not None:
        command.start()
    return command


@pytest.fixture
def stack(request, tmp_path_factory) -> Stack:
    """The shared stack (see the hooks below)."""
    return _shared(request, tmp_path_factory).stack


@pytest.fixture
def run_command(request, tmp_path_factory) -> RunCommand:
    """The shared stack's `run` command itself, for the tests that kill and stop it."""
    return _shared(request, tmp_path_factory)


def _group(item) -> int:
    """Which group of the shared stack's users ``item`` is in, or NOT_SHARED (a module may define a
    stack of its own)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    ours = {
        name for name in ("stack", "run_command") if definitions.get(name) and definitions[name][-1].baseid == _BASEID
    }
    if "run_command" in ours:
        return RUN_COMMAND
    if "stack" in ours:
        return LAST if item.get_closest_marker("stack_last") else ORDINARY
    return NOT_SHARED


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """The end-to-end tests last and together, the shared stack's users first among them, by group
    (each group in the order it had), so the shared stack starts once and stops before the other
    stacks.

    A wrapper, outermost: it orders after every other hook has, pytest-randomly's shuffle included
    (a plain hook ran before the shuffle, which scattered the users between other modules, and the
    shared stack started again after each: ten starts in one run).

    Under pytest-xdist (`dev.py test` runs on every core) they are one unit of work that one
    worker takes whole, in this order (tests/conftest.py's scheduler)."""
    yield
    e2e, others = [], []
    for item in items:
        (e2e if "/tests/e2e/" in str(item.path) else others).append(item)
    items[:] = others + sorted(e2e, key=_group)


def _check_customer_data(command: RunCommand) -> None:
    """Every customer's name and address the backend holds is looked for in Airflow's metadata
    database and task logs (CONTRACT section 1: runs carry references); found, it fails the
    teardown of the test it follows, naming where."""
    _CHECKED.append(True)
    found = customer_data_in_airflow(command.stack, customers_of(command.stack))
    assert found == [], "customers' names or addresses in Airflow's metadata after the e2e tests:\n" + "\n".join(found)


def pytest_runtest_teardown(item, nextitem):
    """After the last user that leaves the stack as it found it, the customer-data check (the
    `run` command's tests stop it); after the last user of all, the stack stops."""
    if "run" not in _SHARED or _group(item) == NOT_SHARED:
        return
    following = NOT_SHARED if nextitem is None else _group(nextitem)
    command = _SHARED["run"]
    try:
        if not _CHECKED and following >= RUN_COMMAND and command.process.poll() is None:
            _check_customer_data(command)
    finally:
        if following == NOT_SHARED:
            _SHARED.pop("run")
            if command.process.poll() is None:
                command.terminate()


def pytest_sessionfinish(session, exitstatus):
    if "run" in _SHARED and _SHARED["run"].process.poll() is None:  # interrupted: stop it all the same
        _SHARED.pop("run").terminate()
    if len(_STARTS) > 1:  # the order above broke: each extra start costs a minute of every run
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nthe shared stack started {len(_STARTS)} times, its users were not together:", *_STARTS, sep="\n  ")
