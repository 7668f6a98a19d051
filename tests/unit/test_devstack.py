"""The launcher's supervision (support_flows_dev.processes, through the stack) and the embedded
PostgreSQL's repairs, without a whole stack."""

from __future__ import annotations

import os
import sys

import psutil
import pytest

from support_flows_dev import devstack, processes
from support_flows_dev.pgserver import DataDirError, EmbeddedPostgres


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stack(tmp_path) -> devstack.Stack:
    """A stack that starts nothing by itself (an existing database named, never reached)."""
    return devstack.Stack(state_dir=tmp_path, database_url="postgresql://x@127.0.0.1/airflow", quiet=True)


def _exits_at_once(stack: devstack.Stack) -> processes.Component:
    code = "import sys; print('boom: cannot reach the database', flush=True); sys.exit(3)"
    stack._spawn("flaky", [sys.executable, "-c", code], dict(os.environ))
    return stack.components["flaky"]


def _settle(component: processes.Component) -> None:
    component.process.wait(30)


def test_a_component_that_exits_is_restarted_with_growing_backoff(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(processes.time, "monotonic", clock)
    stack = _stack(tmp_path)
    component = _exits_at_once(stack)
    delays = []
    for _ in range(3):
        _settle(component)
        (event,) = stack.supervise()
        assert event.startswith("!! flaky exited with code 3; restarting it in ")
        delays.append(float(event.rsplit(" ", 1)[1].rstrip("s")))
        assert stack.supervise() == []  # not before its time
        clock.now += delays[-1]
        (event,) = stack.supervise()
        assert event.startswith("==> flaky restarted (pid ")
    assert delays == [1, 2, 4]
    stack.stop()


def test_a_crash_loop_gives_up_naming_the_component_and_its_last_lines(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(processes.time, "monotonic", clock)
    stack = _stack(tmp_path)
    component = _exits_at_once(stack)
    for _ in range(processes.CRASH_LOOP_RESTARTS):
        _settle(component)
        stack.supervise()
        clock.now += processes.MAX_BACKOFF_S
        stack.supervise()
    _settle(component)
    with pytest.raises(processes.CrashLoop) as crash:
        stack.supervise()
    message = str(crash.value)
    assert message.startswith(f"flaky exited with code 3 after {processes.CRASH_LOOP_RESTARTS} restarts within 120s")
    assert "boom: cannot reach the database" in message
    stack.stop()


def test_restarts_older_than_the_window_do_not_count(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(processes.time, "monotonic", clock)
    stack = _stack(tmp_path)
    component = _exits_at_once(stack)
    restarted = 0
    for _ in range(processes.CRASH_LOOP_RESTARTS * 2):
        _settle(component)
        (exited,) = stack.supervise()  # never a CrashLoop: the earlier restarts left the window
        delay = float(exited.rsplit(" ", 1)[1].rstrip("s"))
        assert exited.startswith("!! flaky exited with code 3; restarting it in ") and delay <= 4  # stops growing
        clock.now += processes.CRASH_LOOP_WINDOW_S  # one crash every two minutes: healing, not a loop
        (event,) = stack.supervise()
        restarted += event.startswith("==> flaky restarted")
        assert len(component.restarts) < processes.CRASH_LOOP_RESTARTS  # only those within the window count
    assert restarted == processes.CRASH_LOOP_RESTARTS * 2
    stack.stop()


def test_stop_ends_what_a_component_started_even_after_the_component_died(tmp_path):
    stack = _stack(tmp_path)
    # a "component" that starts a long-lived child in a process group of its own (as Airflow's
    # task processes are), prints its PID, then dies
    code = (
        "import os, subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'import time; "
        "time.sleep(600)'], process_group=0); print(child.pid, flush=True)"
    )
    stack._spawn("parent", [sys.executable, "-c", code], dict(os.environ))
    stack.components["parent"].process.wait(30)
    orphan = psutil.Process(int(stack.log_path("parent").read_text().split()[-1]))
    assert orphan.is_running() and orphan.ppid() != stack.components["parent"].pid
    stack.stop()
    orphan.wait(10)
    assert not orphan.is_running()


def test_the_embedded_server_repairs_what_is_safe_and_keeps_its_data(tmp_path):
    server = EmbeddedPostgres(tmp_path / "postgres")
    server.prepare()
    assert server.initialised
    # what a crash leaves: an unfinished initdb beside it, and a postmaster.pid whose PID is now
    # another process (here: this one)
    (tmp_path / "postgres.initdb-unfinished").mkdir()
    (server.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{server.data_dir}\n")
    server.prepare()
    assert not (tmp_path / "postgres.initdb-unfinished").exists()
    with server.running() as process:
        server.ensure_databases("airflow")
        with pytest.raises(DataDirError, match="already running on"):
            EmbeddedPostgres(server.data_dir).prepare()  # a second `run` on the same state
    assert process.returncode == 0  # a clean (fast) shutdown
    # started again: the database made before is still there
    again = EmbeddedPostgres(server.data_dir)
    with again.running():
        import psycopg2

        with psycopg2.connect(again.url("postgres")) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname = 'airflow'")
            assert cursor.fetchall() == [("airflow",)]


def test_a_folder_that_is_not_a_data_folder_is_refused_untouched(tmp_path):
    folder = tmp_path / "postgres"
    folder.mkdir()
    (folder / "thesis.txt").write_text("keep me")
    with pytest.raises(DataDirError, match="is not a PostgreSQL data folder"):
        EmbeddedPostgres(folder).prepare()
    assert (folder / "thesis.txt").read_text() == "keep me"


def test_stop_ends_the_api_server_only_after_the_scheduler_has_stopped(tmp_path):
    """A scheduler's stopping tasks report their end through the API server: it must still answer
    while they do (stopped together, the scheduler's retries held every stop for 30 s)."""
    stack = _stack(tmp_path)
    ended = tmp_path / "ended"

    def stub(name: str, linger: float) -> str:
        return (
            "import signal, sys, time\n"
            "def stop(*_):\n"
            f"    time.sleep({linger})\n"
            f"    open({str(ended)!r}, 'a').write('{name} ' + str(time.monotonic()) + '\\n')\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            "print('ready', flush=True)\n"
            "time.sleep(600)\n"
        )

    stack._spawn("api-server", [sys.executable, "-c", stub("api-server", 0)], dict(os.environ))
    stack._spawn("scheduler", [sys.executable, "-c", stub("scheduler", 1.0)], dict(os.environ))
    for name in ("api-server", "scheduler"):
        while "ready" not in stack.log_path(name).read_text():
            assert stack.components[name].process.poll() is None
    stack.stop()
    order = [
        line.split()[0] for line in sorted(ended.read_text().splitlines(), key=lambda line: float(line.split()[1]))
    ]
    assert order == ["scheduler", "api-server"]
