"""The launcher's processes: each component in a session of its own, its log, its restarts with
backoff, and stopping everything it started. ``Supervisor`` knows nothing of Airflow; the stack
(``devstack``) tells it what to run."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A component that exits unexpectedly is restarted after 1, 2, 4 ... 30 s; one that needs more than
# CRASH_LOOP_RESTARTS restarts within CRASH_LOOP_WINDOW_S is not going to heal by itself.
CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_WINDOW_S = 120.0
MAX_BACKOFF_S = 30.0


class CrashLoop(RuntimeError):
    """A component keeps exiting: the stack gives up on it (and stops)."""


@dataclass
class Component:
    """One supervised process of the stack: how to start it, and its restart history."""

    name: str
    args: list[str]
    env: dict[str, str]
    popen_options: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    restarts: collections.deque = field(default_factory=collections.deque)
    restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


@dataclass
class Supervisor:
    """The components of one stack, their logs in ``log_dir``. ``before_restart(name)`` runs before
    a component is started again (the database repairs what a crash left)."""

    log_dir: Path
    before_restart: Callable[[str], None] = lambda name: None
    components: dict[str, Component] = field(default_factory=dict)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def spawn(self, name: str, args: list[str], env: dict[str, str], **popen_options) -> subprocess.Popen:
        component = Component(name, args, env, popen_options)
        self.components[name] = component
        return self._launch(component)

    def _launch(self, component: Component) -> subprocess.Popen:
        log = self.log_path(component.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            component.process = subprocess.Popen(
                component.args,
                cwd=ROOT,
                env=component.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **component.popen_options,
            )
        component.restart_at = None
        return component.process

    def dead(self) -> list[str]:
        """Names of the components that have died (and are not yet restarted)."""
        return [name for name, c in self.components.items() if c.process is None or c.process.poll() is not None]

    def supervise(self) -> list[str]:
        """Restart the components that exited, with backoff; one line for each thing that happened.
        Raises ``CrashLoop`` for a component that needed more than CRASH_LOOP_RESTARTS restarts
        within CRASH_LOOP_WINDOW_S."""
        events = []
        now = time.monotonic()
        for name in self.dead():
            component = self.components[name]
            if component.restart_at is None:
                code = component.process.returncode
                end_session(component.pid)  # what the component started goes before it starts anew
                while component.restarts and now - component.restarts[0] > CRASH_LOOP_WINDOW_S:
                    component.restarts.popleft()
                if len(component.restarts) >= CRASH_LOOP_RESTARTS:
                    raise CrashLoop(
                        f"{name} exited with code {code} after {len(component.restarts)} restarts within "
                        f"{CRASH_LOOP_WINDOW_S:.0f}s; giving up. Last lines of {self.log_path(name)}:\n"
                        + self.log_tail(name)
                    )
                delay = min(2.0 ** len(component.restarts), MAX_BACKOFF_S)
                component.restart_at = now + delay
                events.append(f"!! {name} exited with code {code}; restarting it in {delay:.0f}s")
            elif now >= component.restart_at:
                component.restarts.append(now)
                self.before_restart(name)
                self._launch(component)
                events.append(
                    f"==> {name} restarted (pid {component.pid}, restart {len(component.restarts)} "
                    f"within {CRASH_LOOP_WINDOW_S:.0f}s)"
                )
        return events

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, name: str) -> None:
        """Kill a component (and its children) at once, as a crash would; it is not restarted."""
        component = self.components.pop(name)
        end_session(component.pid)
        component.process.wait()

    def stop_all(self, timeout: float = 30, last: tuple[str, ...] = ()) -> None:
        """SIGTERM every component, SIGKILL after ``timeout``, then whatever each one started. The
        components named in ``last`` stop after the others have: what the others still need while
        they stop (a scheduler's tasks report their end to the API server)."""
        first = [name for name in self.components if name not in last]
        for wave in (first, [name for name in last if name in self.components]):
            self._stop(wave, timeout)
        self.components.clear()

    def _stop(self, names: list[str], timeout: float) -> None:
        components = [self.components[name] for name in names]
        for component in components:
            if component.process is not None:
                kill_group(component.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for component in components:
            if component.process is None:
                continue
            try:
                component.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            # The leader is gone; what it left behind (task processes, serve-logs) goes too.
            end_session(component.pid)
            component.process.wait()


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a component's process group (it leads one: started in a session of its own), even
    when its leader is already gone: its children (serve-logs, executor workers) are still in it."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def session_members(leader_pid: int) -> list[int]:
    """Every live process in the session a component leads: its process group and the groups that
    its descendants made for themselves (Airflow's task processes do), orphaned ones included."""
    import psutil

    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == leader_pid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                members.append(pid)
        except (OSError, psutil.Error):
            continue
    return members


def end_session(leader_pid: int) -> None:
    """SIGKILL everything in a component's session (PostgreSQL's backends make sessions of their
    own, and end by themselves when the server goes)."""
    kill_group(leader_pid)
    for pid in session_members(leader_pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process serving it exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, OSError) as err:
            last = err
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")
