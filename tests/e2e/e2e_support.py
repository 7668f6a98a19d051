"""What the end-to-end tests share: the stack of the dev launcher (support_flows_dev.devstack) and a PowerApps-like client."""

from __future__ import annotations

import requests

from support_flows_dev.devstack import Stack
from support_flows_dev.rest_client import Client

__all__ = ["Stack", "Client", "mock_get", "EVENT_DAGS", "NEW_TICKET", "customers_of", "customer_data_in_airflow"]

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
