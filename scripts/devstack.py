"""Start the whole system on one machine: PostgreSQL (the embedded server by default), the mock
backend and Airflow's api-server, scheduler, dag-processor and triggerer (LocalExecutor), and keep
it running: a component that exits unexpectedly is restarted with backoff while the others go on.

``python -m support_flows_dev.devstack run`` is what ``python3 scripts/dev.py run`` ends in; the end-to-end
tests use ``Stack`` from here too, so what they test is what a developer runs.

Settings from the environment (all optional):

    SUPPORT_STATE_DIR       where all state lives (default .local/); a restart reuses it
    SUPPORT_DATABASE_URL    an existing PostgreSQL instead of the embedded server: the URL of the
                            Airflow metadata database (the reporting database is the same name
                            with ``_reporting``, on the same server; both are created if missing)
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
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mock_backend import tenant
from support_flows_dev import bootstrap
from support_flows_dev.pgserver import DataDirError, EmbeddedPostgres, ensure_databases, free_port
from support_flows_dev.processes import CrashLoop, Supervisor, end_session, port_in_use, wait_for_http

ROOT = Path(__file__).resolve().parent.parent

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
RETENTION_JOB = ("clean", "--every-day-at", "02:45")  # docker-compose.yaml's airflow-retention says the same
# How long Airflow's tokens live (docker-compose.yaml and deploy/helm/values.yaml say the same; a
# test holds them to it): a stolen token dies within minutes, the UI's session slides (access.py).
JWT_SECONDS = 900


# This machine's job is to answer PowerApps quickly. Airflow's scheduler sleeps up to 1 s whenever a
# loop found nothing to do, so a trigger that arrives then waits for the next loop; 0.2 s takes
# most of that wait away, for about a fifth of one core while idle (docs/performance.md has both
# figures; set the variable in the environment to choose otherwise). The benchmarks set
# STOCK_SCHEDULER to compare against Airflow's defaults.
SCHEDULER_TUNING = {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2"}
STOCK_SCHEDULER = {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1"}


def _secret_file(path: Path, make) -> str:
    """A generated secret kept in the state folder: created 0600 with O_EXCL (never readable by
    others, even for a moment), then read back."""
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(make())
    return path.read_text().strip()


@dataclass
class Stack:
    """One running copy of the system. ``start()`` then ``stop()``; also a context manager.
    ``supervise()``, called now and then, restarts what died."""

    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("SUPPORT_STATE_DIR", ROOT / ".local")))
    airflow_port: int = field(default_factory=lambda: int(os.environ.get("SUPPORT_AIRFLOW_PORT", "8080")))
    mock_port: int = field(default_factory=lambda: int(os.environ.get("SUPPORT_MOCK_PORT", "5000")))
    mock_tls_port: int = field(default_factory=lambda: int(os.environ.get("SUPPORT_MOCK_TLS_PORT", "5443")))
    # An existing PostgreSQL: the URL of the metadata database (the reporting database is on the same
    # server, named like it with "_reporting"). None: the embedded server, data in state_dir/postgres.
    database_url: str | None = field(default_factory=lambda: os.environ.get("SUPPORT_DATABASE_URL") or None)
    extra_env: dict[str, str] = field(default_factory=dict)
    # "local": the LocalExecutor (the default). "celery": CeleryExecutor with `workers` worker
    # processes and Redis as broker (`broker_url`).
    executor: str = "local"
    broker_url: str = "redis://127.0.0.1:6379/0"
    workers: int = 2
    # Give the log servers and health checks free ports, so two stacks can run side by side.
    private_ports: bool = False
    seed_demo_data: bool = True
    # The benchmarks point this at a copy of dags/ with a trivial DAG beside ours.
    dags_folder: Path = ROOT / "dags"
    quiet: bool = False

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        self.postgres = None if self.database_url else EmbeddedPostgres(self.state_dir / "postgres")
        self.supervisor = Supervisor(self.state_dir / "logs", before_restart=self._before_restart)

    def _before_restart(self, name: str) -> None:
        if name == "postgres":
            self.postgres.prepare()  # a crash leaves postmaster.pid behind

    @classmethod
    def on_free_ports(cls, state_dir: Path, **options) -> Stack:
        """A quiet stack on free ports throughout (UI, mock, log servers, health check), so it runs
        beside a developer's stack and beside other stacks: what the tests and benchmarks start."""
        return cls(
            state_dir=state_dir,
            airflow_port=free_port(),
            mock_port=free_port(),
            mock_tls_port=free_port(),
            quiet=True,
            private_ports=True,
            **options,
        )

    # --- configuration ------------------------------------------------------------------------------

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def plugins_folder(self) -> Path:
        """Empty on purpose: Airflow loads the plugin from the package's entry point."""
        folder = self.airflow_home / "plugins"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def airflow_url(self) -> str:
        return f"http://localhost:{self.airflow_port}"

    @property
    def mock_url(self) -> str:
        return f"http://localhost:{self.mock_port}"

    @property
    def metadata_url(self) -> str:
        """SQLAlchemy URL of the Airflow metadata database."""
        if self.postgres:
            return self.postgres.url("airflow", driver="postgresql+psycopg2")
        return self.database_url.replace("postgresql://", "postgresql+psycopg2://", 1)

    @property
    def reporting_url(self) -> str:
        """URL of the reporting database: beside the metadata database, named after it."""
        parts = urllib.parse.urlsplit(self.metadata_url)
        return parts._replace(path=f"{parts.path}_reporting").geturl()

    def passwords(self) -> dict[str, str]:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        return {
            "admin": os.environ.get("SUPPORT_ADMIN_PASSWORD")
            or _secret_file(self.state_dir / "admin-password", lambda: secrets.token_urlsafe(12)),
            "powerapps": os.environ.get("SUPPORT_POWERAPPS_PASSWORD")
            or _secret_file(self.state_dir / "powerapps-password", lambda: secrets.token_urlsafe(12)),
        }

    def connections(self) -> dict[str, dict]:
        """The connections of CONTRACT section 3, pointed at the mock and the reporting database."""
        reporting = urllib.parse.urlsplit(self.reporting_url)
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
            "support_reporting": {
                "conn_type": "postgres",
                "host": reporting.hostname,
                "port": reporting.port or 5432,
                "login": urllib.parse.unquote(reporting.username or ""),
                "password": urllib.parse.unquote(reporting.password or ""),
                "schema": reporting.path.lstrip("/"),
            },
            # the second alert channel (support_flows/clients/alert_webhook.py): the mock's chat sink
            "support_alert_webhook": {
                "conn_type": "http",
                "host": f"http://localhost:{self.mock_port}/_mock/webhook/teams",
                "extra": {"format": "teams"},
            },
        }

    def env(self) -> dict[str, str]:
        """The environment every process of this stack runs with."""
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            # the plugin comes from the package's entry point: an empty plugins folder, so it registers once
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.executor == "celery" else "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            # FAB's users and roles (admins manage them in the UI), with one change: see access.py
            "AIRFLOW__CORE__AUTH_MANAGER": "support_flows.server.access.SupportFabAuthManager",
            "AIRFLOW__API__SECRET_KEY": _secret_file(
                self.state_dir / "api-secret-key", lambda: secrets.token_urlsafe(32)
            ),
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret_file(
                self.state_dir / "jwt-secret", lambda: secrets.token_urlsafe(32)
            ),
            # tokens live 15 minutes (Airflow's default: a day); the UI's session slides (access.py)
            "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": str(JWT_SECONDS),
            "AIRFLOW__API_AUTH__JWT_CLI_EXPIRATION_TIME": str(JWT_SECONDS),
            "AIRFLOW__CORE__FERNET_KEY": _secret_file(
                self.state_dir / "fernet-key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            ),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # After a restart of the scheduler (a crash, or the whole stack stopped mid-run), task
            # instances left running by the old one are reset and run again within a minute, not
            # after Airflow's default five.
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            **{name: os.environ.get(name, value) for name, value in SCHEDULER_TUNING.items()},
            "AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT": _secret_file(
                self.state_dir / "customer-key-salt", lambda: secrets.token_urlsafe(32)
            ),
            # the demo's and the tests' customers send many tickets from one address in an hour;
            # a deployment keeps the setting's default (5) unless it chooses otherwise
            "AIRFLOW_VAR_SUPPORT_CUSTOMER_EMAILS_PER_HOUR": os.environ.get(
                "AIRFLOW_VAR_SUPPORT_CUSTOMER_EMAILS_PER_HOUR", "1000"
            ),
            # the mock tenant's mailboxes, site, plan and portal: set, so nothing falls back to a
            # placeholder and the preflight finds each (mock_backend/tenant.py)
            **{f"AIRFLOW_VAR_SUPPORT_{name.upper()}": value for name, value in tenant.settings(self.mock_url).items()},
        }
        if self.executor == "celery":
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url.replace("+psycopg2", "", 1),
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                    # Airflow's default Celery config, plus our task modules preloaded in each worker
                    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "support_flows.server.celery_config.CELERY_CONFIG",
                }
            )
        if self.private_ports:
            if not hasattr(self, "_ports"):
                self._ports = {name: free_port() for name in ("worker_log", "trigger_log", "health")}
            env.update(
                {
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._ports["worker_log"]),
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._ports["trigger_log"]),
                    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self._ports["health"]),
                }
            )
        for conn_id, conn in self.connections().items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        env.update(self.extra_env)
        return env

    # --- processes --------------------------------------------------------------------------------------

    @property
    def components(self):
        return self.supervisor.components

    @property
    def processes(self) -> dict[str, subprocess.Popen]:
        """The running process of each component, by name."""
        return {name: c.process for name, c in self.components.items() if c.process is not None}

    def log_path(self, name: str) -> Path:
        return self.supervisor.log_path(name)

    def log_tail(self, name: str, lines: int = 20) -> str:
        return self.supervisor.log_tail(name, lines)

    def _spawn(self, name: str, args: list[str], env: dict[str, str], **popen_options) -> subprocess.Popen:
        return self.supervisor.spawn(name, args, env, **popen_options)

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

    def _check_ports(self) -> None:
        for port, what, variable in (
            (self.airflow_port, "Airflow", "SUPPORT_AIRFLOW_PORT"),
            (self.mock_port, "the mock backend", "SUPPORT_MOCK_PORT"),
            (self.mock_tls_port, "the mock's HTTPS endpoint", "SUPPORT_MOCK_TLS_PORT"),
        ):
            if port_in_use(port):
                raise RuntimeError(
                    f"port {port} for {what} is in use (another `run`?): stop what holds it, "
                    f"or choose another port with {variable}"
                )

    def _start_postgres(self) -> None:
        """The embedded server (created the first time), or the existing one; then the two databases."""
        if self.postgres is None:
            self.say(f"==> using the PostgreSQL at {urllib.parse.urlsplit(self.metadata_url).netloc.split('@')[-1]}")
        else:
            fresh = not self.postgres.initialised
            self.postgres.prepare()
            self.say(
                f"==> {'created' if fresh else 'starting'} PostgreSQL in {self.postgres.data_dir} "
                f"(127.0.0.1:{self.postgres.port})"
            )
            process = self._spawn(
                "postgres", self.postgres.command(), dict(os.environ), **self.postgres.popen_options()
            )
            self.postgres.wait_ready(process)
        ensure_databases(_server_url(self.metadata_url), [_database(self.metadata_url), _database(self.reporting_url)])

    def _start(self) -> Stack:
        self._check_ports()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)  # passwords, keys and the databases: the owner's alone
        self.say(f"==> state in {self.state_dir}")
        self._start_postgres()
        env = self.env()
        mock = self._spawn(
            "mock-backend",
            [
                sys.executable,
                "-m",
                "mock_backend",
                "--port",
                str(self.mock_port),
                "--tls-port",
                str(self.mock_tls_port),
                "--db",
                str(self.state_dir / "mock_backend.sqlite"),
                "--quiet",
            ],
            {**env, "MOCK_PUBLIC_URL": self.mock_url},
        )
        wait_for_http(f"{self.mock_url}/health", 60, mock)
        if self.seed_demo_data:
            self.seed_if_empty()
        # the deploy steps, in production's order (support_flows_dev/bootstrap.py)
        self.say("==> migrating the Airflow metadata database")
        bootstrap.migrate_airflow(self._airflow(), env)
        self.say("==> " + bootstrap.migrate_reporting(env))
        self.say("==> " + bootstrap.preflight(env))
        self.say("==> " + bootstrap.bootstrap_access(env, self.passwords(), self.api_key_file))
        for name in AIRFLOW_COMPONENTS:
            self._spawn(name, [self._airflow(), name], env)
        # the retention clean-up as compose's airflow-retention service runs it: a deploy job beside
        # Airflow (the deploy steps' database address), never a task (support_flows/operations/maintenance.py)
        self._spawn("retention", [sys.executable, "-m", "support_flows.operations.maintenance", *RETENTION_JOB], env)
        if self.executor == "celery":
            for n in range(1, self.workers + 1):
                self.start_worker(n, env)
        wait_for_http(f"{self.airflow_url}/api/v2/monitor/health", 180, self.processes["api-server"])
        self.write_state_file()
        return self

    @property
    def api_key_file(self) -> Path:
        """The integration key of the ``powerapps`` user, for the connector's connection."""
        return self.state_dir / "powerapps-api-key"

    def write_state_file(self) -> None:
        """``stack.json`` in the state folder: the addresses and the component PIDs, for people and
        tests that look at a running stack from outside."""
        (self.state_dir / "stack.json").write_text(
            json.dumps(
                {
                    "launcher_pid": os.getpid(),
                    "airflow_url": self.airflow_url,
                    "mock_url": self.mock_url,
                    "postgres_port": self.postgres.port if self.postgres else None,  # the embedded server
                    "components": {name: c.pid for name, c in self.components.items()},
                },
                indent=2,
            )
        )

    def wait_for_dags(self, dag_ids, timeout: float = 240) -> None:
        """Wait until the dag-processor has parsed ``dag_ids`` (REST API, as the admin user)."""
        request = urllib.request.Request(
            f"{self.airflow_url}/auth/token",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"username": "admin", "password": self.passwords()["admin"]}).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)["access_token"]
        wanted, seen = set(dag_ids), set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listing = urllib.request.Request(
                f"{self.airflow_url}/api/v2/dags?limit=1000", headers={"Authorization": f"Bearer {token}"}
            )
            try:
                with urllib.request.urlopen(listing, timeout=30) as response:
                    seen = {dag["dag_id"] for dag in json.load(response)["dags"]}
            except urllib.error.HTTPError as err:
                if err.code < 500:
                    raise
            if wanted <= seen:
                return
            time.sleep(1)
        raise TimeoutError(
            f"DAGs not parsed within {timeout:.0f}s: {sorted(wanted - seen)}; see {self.state_dir / 'logs'}"
        )

    def start_worker(self, n: int, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Celery worker number ``n`` (its own log-server port, so several share one machine)."""
        env = dict(env or self.env())
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        return self._spawn(
            f"worker{n}",
            [self._airflow(), "celery", "worker", "--celery-hostname", f"worker{n}@%h", "--concurrency", "4"],
            env,
        )

    def kill(self, name: str) -> None:
        """Kill a component (and its children) at once, as a crash would; it is not restarted."""
        self.supervisor.kill(name)

    def seed_if_empty(self) -> None:
        with urllib.request.urlopen(f"{self.mock_url}/api/agents", timeout=10) as response:
            if json.load(response)["items"]:
                return
        request = urllib.request.Request(
            f"{self.mock_url}/_mock/seed", data=b"{}", method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            self.say(f"==> seeded demo data: {json.load(response)}")

    def check(self) -> list[str]:
        """Names of the components that have died (and are not yet restarted)."""
        return self.supervisor.dead()

    def supervise(self) -> list[str]:
        """Restart the components that exited, with backoff (``Supervisor.supervise``); what ``run``
        calls every second. Returns what happened, one line each (also printed)."""
        events = self.supervisor.supervise()
        if any(line.startswith("==>") for line in events):
            self.write_state_file()
        for line in events:
            self.say(line)
        return events

    def stop(self, timeout: float = 30) -> None:
        """Stop every component and everything it started (SIGTERM, then SIGKILL after ``timeout``):
        the scheduler, workers, triggerer and dag-processor first, then the API server and the mock
        (a task that stops reports its state through the API server: with the server gone first,
        its retries held the scheduler for the whole timeout), the database last."""
        postgres = self.components.pop("postgres", None)
        self.supervisor.stop_all(timeout, last=("api-server", "mock-backend"))
        if postgres is not None and postgres.process is not None:
            EmbeddedPostgres.stop(postgres.process, timeout)
            end_session(postgres.pid)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _database(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def _server_url(url: str) -> str:
    """The URL of the server's ``postgres`` database, from the URL of any database on it."""
    return urllib.parse.urlsplit(url)._replace(path="/postgres").geturl()


def run() -> int:
    stack = Stack()
    stopping = {"now": False}

    def _stop(signum, _frame):
        stopping["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        try:
            stack.start()
        except (DataDirError, RuntimeError) as err:
            if stopping["now"]:
                return 130
            print(f"!! cannot start: {err}", flush=True)
            return 1
        passwords = stack.passwords()
        print(
            "\n"
            f"  Airflow UI and REST API:  {stack.airflow_url}\n"
            f"  login (UI):               admin / {passwords['admin']}\n"
            f"  login (PowerApps, REST):  powerapps / {passwords['powerapps']}\n"
            f"  PowerApps connection key: in {stack.api_key_file} (X-Api-Key header)\n"
            f"  mock backend:             {stack.mock_url}  (inspect: {stack.mock_url}/_mock/mail)\n"
            f"  databases:                {stack.metadata_url.split('@')[-1]} (Airflow), "
            f"{_database(stack.reporting_url)} (reporting)\n"
            f"  logs:                     {stack.state_dir / 'logs'}\n"
            "\n  Ctrl-C (or SIGTERM) stops everything; running again reuses the same state.\n",
            flush=True,
        )
        while not stopping["now"]:
            try:
                stack.supervise()
            except CrashLoop as err:
                print(f"!! {err}", flush=True)
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
