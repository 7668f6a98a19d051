"""What the end-to-end tests share: the README's `run` command and the stack it starts
(support_flows_dev.devstack), and a PowerApps-like client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from support_flows_dev.devstack import Stack
from support_flows_dev.rest_client import Client

__all__ = [
    "Stack",
    "Client",
    "RunCommand",
    "mock_get",
    "EVENT_DAGS",
    "NEW_TICKET",
    "customers_of",
    "customer_data_in_airflow",
]

EVENT_DAGS = (
    "support_ticket_created",
    "support_ticket_assigned",
    "support_ticket_resolved",
    "support_feedback_received",
)
NEW_TICKET = {
    "customer_name": "Maria Garcia",
    "customer_email": "maria@example.org",
    "subject": "Cannot log in",
    "description": "My password stopped working.",
    "request_id": "e2e-1",
}


ROOT = Path(__file__).resolve().parents[2]


class RunCommand:
    """`python3 scripts/dev.py run` in a subprocess, on free ports, with its state in ``state_dir``."""

    def __init__(self, state_dir: Path, extra_env: dict[str, str] | None = None):
        self.stack = Stack.on_free_ports(state_dir)
        self.env = {
            **os.environ,
            "SUPPORT_VENV": sys.prefix,
            "SUPPORT_STATE_DIR": str(state_dir),
            "SUPPORT_AIRFLOW_PORT": str(self.stack.airflow_port),
            "SUPPORT_MOCK_PORT": str(self.stack.mock_port),
            "SUPPORT_MOCK_TLS_PORT": str(self.stack.mock_tls_port),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_VAR_SUPPORT_EVENT_POLL_SECONDS": "1",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.output = state_dir.parent / f"{state_dir.name}-run.out"

    def start(self, timeout: float = 240) -> RunCommand:
        (self.stack.state_dir / "stack.json").unlink(missing_ok=True)
        started_at = self.output.stat().st_size if self.output.exists() else 0
        with open(self.output, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "scripts" / "dev.py"), "run"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.text()
            if "Ctrl-C" in self.text()[started_at:]:
                # the launcher chose its embedded PostgreSQL's port: this side's Stack must use it
                # too (the metadata checks, the CLI commands a test runs with ``stack.env()``)
                if self.stack.postgres is not None:
                    self.stack.postgres.port = self.state()["postgres_port"]
                self.stack.wait_for_dags(["support_ticket_created"], timeout=deadline - time.monotonic())
                return self
            time.sleep(0.5)
        raise TimeoutError(self.text())

    def run_to_exit(self, timeout: float = 120) -> subprocess.CompletedProcess:
        """`dev.py run` that is expected to stop by itself (a refusal): its exit code and output."""
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "dev.py"), "run"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def state(self) -> dict:
        return json.loads((self.stack.state_dir / "stack.json").read_text())

    def pids(self) -> dict[str, int]:
        return self.state()["components"]

    def descendants(self) -> list[psutil.Process]:
        """Every process the launcher started, and every process they started, down the tree."""
        return psutil.Process(self.state()["launcher_pid"]).children(recursive=True)

    def terminate(self, timeout: float = 90) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def mock_get(stack: Stack, path: str, **params):
    return requests.get(f"{stack.mock_url}{path}", params=params, timeout=30).json()


def customers_of(stack: Stack) -> set[str]:
    """Every customer name and address the stack's backend holds: what must never stay in
    Airflow's metadata."""
    needles, cursor = set(), None
    while True:
        page = mock_get(stack, "/api/tickets", limit=500, **({"cursor": cursor} if cursor else {}))
        for ticket in page["items"]:
            needles |= {ticket.get("customer_email") or "", ticket.get("customer_name") or ""}
        cursor = page.get("next_cursor")
        if not cursor:
            return {needle for needle in needles if len(needle) >= 6}


def customer_data_in_airflow(stack: Stack, needles: set[str]) -> list[str]:
    """Where any of ``needles`` (customers' names and addresses) is in Airflow's metadata database
    (every text, JSON and binary column of every table: run conf, XComs, the audit log, rendered
    fields, notes...) or in a task log file. CONTRACT section 1: runs carry references."""
    import re

    import sqlalchemy as sa

    if not needles:
        return []
    pattern = re.compile("|".join(re.escape(needle.lower()) for needle in sorted(needles, key=len, reverse=True)))
    found: dict[str, set[str]] = {}
    engine = sa.create_engine(stack.metadata_url)
    try:
        with engine.connect() as conn:
            columns = conn.execute(
                sa.text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = "
                    "'public' AND data_type IN ('text', 'json', 'jsonb', 'character varying', 'bytea')"
                )
            ).all()
            for table, column, kind in columns:
                value = f"encode(\"{column}\", 'escape')" if kind == "bytea" else f'"{column}"::text'
                for (text,) in conn.execute(
                    sa.text(f'SELECT lower({value}) FROM "{table}" WHERE "{column}" IS NOT NULL')
                ):
                    for hit in pattern.findall(text):
                        found.setdefault(f"{table}.{column}", set()).add(hit)
    finally:
        engine.dispose()
    logs = stack.airflow_home / "logs"
    for path in sorted(logs.rglob("*")) if logs.is_dir() else []:
        if path.is_file():
            for hit in pattern.findall(path.read_text(errors="replace").lower()):
                found.setdefault(f"task log {path.relative_to(logs)}", set()).add(hit)
    return [f"{where}: {', '.join(sorted(hits))}" for where, hits in sorted(found.items())]
