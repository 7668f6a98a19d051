"""Airflow's REST API as PowerApps (or an admin) uses it: shared by the end-to-end tests and the
benchmarks, so both trigger runs exactly as docs/powerapps.md tells makers to."""

from __future__ import annotations

import time

import requests

from support_flows_dev.devstack import Stack


class Client:
    """A REST client with PowerApps' credentials."""

    def __init__(self, stack: Stack, user: str = "powerapps"):
        self.base = stack.airflow_url
        password = stack.passwords()[user]
        token = requests.post(f"{self.base}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def trigger(self, dag_id: str, conf: dict) -> requests.Response:
        """Trigger as the PowerApps guide tells makers to: a 5xx or a time-out is retried with backoff
        (the embedded SQLite metadata database can be briefly locked by the scheduler)."""
        for attempt in range(4):
            try:
                response = self.session.post(
                    f"{self.base}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}, timeout=60
                )
            except requests.Timeout:
                if attempt == 3:
                    raise
                time.sleep(2**attempt)
                continue
            if response.status_code < 500 or attempt == 3:
                return response
            time.sleep(2**attempt)
        raise AssertionError("unreachable")

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of the DAG, oldest first, read page by page (the API answers 50 at a time)."""
        runs: list[dict] = []
        while True:
            page = self._runs_page(dag_id, limit=100, offset=len(runs))
            runs += page["dag_runs"]
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def run_count(self, dag_id: str) -> int:
        """How many runs the DAG has, all pages counted."""
        return self._runs_page(dag_id, limit=1, offset=0)["total_entries"]

    def _runs_page(self, dag_id: str, *, limit: int, offset: int) -> dict:
        response = self.session.get(
            f"{self.base}/api/v2/dags/{dag_id}/dagRuns",
            params={"limit": limit, "offset": offset, "order_by": "id"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def wait(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.session.get(f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}", timeout=30).json()["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(0.5)
        raise TimeoutError(f"{dag_id} {run_id} did not finish in {timeout}s")

    def output(self, dag_id: str, run_id: str, task_id: str):
        url = f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        response = self.session.get(url, params={"deserialize": "true"}, timeout=30)
        response.raise_for_status()
        return response.json()["value"]
