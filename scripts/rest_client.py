"""Airflow's REST API as PowerApps (or an admin) uses it: shared by the end-to-end tests and the
benchmarks, so both trigger runs exactly as docs/powerapps.md tells makers to."""

from __future__ import annotations

import time

import requests

from support_flows_dev.devstack import Stack

OUTCOME_ROUTE = "/support/v1/flows/{dag_id}/runs/{run_id}"
NOT_OUTCOME_FIELDS = ("run_id", "state", "reason_code", "reason_message")


class Client:
    """A REST client with PowerApps' credentials (a token from ``/auth/token``), or an admin's.

    PowerApps starts runs through Airflow's REST trigger and reads their outcome through the
    one-call API's outcome route (its role reads no runs, task instances or XComs); an admin reads
    them through Airflow's REST API."""

    def __init__(self, stack: Stack, user: str = "powerapps"):
        self.base, self.user = stack.airflow_url, user
        self._outcomes: dict[tuple[str, str], dict] = {}
        self._password = stack.passwords()[user]
        self.session = requests.Session()
        self._log_in()
        self.session.hooks["response"].append(self._log_in_again_on_401)

    def _log_in(self) -> None:
        token = requests.post(
            f"{self.base}/auth/token", json={"username": self.user, "password": self._password}, timeout=30
        )
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def _log_in_again_on_401(self, response: requests.Response, **send_options) -> requests.Response:
        """Airflow's tokens live 15 minutes on every stack here: a client that outlives its token
        (a benchmark of an hour) logs in again and repeats the request once, as an app would."""
        request = response.request
        if response.status_code != 401 or request.headers.get("X-Logged-In-Again"):
            return response
        self._log_in()
        again = request.copy()
        again.headers["Authorization"] = self.session.headers["Authorization"]
        again.headers["X-Logged-In-Again"] = "1"
        return self.session.send(again, **send_options)

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
        """The run's final state: as PowerApps, from the outcome route (which waits up to 20 s a call);
        as an admin, from the run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.user == "powerapps":
                url = self.base + OUTCOME_ROUTE.format(dag_id=dag_id, run_id=run_id)
                wait = max(0, min(20, int(deadline - time.monotonic())))
                response = self.session.get(url, params={"wait_seconds": wait}, timeout=wait + 30)
                response.raise_for_status()
                if response.status_code == 200:
                    self._outcomes[(dag_id, run_id)] = response.json()
                    return response.json()["state"]
                continue
            state = self.session.get(f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}", timeout=30).json()["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(0.5)
        raise TimeoutError(f"{dag_id} {run_id} did not finish in {timeout}s")

    def output(self, dag_id: str, run_id: str, task_id: str):
        """What a task returned: as PowerApps, the outcome of the run (its result task's value, so
        ``task_id`` must name that task); as an admin, the task's XCom."""
        if self.user == "powerapps":
            if (dag_id, run_id) not in self._outcomes:
                self.wait(dag_id, run_id)
            outcome = self._outcomes[(dag_id, run_id)]
            return {name: value for name, value in outcome.items() if name not in NOT_OUTCOME_FIELDS}
        url = f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        response = self.session.get(url, params={"deserialize": "true"}, timeout=30)
        response.raise_for_status()
        return response.json()["value"]
