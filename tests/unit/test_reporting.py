"""The reporting schema and its idempotent upsert, on SQLite and on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from support_flows import reporting
from support_flows.reporting import ReportingStore, customer_key, ensure_schema, upsert

CONTRACT_TABLES = {"ticket_facts", "feedback_facts", "agent_daily_performance", "daily_summary", "escalations", "flow_errors"}
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def ticket_row(ticket_id: int, status: str = "queued") -> dict:
    return {
        "ticket_id": ticket_id, "customer_key": customer_key(f"c{ticket_id}@example.org", "salt"),
        "priority": "normal", "channel": "web", "status": status, "agent_id": None, "ai_responded": False,
        "created_at": NOW, "assigned_at": None, "resolved_at": None, "resolution_hours": None,
        "source_updated_at": NOW,
    }


@pytest.fixture
def sqlite_engine(tmp_path):
    return sa.create_engine(f"sqlite:///{tmp_path / 'reporting.sqlite'}")


@pytest.fixture
def pg_engine(postgres_url):
    """A schema of its own in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = sa.create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")


def test_schema_is_created_once_and_versioned(engine):
    assert ensure_schema(engine) == reporting.SCHEMA_VERSION
    assert ensure_schema(engine) == reporting.SCHEMA_VERSION
    names = set(sa.inspect(engine).get_table_names())
    assert names >= CONTRACT_TABLES
    with engine.connect() as conn:
        versions = [v for (v,) in conn.execute(sa.text("SELECT version FROM reporting_schema_version ORDER BY version"))]
    assert versions == list(range(1, reporting.SCHEMA_VERSION + 1))  # each migration step once


def test_loading_the_same_rows_twice_changes_nothing(engine):
    ensure_schema(engine)
    rows = [ticket_row(i) for i in range(1, 2501)]
    assert upsert(engine, "ticket_facts", rows) == 2500
    with engine.connect() as conn:
        before = conn.execute(sa.select(reporting.ticket_facts).order_by("ticket_id")).all()
    assert upsert(engine, "ticket_facts", rows) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(reporting.ticket_facts).order_by("ticket_id")).all() == before


def test_a_changed_row_is_updated_by_its_natural_key(engine):
    ensure_schema(engine)
    upsert(engine, "ticket_facts", [ticket_row(1), ticket_row(2)])
    assert upsert(engine, "ticket_facts", [ticket_row(1, "resolved"), ticket_row(2)]) == 1
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(reporting.ticket_facts.c.ticket_id, reporting.ticket_facts.c.status)).all())
    assert statuses == {1: "resolved", 2: "queued"}


def test_a_large_streamed_load_updates_only_changed_rows_and_keeps_the_last_of_a_repeated_key(engine):
    """Past COPY_THRESHOLD rows, PostgreSQL loads go through COPY and a temporary table: same rules."""
    ensure_schema(engine)
    count = reporting.COPY_THRESHOLD * 3
    assert upsert(engine, "ticket_facts", (ticket_row(i) for i in range(1, count + 1))) == count
    changed = [ticket_row(i, "resolved" if i % 100 == 0 else "queued") for i in range(1, count + 1)]
    assert upsert(engine, "ticket_facts", iter(changed)) == count // 100
    repeated = [*changed, ticket_row(7, "closed")]
    assert upsert(engine, "ticket_facts", repeated) == 1
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(reporting.ticket_facts.c.ticket_id, reporting.ticket_facts.c.status)).all())
    assert len(statuses) == count and statuses[7] == "closed" and statuses[100] == "resolved" and statuses[101] == "queued"


def test_rows_of_one_load_must_have_the_same_columns(engine):
    ensure_schema(engine)
    rows = [ticket_row(i) for i in range(1, reporting.COPY_THRESHOLD + 2)]
    del rows[-1]["agent_id"]
    with pytest.raises((ValueError, sa.exc.StatementError)):
        upsert(engine, "ticket_facts", rows)
    with engine.connect() as conn:  # nothing of a refused load is kept
        assert conn.execute(sa.select(sa.func.count()).select_from(reporting.ticket_facts)).scalar() == 0


def test_composite_keys_and_dates(engine):
    ensure_schema(engine)
    row = {"agent_id": 3, "day": date(2026, 11, 25), "tickets_resolved": 4, "open_tickets": 2,
           "feedback_count": 1, "rating_avg": 4.0, "low_ratings": 0}
    assert upsert(engine, "agent_daily_performance", [row, {**row, "day": date(2026, 11, 24)}]) == 2
    assert upsert(engine, "agent_daily_performance", [row]) == 0
    assert upsert(engine, "agent_daily_performance", [{**row, "tickets_resolved": 5}]) == 1


def test_unknown_columns_are_refused(engine):
    ensure_schema(engine)
    with pytest.raises(ValueError, match=r"ticket_facts: unknown column\(s\) \['customer_email'\]"):
        upsert(engine, "ticket_facts", [{**ticket_row(1), "customer_email": "maria@example.org"}])


def test_no_table_has_a_column_for_raw_names_or_addresses():
    for table in reporting.TABLES.values():
        for column in table.columns:
            assert not any(word in column.name for word in ("email", "name", "address")), (table.name, column.name)


def test_customer_key_is_stable_pseudonymous_and_needs_the_salt():
    key = customer_key("Maria@Example.org ", "s1")
    assert key == customer_key("maria@example.org", "s1") != customer_key("maria@example.org", "s2")
    assert "maria" not in key and len(key) == 32
    with pytest.raises(ValueError, match="support_customer_key_salt"):
        customer_key("maria@example.org", "")


def test_store_reaches_the_database_through_the_airflow_connection(connections):
    store = ReportingStore()
    assert store.upsert("ticket_facts", [ticket_row(9)]) == 1
    assert [r["ticket_id"] for r in store.fetch_all("ticket_facts")] == [9]


def test_once_does_a_side_effect_once_and_returns_its_result(engine):
    ensure_schema(engine)
    calls = []

    def action():
        calls.append(1)
        return {"task_id": "T-1"}

    assert reporting.once(engine, "k", "planner_task", "run-1/task", action) == ({"task_id": "T-1"}, True)
    assert reporting.once(engine, "k", "planner_task", "run-2/task", action) == ({"task_id": "T-1"}, False)
    assert len(calls) == 1


def test_once_releases_the_claim_when_the_action_fails(engine):
    ensure_schema(engine)

    def boom():
        raise RuntimeError("Graph is down")

    with pytest.raises(RuntimeError):
        reporting.once(engine, "k", "mail", "run-1/task", boom)
    assert reporting.once(engine, "k", "mail", "run-1/task", lambda: "sent") == ("sent", True)


def test_once_refuses_a_second_owner_while_the_first_holds_the_claim(engine):
    ensure_schema(engine)
    seen = []

    def nested():
        with pytest.raises(reporting.SideEffectInProgress):
            reporting.once(engine, "k", "mail", "other-run/task", lambda: "never")
        seen.append("refused")
        return "sent"

    assert reporting.once(engine, "k", "mail", "run-1/task", nested) == ("sent", True)
    assert seen == ["refused"]


def test_watermarks_only_move_forward(tmp_path, connections):
    store = ReportingStore()
    assert store.get_watermark("feed") == 0
    store.set_watermark("feed", 10)
    store.set_watermark("feed", 7)
    assert store.get_watermark("feed") == 10


def test_the_data_dictionary_documents_every_table_and_column():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md").read_text()
    for name, table in reporting.TABLES.items():
        section = text.split(f"## `{name}`", 1)
        assert len(section) == 2, f"no section for {name}"
        body = section[1].split("\n## ", 1)[0]
        for column in table.columns:
            assert f"`{column.name}`" in body, f"{name}.{column.name} is not documented"
