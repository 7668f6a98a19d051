"""The README's `python3 scripts/dev.py run`, started exactly as a user starts it (in a subprocess,
stopped with SIGTERM as Ctrl-C or a service manager would): it heals a component that dies, loses
nothing it accepted when stopped in the middle of a burst, and leaves no process behind. The
shared stack is this command's (tests/e2e/conftest.py): these tests, which kill and stop it, run
after its other users."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
import requests

from e2e_support import NEW_TICKET, Client, RunCommand, mock_get

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# (the database is left out of "the others keep their PIDs": Airflow's processes exit when it goes
# away, and the launcher restarts them too)
COMPONENTS = ("mock-backend", "api-server", "scheduler", "dag-processor", "triggerer", "postgres")


def _wait_for_new_pid(command: RunCommand, name: str, old_pid: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = command.pids().get(name)
        if pid and pid != old_pid:
            return pid
        time.sleep(0.5)
    raise TimeoutError(f"{name} was not restarted:\n{command.text()[-3000:]}")


def _running_pids(command: RunCommand, name: str, timeout: float = 60) -> dict[str, int]:
    """The components' pids once ``name``'s recorded one is alive: a component the launcher is
    restarting (once a CI run found the triggerer's recorded pid gone) is waited for, not killed."""
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        pids = command.pids()
        if psutil.pid_exists(pids[name]) or time.monotonic() > deadline:
            return pids
        time.sleep(0.5)


def _wait_until_answering(command: RunCommand, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = requests.get(f"{command.stack.airflow_url}/api/v2/monitor/health", timeout=5).json()
            if (
                health["metadatabase"]["status"] == "healthy"
                and health["scheduler"]["status"] == "healthy"
                and requests.get(f"{command.stack.mock_url}/health", timeout=5).ok
            ):
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise TimeoutError(command.text()[-3000:])


def _new_ticket_run_succeeds(command: RunCommand, request_id: str) -> None:
    client = Client(command.stack)
    response = client.trigger("support_ticket_created", {**NEW_TICKET, "request_id": request_id})
    assert response.status_code == 200, response.text
    assert client.wait("support_ticket_created", response.json()["dag_run_id"], timeout=240) == "success"


@pytest.mark.parametrize("name", COMPONENTS)
def test_a_killed_component_is_restarted_and_the_others_keep_running(run_command, name):
    before = _running_pids(run_command, name)
    os.kill(before[name], signal.SIGKILL)
    new_pid = _wait_for_new_pid(run_command, name, before[name])
    assert new_pid != before[name]
    assert f"!! {name} exited with code -9" in run_command.text()
    after = run_command.pids()
    if name != "postgres":
        assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
    _wait_until_answering(run_command)
    _new_ticket_run_succeeds(run_command, f"after-kill-{name}")
    assert run_command.process.poll() is None


def trigger_burst(client, airflow_url: str, n: int, accepted: dict, lock, stop) -> None:
    """Client ``n`` of the burst: 10 tickets, each accepted one recorded (e-mail -> run id)."""
    for i in range(10):
        if stop.is_set():
            return
        email = f"burst-{n}-{i}@example.org"
        try:
            response = client.session.post(
                f"{airflow_url}/api/v2/dags/support_ticket_created/dagRuns",
                json={
                    "logical_date": None,
                    "conf": {**NEW_TICKET, "customer_email": email, "request_id": f"burst-{n}-{i}"},
                },
                timeout=30,
            )
        except requests.RequestException:
            continue
        if response.status_code == 200:
            with lock:
                accepted[email] = response.json()["dag_run_id"]


def all_tickets(stack) -> list[dict]:
    """Every ticket in the backend, page by page."""
    tickets, cursor = [], None
    while True:
        page = mock_get(stack, "/api/tickets", limit=1000, **({"cursor": cursor} if cursor else {}))
        tickets += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return tickets


def test_nothing_accepted_is_lost_when_run_is_stopped_mid_burst(run_command):
    """SIGTERM the whole `run` while 8 clients are triggering, start it again: every trigger that got
    HTTP 200 ends with exactly one ticket and one e-mail to its customer."""
    client = Client(run_command.stack)
    accepted: dict[str, str] = {}
    lock, stop = threading.Lock(), threading.Event()

    def sender(n: int) -> None:
        trigger_burst(client, run_command.stack.airflow_url, n, accepted, lock, stop)

    senders = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in senders:
        thread.start()
    deadline = time.monotonic() + 120
    while len(accepted) < 16 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_command.terminate() == 0
    stop.set()
    for thread in senders:
        thread.join()
    assert len(accepted) >= 16

    run_command.start()
    client = Client(run_command.stack)
    for email, run_id in accepted.items():
        assert client.wait("support_ticket_created", run_id, timeout=300) == "success", email
    tickets = all_tickets(run_command.stack)
    mails = mock_get(run_command.stack, "/_mock/mail")["items"]
    for email in accepted:
        assert len([t for t in tickets if t["customer_email"] == email]) == 1, email
        assert len([m for m in mails if m["to"] == [email]]) == 1, email


def test_stopping_run_leaves_no_process_behind(run_command):
    # a task running while it stops: its process is in the tree too
    client = Client(run_command.stack)
    client.trigger("support_ticket_created", {**NEW_TICKET, "request_id": "stopped-while-running"})
    tree = run_command.descendants()
    assert len(tree) > 10  # server backends, serve-logs, executor workers ...
    assert run_command.terminate() == 0
    assert "==> stopped" in run_command.text()
    assert [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_a_port_in_use_stops_run_with_one_clear_line(tmp_path):
    import socket

    command = RunCommand(tmp_path / "state")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", command.stack.airflow_port))
        holder.listen()
        done = command.run_to_exit()
    assert done.returncode == 1
    assert f"!! cannot start: port {command.stack.airflow_port} for Airflow is in use" in done.stdout
    assert "SUPPORT_AIRFLOW_PORT" in done.stdout


def test_a_folder_that_is_not_a_database_is_refused_and_kept(tmp_path):
    command = RunCommand(tmp_path / "state")
    stray = command.stack.state_dir / "postgres" / "notes.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("mine")
    done = command.run_to_exit()
    assert done.returncode == 1
    assert "is not a PostgreSQL data folder (no PG_VERSION): move it away or delete it" in done.stdout
    assert stray.read_text() == "mine"
