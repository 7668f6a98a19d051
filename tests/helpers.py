"""Helpers the tests share: free ports, the mock backend served in-process, connections to it."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import time_machine

_SESSION_START = datetime.now(UTC)
_SESSION_NOON = _SESSION_START.replace(hour=12, minute=0, second=0, microsecond=0)


def controlled_clock() -> time_machine.travel:
    """The clock of a test whose flows and mock run in this process: noon UTC of the day the session
    started, plus the real time since. No run crosses midnight, whenever the suite runs, "today"
    is the same day before and after a run, and the clock still moves forward at its real pace
    (so deadlines, tokens and one test after another keep their order)."""
    return time_machine.travel(_SESSION_NOON + (datetime.now(UTC) - _SESSION_START), tick=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SEND_MAIL = r"/messages/[^/]+/send$"  # the Graph request that sends an e-mail (a draft: core.mailer)


class MockServer:
    """The mock backend in this process, on free HTTP and HTTPS ports."""

    def __init__(self, db_path: str):
        from werkzeug.serving import make_server

        from mock_backend import create_app
        from support_flows.core.settings import Settings

        self.port, self.tls_port = free_port(), free_port()
        self.url = f"http://localhost:{self.port}"
        # the DAG tests run on the settings' placeholder defaults: in this mock's tenant they exist
        # (a wrong mailbox, site or plan is still refused, as Graph refuses it)
        defaults = Settings()
        placeholders = (defaults.sender_mailbox, *defaults.admin_recipients, *defaults.sysadmin_recipients)
        self.app = create_app(db_path, public_url=self.url, extra_mailboxes=placeholders)
        self._servers = [
            make_server("127.0.0.1", self.port, self.app, threaded=True),
            make_server("127.0.0.1", self.tls_port, self.app, threaded=True, ssl_context="adhoc"),
        ]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()

    # small helpers the tests read like sentences
    def get(self, path: str, **params):
        import requests

        response = requests.get(self.url + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body=None):
        import requests

        response = requests.post(self.url + path, json=body if body is not None else {}, timeout=120)
        response.raise_for_status()
        return response.json()

    def patch(self, path: str, body: dict):
        import requests

        response = requests.patch(self.url + path, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.post("/_mock/reset")

    def seed(self, **body):
        return self.post("/_mock/seed", body)

    def faults(self, *rules: dict) -> None:
        self.post("/_mock/faults", list(rules))

    def mail(self) -> list[dict]:
        return self.get("/_mock/mail")["items"]

    def token_requests(self) -> int:
        """How many access tokens the identity endpoint has issued (from the request log)."""
        return sum(1 for r in self.get("/_mock/requests")["items"] if r["path"].endswith("/oauth2/v2.0/token"))


def connections_for(mock: MockServer, reporting_url: str) -> dict[str, dict]:
    return {
        "support_api": {
            "conn_type": "http",
            "host": "localhost",
            "port": mock.port,
            "schema": "http",
            "extra": {"timeout": 5},
        },
        "support_graph": {
            "conn_type": "msgraph",
            "host": f"localhost:{mock.port}",
            "schema": "http",
            "login": "test-client",
            "password": "test-client-secret",
            "extra": {
                "tenant_id": "mock-tenant",
                "authority": f"https://localhost:{mock.tls_port}",
                "disable_instance_discovery": True,
                "verify": False,
                "base_url": f"{mock.url}/graph/v1.0/",
                "allowed_hosts": "localhost",
            },
        },
        "support_reporting": {"conn_type": "sqlite", "host": reporting_url},
        "support_alert_webhook": {
            "conn_type": "http",
            "host": f"{mock.url}/_mock/webhook/teams",
            "extra": {"format": "teams"},
        },
    }


def fuzzing_in_full() -> bool:
    """Under ``python3 scripts/dev.py test --fuzz``: the generated-request tests take their full budget."""
    return os.environ.get("SUPPORT_FUZZ") == "full"


def fuzz_budget(short: int, full: int) -> int:
    """How many examples per operation schemathesis generates: ``short`` in the everyday runs (the
    whole suite must stay within minutes), ``full`` under ``python3 scripts/dev.py test --fuzz``."""
    return full if fuzzing_in_full() else short


def schemathesis(
    definition, url: str, workdir, *args: str, hooks: Path | None = None
) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the schemathesis CLI against ``url`` with the API ``definition``: a new seed each run,
    printed (SCHEMATHESIS_SEED=N replays it), no example database, a JSON report. Returns what it
    printed and its report; ``args`` are further CLI options (checks, headers, examples); ``hooks``
    a file of schemathesis hooks (loaded as SCHEMATHESIS_HOOKS from its folder)."""
    env = dict(os.environ)
    if hooks:
        env["SCHEMATHESIS_HOOKS"], env["PYTHONPATH"] = hooks.stem, str(hooks.parent)
    seed = int(os.environ.get("SCHEMATHESIS_SEED") or random.randrange(2**31))
    print(f"schemathesis seed: {seed} (SCHEMATHESIS_SEED={seed} replays it)")
    report = Path(workdir) / "schemathesis-report.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            str(definition),
            "--url",
            url,
            "--seed",
            str(seed),
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=workdir,
        env=env,
    )
    print(done.stdout[-6000:])
    assert report.exists(), f"schemathesis wrote no report: it did not run\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done, json.loads(report.read_text())
