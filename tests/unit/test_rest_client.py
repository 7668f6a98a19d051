"""The REST client the e2e tests and the benchmarks share (scripts/rest_client.py): a client that
outlives Airflow's 15-minute token logs in again and repeats the request once."""

from __future__ import annotations

from types import SimpleNamespace

import requests_mock

from support_flows_dev.rest_client import Client

BASE = "http://airflow.test"


def test_an_expired_token_is_renewed_once_and_the_request_repeated():
    stack = SimpleNamespace(airflow_url=BASE, passwords=lambda: {"admin": "secret"})
    with requests_mock.Mocker() as http:
        http.post(f"{BASE}/auth/token", [{"json": {"access_token": "old"}}, {"json": {"access_token": "new"}}])
        http.get(
            f"{BASE}/api/v2/dags",
            additional_matcher=lambda request: request.headers["Authorization"] == "Bearer old",
            status_code=401,
        )
        http.get(
            f"{BASE}/api/v2/dags",
            additional_matcher=lambda request: request.headers["Authorization"] == "Bearer new",
            json={"dags": []},
        )
        client = Client(stack, "admin")
        answer = client.session.get(f"{BASE}/api/v2/dags", timeout=5)
        assert answer.status_code == 200 and answer.json() == {"dags": []}
        assert [r.url for r in http.request_history].count(f"{BASE}/auth/token") == 2
        http.get(f"{BASE}/refused", status_code=401)  # refused again after the new login: answered as is
        assert client.session.get(f"{BASE}/refused", timeout=5).status_code == 401
