"""The integration keys' limits hold where production runs: two API servers (Helm runs two replicas)
on one metadata database share one budget, and behind a trusted proxy they count the caller's
address, not the proxy's. Two extra API servers on the shared stack's database, each as compose
and Helm start it (``--proxy-headers``, the proxy's address trusted): here 127.0.0.1, the test
playing the proxy that forwards a caller's address."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from support_flows_dev.processes import wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LIMIT = 20  # refused keys a minute from one address (support_flows.server.limits.FailureLimiter)


@contextlib.contextmanager
def api_servers(stack, count: int):
    """``count`` more API servers of the stack, on free ports, trusting X-Forwarded-For from 127.0.0.1."""
    from helpers import free_port

    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent))
    started = []
    try:
        for _ in range(count):
            port = free_port()
            env = {**stack.env(), "AIRFLOW__API__PORT": str(port), "FORWARDED_ALLOW_IPS": "127.0.0.1"}
            process = subprocess.Popen(
                [airflow, "api-server", "--port", str(port), "--proxy-headers"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append((f"http://127.0.0.1:{port}", process))
        for url, process in started:
            wait_for_http(f"{url}/api/v2/monitor/health", 180, process)
        yield [url for url, _ in started]
    finally:
        for _, process in started:
            process.terminate()
        for _, process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_two_api_servers_share_one_budget_of_refused_keys_per_forwarded_caller(stack):
    caller = f"203.0.113.{secrets.randbelow(200) + 1}"  # the address the proxy forwards
    with api_servers(stack, 2) as (first, second):
        answers = []
        for n in range(2 * LIMIT):
            url = (first, second)[n % 2]  # alternately, as a load balancer spreads them
            wrong = f"sfk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
            response = requests.post(
                f"{url}/api/v2/dags/support_ticket_created/dagRuns",
                json={"conf": {}},
                headers={"X-Api-Key": wrong, "X-Forwarded-For": caller},
                timeout=60,
            )
            answers.append((url, response.status_code, response.headers.get("Retry-After")))
        refused = [status for _, status, _ in answers].count(401)
        # one budget: 20 refusals over both servers (each lets one more through before it learns)
        assert LIMIT <= refused <= LIMIT + 1, answers
        assert all(status == 429 and int(retry) <= 60 for _, status, retry in answers[LIMIT + 2 :]), answers
        assert {url for url, status, _ in answers if status == 429} == {first, second}
        # another caller through the same proxy is not slowed: the budget is the caller's
        other = requests.post(
            f"{first}/api/v2/dags/support_ticket_created/dagRuns",
            json={"conf": {}},
            headers={"X-Api-Key": "sfk_000000000000_" + "x" * 43, "X-Forwarded-For": "198.51.100.23"},
            timeout=60,
        )
        assert other.status_code == 401
