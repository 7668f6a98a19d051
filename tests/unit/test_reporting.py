"""The reporting schema and its idempotent upsert, on SQLite and on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from support_flows.core.facts import customer_key
from support_flows.storage import ledger, loads, migrations, tables
from support_flows.storage.loads import upsert
from support_flows.storage.migrations import ensure_schema
from support_flows.storage.reporting import ReportingStore

CONTRACT_TABLES = {
    "ticket_facts",
    "feedback_facts",
    "agent_daily_performance",
    "daily_summary",
    "escalations",
    "flow_errors",
}
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def ticket_row(ticket_id: int, status: str = "queued") -> dict:
    return {
        "ticket_id": ticket_id,
        "customer_key": customer_key(f"c{ticket_id}@example.org", "salt"),
        "priority": "normal",
        "channel": "web",
        "status": status,
        "agent_id": None,
        "ai_responded": False,
        "created_at": NOW,
        "assigned_at": None,
        "resolved_at": None,
        "resolution_hours": None,
        "source_updated_at": NOW,
    }


def test_schema_is_created_once_and_versioned(engine):
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    postgres = engine.dialect.name == "postgresql"
    names = set(sa.inspect(engine).get_table_names(schema=tables.ANALYTICS if postgres else None))
    assert names >= CONTRACT_TABLES
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == f"v{tables.SCHEMA_VERSION}"


def test_loading_the_same_rows_twice_changes_nothing(engine):
    ensure_schema(engine)
    rows = [ticket_row(i) for i in range(1, 2501)]
    assert upsert(engine, "ticket_facts", rows) == 2500
    with engine.connect() as conn:
        before = conn.execute(sa.select(tables.ticket_facts).order_by("ticket_id")).all()
    assert upsert(engine, "ticket_facts", rows) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(tables.ticket_facts).order_by("ticket_id")).all() == before


def test_a_changed_row_is_updated_by_its_natural_key(engine):
    ensure_schema(engine)
    upsert(engine, "ticket_facts", [ticket_row(1), ticket_row(2)])
    assert upsert(engine, "ticket_facts", [ticket_row(1, "resolved"), ticket_row(2)]) == 1
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(tables.ticket_facts.c.ticket_id, tables.ticket_facts.c.status)).all())
    assert statuses == {1: "resolved", 2: "queued"}


def test_a_large_streamed_load_updates_only_changed_rows_and_keeps_the_last_of_a_repeated_key(engine):
    """Past COPY_THRESHOLD rows, PostgreSQL loads go through COPY and a temporary table: same rules."""
    ensure_schema(engine)
    count = loads.COPY_THRESHOLD * 3
    assert upsert(engine, "ticket_facts", (ticket_row(i) for i in range(1, count + 1))) == count
    changed = [ticket_row(i, "resolved" if i % 100 == 0 else "queued") for i in range(1, count + 1)]
    assert upsert(engine, "ticket_facts", iter(changed)) == count // 100
    repeated = [*changed, ticket_row(7, "closed")]
    assert upsert(engine, "ticket_facts", repeated) == 1
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(tables.ticket_facts.c.ticket_id, tables.ticket_facts.c.status)).all())
    assert (
        len(statuses) == count and statuses[7] == "closed" and statuses[100] == "resolved" and statuses[101] == "queued"
    )


def test_rows_of_one_load_must_have_the_same_columns(engine):
    ensure_schema(engine)
    rows = [ticket_row(i) for i in range(1, loads.COPY_THRESHOLD + 2)]
    del rows[-1]["agent_id"]
    with pytest.raises((ValueError, sa.exc.StatementError)):
        upsert(engine, "ticket_facts", rows)
    with engine.connect() as conn:  # nothing of a refused load is kept
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.ticket_facts)).scalar() == 0


def test_composite_keys_and_dates(engine):
    ensure_schema(engine)
    row = {
        "agent_id": 3,
        "day": date(2026, 11, 25),
        "tickets_resolved": 4,
        "open_tickets": 2,
        "feedback_count": 1,
        "rating_avg": 4.0,
        "low_ratings": 0,
    }
    assert upsert(engine, "agent_daily_performance", [row, {**row, "day": date(2026, 11, 24)}]) == 2
    assert upsert(engine, "agent_daily_performance", [row]) == 0
    assert upsert(engine, "agent_daily_performance", [{**row, "tickets_resolved": 5}]) == 1


def test_unknown_columns_are_refused(engine):
    ensure_schema(engine)
    with pytest.raises(ValueError, match=r"ticket_facts: unknown column\(s\) \['customer_email'\]"):
        upsert(engine, "ticket_facts", [{**ticket_row(1), "customer_email": "maria@example.org"}])


def test_no_table_has_a_column_for_raw_names_or_addresses():
    # the labels analysts asked for: staff names (never a customer's) and holidays; no address anywhere
    labels = {("agents", "display_name"), ("calendar", "holiday_name")}
    for table in tables.TABLES.values():
        for column in table.columns:
            if (table.name, column.name) in labels:
                assert "email" not in column.name and "address" not in column.name
                continue
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

    assert ledger.once(engine, "k", "planner_task", "run-1/task", action) == ({"task_id": "T-1"}, True)
    assert ledger.once(engine, "k", "planner_task", "run-2/task", action) == ({"task_id": "T-1"}, False)
    assert len(calls) == 1


def test_once_releases_the_claim_when_the_action_fails(engine):
    ensure_schema(engine)

    def boom():
        raise RuntimeError("Graph is down")

    with pytest.raises(RuntimeError):
        ledger.once(engine, "k", "mail", "run-1/task", boom)
    assert ledger.once(engine, "k", "mail", "run-1/task", lambda: "sent") == ("sent", True)


def test_once_refuses_a_second_owner_while_the_first_holds_the_claim(engine):
    ensure_schema(engine)
    seen = []

    def nested():
        with pytest.raises(ledger.SideEffectInProgress):
            ledger.once(engine, "k", "mail", "other-run/task", lambda: "never")
        seen.append("refused")
        return "sent"

    assert ledger.once(engine, "k", "mail", "run-1/task", nested) == ("sent", True)
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
    for name, table in tables.TABLES.items():
        section = text.split(f"## `{name}`", 1)
        assert len(section) == 2, f"no section for {name}"
        body = section[1].split("\n## ", 1)[0]
        for column in table.columns:
            assert f"`{column.name}`" in body, f"{name}.{column.name} is not documented"
    views = text.split("## Views", 1)[1].split("\n## ", 1)[0]
    engine = sa.create_engine("sqlite://")
    ensure_schema(engine)
    for name in tables.VIEWS:
        (line,) = [line for line in views.splitlines() if line.startswith(f"| `{name}` |")]
        with engine.connect() as conn:
            columns = conn.exec_driver_sql(f'SELECT * FROM "{name}"').keys()
        for column in columns:
            assert f"`{column}`" in line, f"view {name}.{column} is not documented"


def test_moments_round_trip_and_only_move_forward(engine):
    ensure_schema(engine)
    store = ReportingStore(engine=engine)
    assert store.get_moment("m") is None
    later = datetime(2026, 11, 25, 12, 0, 0, 654321, tzinfo=UTC)
    store.set_moment("m", later)
    store.set_moment("m", datetime(2026, 11, 24, tzinfo=UTC))
    assert store.get_moment("m") == later


def test_loaded_at_moves_only_when_a_row_changes(engine):
    ensure_schema(engine)
    store = ReportingStore(engine=engine)
    store.upsert("ticket_facts", [ticket_row(1)])
    (first,) = store.fetch_all("ticket_facts")
    assert store.upsert("ticket_facts", [ticket_row(1)]) == 0
    assert store.fetch_all("ticket_facts") == [first]
    store.upsert("ticket_facts", [ticket_row(1, "resolved")])
    (second,) = store.fetch_all("ticket_facts")
    assert second["loaded_at"] > first["loaded_at"]


@pytest.mark.postgres
def test_the_analyst_role_reads_analytics_only_and_the_writer_changes_no_table(pg_engine):
    import psycopg

    ensure_schema(pg_engine)
    ReportingStore(engine=pg_engine).upsert("ticket_facts", [ticket_row(1)])
    url = pg_engine.url
    users = {role: f"{role}_{uuid.uuid4().hex[:8]}" for role in (tables.ANALYST_ROLE, tables.WRITER_ROLE)}
    with pg_engine.begin() as conn:
        for role, user in users.items():
            conn.exec_driver_sql(f'CREATE ROLE "{user}" LOGIN IN ROLE "{role}"')

    def run_as(user: str, sql: str):
        with psycopg.connect(
            host=url.host, port=url.port or 5432, dbname=url.database, user=user, autocommit=True
        ) as conn:
            return conn.execute(sql).fetchall() if sql.lstrip().upper().startswith("SELECT") else conn.execute(sql)

    try:
        analyst, writer = users[tables.ANALYST_ROLE], users[tables.WRITER_ROLE]
        assert run_as(analyst, "SELECT ticket_id FROM analytics.ticket_facts") == [(1,)]
        assert run_as(analyst, "SELECT count(*) FROM analytics.flow_errors") == [(0,)]
        # the views of the shared metrics, and the tables that label reports, are theirs to read too
        for readable in ("resolution_times", "backlog", "agents", "calendar"):
            assert len(run_as(analyst, f"SELECT count(*) FROM analytics.{readable}")) == 1
        for refused in (
            "INSERT INTO analytics.ticket_facts (ticket_id) VALUES (2)",
            "UPDATE analytics.ticket_facts SET status = 'x'",
            "DELETE FROM analytics.ticket_facts",
            "CREATE TABLE analytics.mine (x int)",
            "DROP TABLE analytics.ticket_facts",
            "SELECT * FROM support_internal.side_effects",
            "SELECT * FROM support_internal.watermarks",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                run_as(analyst, refused)
        run_as(writer, "UPDATE analytics.ticket_facts SET status = 'closed'")
        run_as(writer, "INSERT INTO support_internal.watermarks VALUES ('w', 1, now())")
        for refused in (
            "CREATE TABLE analytics.mine (x int)",
            "DROP TABLE analytics.ticket_facts",
            "ALTER TABLE support_internal.watermarks ADD COLUMN x int",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                run_as(writer, refused)
    finally:
        with pg_engine.begin() as conn:
            for user in users.values():
                conn.exec_driver_sql(f'DROP OWNED BY "{user}"')
                conn.exec_driver_sql(f'DROP ROLE "{user}"')


def test_the_data_dictionary_is_in_the_database_as_comments(pg_engine, tmp_path, monkeypatch):
    """An analyst's SQL client shows each table's, view's and column's meaning (COMMENT ON), written
    by the deploy step from docs/data-dictionary.md, the one source (a changed line is rewritten)."""
    from pathlib import Path

    from support_flows.storage import dictionary

    source = (Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md").read_text()
    ensure_schema(pg_engine)
    entries = dictionary.parse(source)
    with pg_engine.connect() as conn:
        for name, table in tables.TABLES.items():
            if table.schema != tables.ANALYTICS:
                continue
            oid = conn.exec_driver_sql(f"SELECT 'analytics.{name}'::regclass::oid").scalar()
            assert conn.exec_driver_sql(f"SELECT obj_description({oid}, 'pg_class')").scalar() == entries[name].comment
            for column in conn.exec_driver_sql(
                f"SELECT attname, col_description({oid}, attnum) FROM pg_attribute"
                f" WHERE attrelid = {oid} AND attnum > 0 AND NOT attisdropped"
            ):
                assert column[1], f"analytics.{name}.{column[0]} has no comment"
        view = conn.exec_driver_sql("SELECT obj_description('analytics.resolution_times'::regclass, 'pg_class')")
        assert "resolved_by_ai" in view.scalar()
    # the file changes (here: a 100% sure meaning with a quote): the next deploy step writes it
    edited = tmp_path / "data-dictionary.md"
    edited.write_text(source.replace("| `priority` | text | `low`,", "| `priority` | text | 100% 'sure': `low`,", 1))
    monkeypatch.setenv("SUPPORT_DATA_DICTIONARY", str(edited))
    ensure_schema(pg_engine)
    with pg_engine.connect() as conn:
        comment = conn.exec_driver_sql(
            "SELECT col_description('analytics.ticket_facts'::regclass,"
            " (SELECT attnum FROM pg_attribute WHERE attrelid = 'analytics.ticket_facts'::regclass"
            "  AND attname = 'priority'))"
        ).scalar()
    assert comment.startswith("100% 'sure': low, normal")
