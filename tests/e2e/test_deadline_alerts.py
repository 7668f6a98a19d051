"""A run that is late is alerted like one that fails (Airflow's Deadline Alerts): with the Support
API stalled, a new-ticket run passes its deadline (15 s on the test stack, set with
SUPPORT_TICKET_CREATED_DEADLINE_MINUTES) and the administrators get the alert while the run is
still going; the run then finishes, and the customer gets exactly one e-mail."""

from __future__ import annotations

import time

import pytest
import requests

from e2e_support import Client, mock_get
from mock_backend import tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ADMIN = tenant.SYSADMIN_RECIPIENTS[0]  # the stack's sysadmin_recipients


def test_a_stalled_new_ticket_run_alerts_the_administrators_before_it_ends(stack):
    requests.post(
        f"{stack.mock_url}/_mock/faults",
        timeout=30,
        json=[
            # each call stalled below the client's 30 s timeout, so nothing is retried: about 50 s in all
            {"path": "^/api/tickets$", "method": "POST", "delay_s": 25, "times": 1},
            {"path": "^/api/tickets/[0-9]+/ai-response$", "method": "POST", "delay_s": 25, "times": 1},
        ],
    ).raise_for_status()
    client = Client(stack)
    customer = "late.run@example.org"
    response = client.trigger(
        "support_ticket_created",
        {
            "customer_name": "Late Run",
            "customer_email": customer,
            "subject": "Cannot log in",
            "description": "The page keeps loading.",
            "request_id": "lateness-e2e-1",
        },
    )
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]

    deadline = time.monotonic() + 120
    late = []
    while time.monotonic() < deadline and not late:
        late = [
            m
            for m in mock_get(stack, "/_mock/mail")["items"]
            if m["to"] == [ADMIN] and "support_ticket_created is late" in m["subject"] and run_id in m["body"]
        ]  # this run's alert: any slow Flow 1 run of another test may be late too
        time.sleep(1)
    assert late, "no lateness alert reached the administrators"
    assert "RunLate" in late[0]["subject"]
    run = (
        Client(stack, "admin")
        .session.get(  # (an admin reads runs; PowerApps reads only outcomes)
            f"{stack.airflow_url}/api/v2/dags/support_ticket_created/dagRuns/{run_id}", timeout=30
        )
        .json()
    )
    assert run["state"] in ("queued", "running"), "the alert came while the run was still going"

    assert client.wait("support_ticket_created", run_id, timeout=180) == "success"
    assert len([m for m in mock_get(stack, "/_mock/mail")["items"] if m["to"] == [customer]]) == 1
