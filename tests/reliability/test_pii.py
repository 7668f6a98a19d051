"""PII-free means PII-free: after the event flows ran for a customer, the good way and the bad way
(Graph refusing the e-mail and the Planner task, whose error messages used to quote the recipient
and the ticket's subject), and a ticket of theirs came in by e-mail through the event watcher, no
reporting table holds the customer's name or address anywhere (not the facts, not the error log,
not the ledger of side effects), and neither does Airflow's metadata database outside the conf
PowerApps itself sent (purged after its retention: tests/dags/test_retention.py): not the
watcher's run conf, not an XCom, not a rendered template field, not a note."""

from __future__ import annotations

import requests
import sqlalchemy as sa

from helpers import SEND_MAIL
from support_flows.storage import tables
from support_flows.storage.reporting import ReportingStore

NAME, EMAIL = "Zoë Pii-Probe", "zoe.pii-probe@example.org"
TICKET = {
    "customer_name": NAME,
    "customer_email": EMAIL,
    "subject": f"Login broken for {NAME}",
    "description": f"Hello, this is {NAME} ({EMAIL}). I cannot log in.",
}


def everything_stored() -> list[str]:
    store = ReportingStore()
    values = []
    with store.engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                values += [str(v) for v in row if v is not None]
    return values


def everything_airflow_kept() -> list[str]:
    """The metadata database's copies of what runs were given and produced, except the conf of the
    runs PowerApps started (that is the customer's own request, kept for its retention)."""
    from airflow.utils.session import create_session

    values = []
    with create_session() as session:
        conn = session.connection()
        queries = (
            "SELECT conf FROM dag_run WHERE run_id LIKE 'backend_event__%'",
            "SELECT value FROM xcom",
            "SELECT rendered_fields FROM rendered_task_instance_fields",
            "SELECT content FROM dag_run_note",
            "SELECT content FROM task_instance_note",
        )
        for query in queries:
            values += [str(v) for (v,) in conn.exec_driver_sql(query) if v is not None]
    return values


def test_no_table_holds_the_customers_name_or_address(run_dag, mock, reporting_backend, quick_retries, quick_watcher):
    mock.seed()
    answered = run_dag("support_ticket_created", {**TICKET, "request_id": "pii-1"})
    assert answered.state == "success"

    mock.faults({"path": SEND_MAIL, "status": 400, "times": 100})
    refused = run_dag("support_ticket_created", {**TICKET, "subject": "Dark mode please", "request_id": "pii-2"})
    assert refused.state == "failed"
    requests.delete(f"{mock.url}/_mock/faults", timeout=10)  # the refusal is over

    ticket_id = answered.outputs["answer_or_queue"]["ticket_id"]
    mock.post(f"/api/tickets/{ticket_id}/assign", {"agent_id": 6, "assigned_by": "admin"})
    resolved = run_dag(
        "support_ticket_resolved", {"ticket_id": ticket_id, "agent_id": 6, "resolution_summary": f"Done, {NAME}."}
    )
    assert resolved.state == "success"

    mock.faults({"path": "planner/tasks", "status": 400, "times": 100})
    rated = run_dag("support_feedback_received", {"ticket_id": ticket_id, "rating": 1, "comment": f"Signed {NAME}"})
    assert rated.state == "failed"
    requests.delete(f"{mock.url}/_mock/faults", timeout=10)
    assert run_dag("support_analytics_load").state == "success"  # the analysts' tables are loaded, and scanned

    # a ticket of theirs by e-mail, started by the event watcher, answered the bad way too
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:  # the other backend's variant ran the watcher in this database too
        session.query(DagRun).filter(DagRun.run_id.like("backend_event__%")).delete(synchronize_session=False)
    inbound = mock.post("/api/inbound/tickets", {**TICKET, "subject": "Invoice missing", "channel": "email"})
    mock.faults({"path": SEND_MAIL, "status": 400, "times": 100})
    assert run_dag("support_backend_events").state == "success"
    with create_session() as session:
        started = [r.conf for r in session.query(DagRun).filter(DagRun.run_id.like("backend_event__%"))]
    (watched,) = [conf for conf in started if conf.get("ticket_id") == inbound["id"]]
    assert run_dag("support_ticket_created", watched).state == "failed"
    requests.delete(f"{mock.url}/_mock/faults", timeout=10)

    kept = everything_airflow_kept()
    assert any("ticket_id" in v for v in kept), "the scan read the watcher's runs and the outputs"
    needles = {NAME.lower(), EMAIL.lower(), "zoe.pii-probe", "pii-probe@"}
    assert [v for v in kept if any(n in v.lower() for n in needles)] == []

    stored = everything_stored()
    assert any("Graph" in v and "refused" in v for v in stored), "the failures were logged"
    leaks = [v for v in stored if any(n in v.lower() for n in needles)]
    assert leaks == []
