"""Start the whole system on one machine: the mock backend and Airflow's api-server, scheduler,
dag-processor and triggerer (LocalExecutor, SQLite metadata, SQLite reporting database).

``python scripts/devstack.py run`` is what ``python3 scripts/dev.py run`` ends in; the end-to-end
tests use ``Stack`` from here too, so what they test is what a developer runs.

Settings from the environment (all optional):

    SUPPORT_STATE_DIR       where all state lives (default .local/); a restart reuses it
    SUPPORT_AIRFLOW_PORT    the Airflow UI and REST API (default 8080)
    SUPPORT_MOCK_PORT       the mock backend, HTTP (default 5000)
    SUPPORT_MOCK_TLS_PORT   the mock's HTTPS identity endpoint (default 5443)
    SUPPORT_ADMIN_PASSWORD  password of the UI user ``admin`` (default: generated once, kept in the state dir)
    SUPPORT_POWERAPPS_PASSWORD  password of the REST user ``powerapps`` (same)
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _secret_file(path: Path, make) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")


@dataclass
class Stack:
    """One running copy of the system. ``start()`` then ``stop()``; also a context manager."""

    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("SUPPORT_STATE_DIR", ROOT / ".local")))
    airflow_port: int = field(default_factory=lambda: int(os.environ.get("SUPPORT_AIRFLOW_PORT", "8080")))
    mock_port: int = field(default_factory=lambda: int(os.environ.get("SUPPORT_MOCK_PORT", "5000")))
    mock_tls_port: int = field(default_factory=lambda: int(os.environ.get("SUPPORT_MOCK_TLS_PORT", "5443")))
    extra_env: dict[str, str] = field(default_factory=dict)
    # "local": LocalExecutor on SQLite (the default). "celery": CeleryExecutor with `workers`
    # worker processes, metadata in PostgreSQL (`metadata_url`) and Redis as broker (`broker_url`).
    executor: str = "local"
    metadata_url: str | None = None
    broker_url: str = "redis://127.0.0.1:6379/0"
    workers: int = 2
    # Give the log servers and health checks free ports, so two stacks can run side by side.
    private_ports: bool = False
    seed_demo_data: bool = True
    # The benchmarks point this at a copy of dags/ with a trivial DAG beside ours.
    dags_folder: Path = ROOT / "dags"
    quiet: bool = False
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, state_dir: Path, **options) -> Stack:
        """A quiet stack on free ports throughout (UI, mock, log servers, health check), so it runs
        beside a developer's stack and beside other stacks: what the tests and benchmarks start."""
        return cls(state_dir=state_dir, airflow_port=_free_port(), mock_port=_free_port(),
                   mock_tls_port=_free_port(), quiet=True, private_ports=True, **options)

    # --- configuration ------------------------------------------------------------------------------

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def airflow_url(self) -> str:
        return f"http://localhost:{self.airflow_port}"

    @property
    def mock_url(self) -> str:
        return f"http://localhost:{self.mock_port}"

    def passwords(self) -> dict[str, str]:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        return {
            "admin": os.environ.get("SUPPORT_ADMIN_PASSWORD")
            or _secret_file(self.state_dir / "admin-password", lambda: secrets.token_urlsafe(12)),
            "powerapps": os.environ.get("SUPPORT_POWERAPPS_PASSWORD")
            or _secret_file(self.state_dir / "powerapps-password", lambda: secrets.token_urlsafe(12)),
        }

    def connections(self) -> dict[str, dict]:
        """The connections of CONTRACT section 3, pointed at the mock."""
        return {
            "support_api": {
                "conn_type": "http",
                "host": "localhost",
                "port": self.mock_port,
                "schema": "http",
                "extra": {"timeout": 30},
            },
            "support_graph": {
                "conn_type": "msgraph",
                "host": f"localhost:{self.mock_port}",
                "schema": "http",
                "login": "support-flows-dev",
                "password": _secret_file(self.state_dir / "graph-client-secret", lambda: secrets.token_urlsafe(24)),
                "extra": {
                    "tenant_id": "mock-tenant",
                    "authority": f"https://localhost:{self.mock_tls_port}",
                    "disable_instance_discovery": True,
                    "verify": False,
                    "base_url": f"http://localhost:{self.mock_port}/graph/v1.0/",
                    "allowed_hosts": "localhost",
                },
            },
            "support_reporting": {"conn_type": "sqlite", "host": str(self.state_dir / "reporting.sqlite")},
        }

    def env(self) -> dict[str, str]:
        """The environment every Airflow process of this stack runs with."""
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        # SQLite metadata shared by five processes: wait for a lock instead of failing at once.
        config_dir = self.airflow_home / "config"
        config_dir.mkdir(exist_ok=True)
        (config_dir / "airflow_local_settings.py").write_text(
            '"""Written by scripts/devstack.py: SQLite waits up to 15 seconds for a lock."""\n'
            'connect_args = {"timeout": 15}\n'
        )
        passwords_file = self.airflow_home / "simple_auth_manager_passwords.json"
        passwords_file.write_text(json.dumps(self.passwords()))
        passwords_file.chmod(0o600)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.executor == "celery" else "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url or f"sqlite:///{self.airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,powerapps:user",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret_file(self.state_dir / "jwt-secret", lambda: secrets.token_urlsafe(32)),
            "AIRFLOW__CORE__FERNET_KEY": _secret_file(
                self.state_dir / "fernet-key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            ),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT": _secret_file(
                self.state_dir / "customer-key-salt", lambda: secrets.token_urlsafe(32)
            ),
            "AIRFLOW_VAR_SUPPORT_AIRFLOW_UI_URL": self.airflow_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        if not self.metadata_url:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "airflow_local_settings.connect_args"
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"] = "airflow_local_settings.connect_args"
        if self.executor == "celery":
            result_db = (self.metadata_url or "").replace("postgresql+psycopg2://", "postgresql://")
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{result_db}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                # Airflow's default Celery config, plus our task modules preloaded in each worker
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "support_flows.celery_config.CELERY_CONFIG",
            })
        if self.private_ports:
            if not hasattr(self, "_ports"):
                self._ports = {name: _free_port() for name in ("worker_log", "trigger_log", "health")}
            env.update({
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._ports["worker_log"]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._ports["trigger_log"]),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self._ports["health"]),
            })
        for conn_id, conn in self.connections().items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        env.update(self.extra_env)
        return env

    # --- processes --------------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def _airflow(self) -> str:
        found = shutil.which("airflow", path=str(Path(sys.executable).parent)) or shutil.which("airflow")
        if not found:
            raise RuntimeError("the airflow command is not installed in this environment")
        return found

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def start(self) -> Stack:
        """Start everything; if any part fails to come up, stop what did and re-raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Stack:
        env = self.env()
        self.say(f"==> state in {self.state_dir}")
        mock = self._spawn(
            "mock-backend",
            [sys.executable, "-m", "mock_backend", "--port", str(self.mock_port), "--tls-port",
             str(self.mock_tls_port), "--db", str(self.state_dir / "mock_backend.sqlite"), "--quiet"],
            {**env, "MOCK_PUBLIC_URL": self.mock_url},
        )
        wait_for_http(f"{self.mock_url}/health", 60, mock)
        if self.seed_demo_data:
            self.seed_if_empty()
        self.say("==> migrating the Airflow metadata database")
        migrated = subprocess.run([self._airflow(), "db", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True)
        if migrated.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrated.stdout[-2000:]}\n{migrated.stderr[-3000:]}")
        if not self.metadata_url:
            # Write-ahead logging: readers no longer block the writer (kept in the database file).
            with sqlite3.connect(self.airflow_home / "airflow.db") as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        for component in COMPONENTS:
            self._spawn(component, [self._airflow(), component], env)
        if self.executor == "celery":
            for n in range(1, self.workers + 1):
                self.start_worker(n, env)
        wait_for_http(f"{self.airflow_url}/api/v2/monitor/health", 180, self.processes["api-server"])
        return self

    def wait_for_dags(self, dag_ids, timeout: float = 240) -> None:
        """Wait until the dag-processor has parsed ``dag_ids`` (REST API, as the admin user)."""
        request = urllib.request.Request(
            f"{self.airflow_url}/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": "admin", "password": self.passwords()["admin"]}).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)["access_token"]
        wanted, seen = set(dag_ids), set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listing = urllib.request.Request(f"{self.airflow_url}/api/v2/dags?limit=1000",
                                             headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(listing, timeout=30) as response:
                    seen = {dag["dag_id"] for dag in json.load(response)["dags"]}
            except urllib.error.HTTPError as err:  # SQLite busy: a 5xx now and then
                if err.code < 500:
                    raise
            if wanted <= seen:
                return
            time.sleep(1)
        raise TimeoutError(f"DAGs not parsed within {timeout:.0f}s: {sorted(wanted - seen)}; "
                           f"see {self.state_dir / 'logs'}")

    def start_worker(self, n: int, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Celery worker number ``n`` (its own log-server port, so several share one machine)."""
        env = dict(env or self.env())
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(_free_port())
        return self._spawn(f"worker{n}", [self._airflow(), "celery", "worker", "--celery-hostname", f"worker{n}@%h",
                                          "--concurrency", "4"], env)

    def kill(self, name: str) -> None:
        """Kill a process of the stack (and its children) at once, as a crash would."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def seed_if_empty(self) -> None:
        with urllib.request.urlopen(f"{self.mock_url}/api/agents", timeout=10) as response:
            if json.load(response)["items"]:
                return
        request = urllib.request.Request(f"{self.mock_url}/_mock/seed", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            self.say(f"==> seeded demo data: {json.load(response)}")

    def check(self) -> list[str]:
        """Names of the processes that have died."""
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self, timeout: float = 30) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.processes.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run() -> int:
    stack = Stack()
    stopping = {"now": False}

    def _stop(signum, _frame):
        stopping["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        passwords = stack.passwords()
        print(
            "\n"
            f"  Airflow UI and REST API:  {stack.airflow_url}\n"
            f"  login (UI):               admin / {passwords['admin']}\n"
            f"  login (PowerApps, REST):  powerapps / {passwords['powerapps']}\n"
            f"  mock backend:             {stack.mock_url}  (inspect: {stack.mock_url}/_mock/mail)\n"
            f"  logs:                     {stack.state_dir / 'logs'}\n"
            "\n  Ctrl-C (or SIGTERM) stops everything; running again reuses the same state.\n",
            flush=True,
        )
        while not stopping["now"]:
            dead = stack.check()
            if dead:
                print(f"!! {', '.join(dead)} exited; see {stack.state_dir / 'logs'}; stopping", flush=True)
                return 1
            time.sleep(1)
        return 0
    finally:
        print("==> stopping", flush=True)
        stack.stop()
        print("==> stopped", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] != ["run"]:
        print(__doc__)
        sys.exit(2)
    sys.exit(run())
