"""What the end-to-end tests share: the stack of the dev launcher (support_flows_dev.devstack) and a PowerApps-like client."""

from __future__ import annotations

import requests

from support_flows_dev.devstack import Stack
from support_flows_dev.rest_client import Client

__all__ = ["Stack", "Client", "mock_get", "EVENT_DAGS", "NEW_TICKET"]

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


def mock_get(stack: Stack, path: str, **params):
    return requests.get(f"{stack.mock_url}{path}", params=params, timeout=30).json()
