"""A run's personal fields, kept out of Airflow's metadata by the API server (server/personal.py),
reach its first step: Flow 1 makes the ticket with the customer's own name, address and words from
the kept fields, its conf holding references only; the error log's round deletes them once older
than intake_retention_hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support_flows.storage import intake
from support_flows.storage.reporting import ReportingStore

FIELDS = {
    "customer_name": "Keiko Tanaka",
    "customer_email": "keiko@example.jp",
    "subject": "Dark mode",
    "description": "Please add a dark theme.",
}


def run_id_of(moment: datetime) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    return DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=moment, run_after=moment)


def test_flow_1_makes_the_ticket_from_the_kept_fields_with_references_in_its_conf(run_dag, mock):
    from support_flows.core import times

    moment = times.now().replace(microsecond=0)
    engine = ReportingStore().engine
    assert intake.put(engine, "support_ticket_created", run_id_of(moment), FIELDS, times.now())
    result = run_dag("support_ticket_created", {"request_id": "kept-1", "priority": "high"}, logical_date=moment)
    assert result.state == "success", result.task_states
    (ticket,) = mock.get("/api/tickets", limit=10)["items"]
    assert {name: ticket[name] for name in FIELDS} == FIELDS and ticket["priority"] == "high"
    (mail,) = mock.mail()
    assert mail["to"] == ["keiko@example.jp"]
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        conf = session.query(DagRun.conf).filter(DagRun.run_id == result.run_id).scalar()
    assert conf == {"request_id": "kept-1", "priority": "high"}


def test_without_kept_fields_a_new_ticket_fails_naming_what_it_lacks(run_dag, mock, capfd):
    result = run_dag("support_ticket_created", {"request_id": "kept-2"})
    assert result.state == "failed"
    assert "conf.customer_name: required for support_ticket_created" in capfd.readouterr().out


def test_the_error_logs_round_deletes_kept_fields_past_their_retention(run_dag, mock):
    from support_flows.core import times

    engine = ReportingStore().engine
    now = times.now()
    intake.put(engine, "support_ticket_created", "manual__old", FIELDS, now - timedelta(hours=25))
    intake.put(engine, "support_ticket_created", "manual__new", FIELDS, now - timedelta(hours=23))
    assert run_dag("support_error_log").outputs["purge_kept_requests"] == 1
    assert intake.read(engine, "support_ticket_created", "manual__old") is None
    assert intake.read(engine, "support_ticket_created", "manual__new") == FIELDS


def test_kept_fields_are_encrypted_at_rest(connections, monkeypatch):
    """With Airflow's Fernet key (the API server's and the workers' own), the table holds no
    customer's words in the clear."""
    import sqlalchemy as sa
    from airflow.models import crypto
    from cryptography.fernet import Fernet

    from support_flows.storage.tables import intake as table

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    crypto.get_fernet.cache_clear()
    try:
        engine = ReportingStore().engine
        intake.put(engine, "support_ticket_created", "manual__secret", FIELDS, datetime.now(UTC))
        with engine.connect() as conn:
            stored = conn.execute(sa.select(table.c.fields).where(table.c.run_id == "manual__secret")).scalar()
        assert "keiko" not in stored and "Tanaka" not in stored
        assert intake.read(engine, "support_ticket_created", "manual__secret") == FIELDS
    finally:
        crypto.get_fernet.cache_clear()
