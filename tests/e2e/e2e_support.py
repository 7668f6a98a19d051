"""What the end-to-end tests share: the stack from scripts/devstack.py and a PowerApps-like client."""

from __future__ import annotations

import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from rest_client import Client  # noqa: E402

from devstack import Stack  # noqa: E402

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
