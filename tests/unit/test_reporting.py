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


@pytest.fixture
def sqlite_engine(tmp_path):
    return migrations.prepare_engine(sa.create_engine(f"sqlite:///{tmp_path / 'reporting.sqlite'}"))


@pytest.fixture
def pg_engine(postgres_url):
    """A database of its own on the test server, dropped afterwards."""
    name = f"reporting_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = sa.create_engine(sa.engine.make_url(postgres_url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")


def test_schema_is_created_once_and_versioned(engine):
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    postgres = engine.dialect.name == "postgresql"
    names = set(sa.inspect(engine).get_table_names(schema=tables.ANALYTICS if postgres else None))
    assert names >= CONTRACT_TABLES
    version_table = f"{tables.INTERNAL}.reporting_schema_version" if postgres else "reporting_schema_version"
    with engine.connect() as conn:
        versions = [v for (v,) in conn.execute(sa.text(f"SELECT version FROM {version_table} ORDER BY version"))]
    assert versions == list(range(1, tables.SCHEMA_VERSION + 1))  # each migration step once


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


def _version_2(engine) -> sa.MetaData:
    """The reporting schema as version 2 left it: every table in the default schema (``public``),
    no ``loaded_at``; with one ticket and its versions recorded."""
    legacy = sa.MetaData()
    for table in tables.metadata.sorted_tables:
        sa.Table(table.name, legacy, *[c._copy() for c in table.columns if c.name != "loaded_at"])
    legacy.create_all(engine)
    with engine.begin() as conn:
        conn.execute(legacy.tables["ticket_facts"].insert(), [ticket_row(7, "resolved")])
        conn.execute(legacy.tables["reporting_schema_version"].insert(), [{"version": 1}, {"version": 2}])
    return legacy


def drop_views(conn) -> None:
    """Back to before version 10 (no views), so a test can put a table back to an older form."""
    prefix = f'"{tables.ANALYTICS}".' if conn.dialect.name == "postgresql" else ""
    for name in tables.VIEWS:
        conn.exec_driver_sql(f'DROP VIEW IF EXISTS {prefix}"{name}"')


def test_migrates_from_the_previous_version_keeping_the_data(engine):
    raw = engine.execution_options(schema_translate_map=None) if engine.dialect.name == "sqlite" else engine
    _version_2(raw)
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    store = ReportingStore(engine=engine)
    (row,) = store.fetch_all("ticket_facts")
    assert row["ticket_id"] == 7 and row["status"] == "resolved" and row["loaded_at"] is None
    assert store.upsert("ticket_facts", [ticket_row(7, "closed")]) == 1
    (row,) = store.fetch_all("ticket_facts")
    assert row["status"] == "closed" and row["loaded_at"] is not None
    if engine.dialect.name == "postgresql":
        assert sa.inspect(engine).get_table_names(schema="public") == []  # nothing left behind
        assert "side_effects" in sa.inspect(engine).get_table_names(schema=tables.INTERNAL)
    with engine.connect() as conn:
        versions = conn.execute(sa.select(tables.schema_version.c.version).order_by("version")).scalars().all()
    assert versions == list(range(1, tables.SCHEMA_VERSION + 1))
    assert ensure_schema(engine) == tables.SCHEMA_VERSION  # again: nothing to do
    assert store.fetch_all("ticket_facts") == [row]


def test_migrates_the_time_watermarks_to_one_unit(engine):
    """Version 5: the analytics tickets' watermark was epoch milliseconds, the analytics days day
    ordinals; after the migration both read back as the same moments, and the event cursor (an id)
    is untouched."""
    from support_flows.storage.tables import watermarks

    ensure_schema(engine)
    updated = datetime(2026, 11, 20, 8, 30, 15, 123000, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.delete(tables.schema_version).where(tables.schema_version.c.version >= 5))
        conn.execute(
            watermarks.insert(),
            [
                {"name": "analytics_tickets", "position": int(updated.timestamp() * 1000), "updated_at": NOW},
                {"name": "analytics_feedback_days", "position": date(2026, 11, 19).toordinal(), "updated_at": NOW},
                {"name": "analytics_agent_days", "position": date(2026, 11, 18).toordinal(), "updated_at": NOW},
                {"name": "backend_events", "position": 4711, "updated_at": NOW},
            ],
        )
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    store = ReportingStore(engine=engine)
    assert store.get_moment("analytics_tickets") == updated
    assert store.get_moment("analytics_feedback_days") == datetime(2026, 11, 19, tzinfo=UTC)
    assert store.get_moment("analytics_agent_days") == datetime(2026, 11, 18, tzinfo=UTC)
    assert store.get_watermark("backend_events") == 4711


def test_version_6_adds_the_daily_summarys_ai_figures_keeping_the_days_reported(engine):
    """A database at version 5 (daily_summary without the three columns, one day in it) gets them,
    empty for that day, and the next report fills them."""
    ensure_schema(engine)
    table = f'"{tables.ANALYTICS}"."daily_summary"' if engine.dialect.name == "postgresql" else "daily_summary"
    with engine.begin() as conn:
        drop_views(conn)
        for column in ("resolved_by_ai", "awaiting_customer", "assigned"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.exec_driver_sql(
            f"INSERT INTO {table} (report_date, timezone, created, resolved, ai_responded, backlog)"
            " VALUES ('2026-11-30', 'UTC', 4, 2, 1, 3)"
        )
        conn.execute(sa.delete(tables.schema_version).where(tables.schema_version.c.version >= 6))
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    store = ReportingStore(engine=engine)
    (day,) = store.fetch_all("daily_summary")
    assert (day["created"], day["resolved_by_ai"], day["awaiting_customer"], day["assigned"]) == (4, None, None, None)
    row = {k: v for k, v in day.items() if k != "loaded_at"}
    store.upsert("daily_summary", [{**row, "resolved_by_ai": 1, "awaiting_customer": 2, "assigned": 3}])
    (day,) = store.fetch_all("daily_summary")
    assert (day["resolved_by_ai"], day["awaiting_customer"], day["assigned"]) == (1, 2, 3)


def test_version_7_adds_the_ai_answers_outcome_to_ticket_facts_keeping_the_rows(engine):
    """A database at version 6 (ticket_facts without ai_answer_outcome, one row in it) gets the
    column, empty for that row, and the next load fills it."""
    ensure_schema(engine)
    table = f'"{tables.ANALYTICS}"."ticket_facts"' if engine.dialect.name == "postgresql" else "ticket_facts"
    with engine.begin() as conn:
        drop_views(conn)
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN ai_answer_outcome")
        conn.exec_driver_sql(
            f"INSERT INTO {table} (ticket_id, customer_key, priority, channel, status, ai_responded, created_at,"
            " source_updated_at) VALUES (7, 'k', 'normal', 'web', 'resolved', TRUE, '2026-11-30 10:00:00+00',"
            " '2026-11-30 11:00:00+00')"
        )
        conn.execute(sa.delete(tables.schema_version).where(tables.schema_version.c.version >= 7))
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    store = ReportingStore(engine=engine)
    (row,) = store.fetch_all("ticket_facts")
    assert row["ticket_id"] == 7 and row["ai_answer_outcome"] is None
    store.upsert(
        "ticket_facts", [{**{k: v for k, v in row.items() if k != "loaded_at"}, "ai_answer_outcome": "confirmed"}]
    )
    assert store.fetch_all("ticket_facts")[0]["ai_answer_outcome"] == "confirmed"


def test_version_8_adds_the_daily_summarys_deflection_figures_keeping_the_days_reported(engine):
    ensure_schema(engine)
    table = f'"{tables.ANALYTICS}"."daily_summary"' if engine.dialect.name == "postgresql" else "daily_summary"
    with engine.begin() as conn:
        drop_views(conn)
        for column in ("ai_confirmed", "ai_closed_silent", "ai_rejected"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.exec_driver_sql(
            f"INSERT INTO {table} (report_date, timezone, created, resolved, ai_responded, backlog)"
            " VALUES ('2026-11-30', 'UTC', 4, 2, 1, 3)"
        )
        conn.execute(sa.delete(tables.schema_version).where(tables.schema_version.c.version >= 8))
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    store = ReportingStore(engine=engine)
    (day,) = store.fetch_all("daily_summary")
    assert (day["created"], day["ai_confirmed"], day["ai_closed_silent"], day["ai_rejected"]) == (4, None, None, None)


def test_version_9_keys_escalations_by_clock_and_adds_the_sla_columns_keeping_the_rows(engine):
    """From version 8 as it was on disk: an escalation row (the response clock then), ticket facts,
    agent days and summaries without the SLA columns."""
    ensure_schema(engine)
    pg = engine.dialect.name == "postgresql"

    def name(table: str) -> str:
        return f'"{tables.ANALYTICS}"."{table}"' if pg else f'"{table}"'

    with engine.begin() as conn:
        drop_views(conn)
        conn.exec_driver_sql(f"DROP TABLE {name('escalations')}")
        conn.exec_driver_sql(
            f"CREATE TABLE {name('escalations')} (ticket_id INTEGER NOT NULL, level VARCHAR(16) NOT NULL,"
            " idle_since TIMESTAMP WITH TIME ZONE NOT NULL, agent_id INTEGER, supervisor_id INTEGER,"
            " idle_hours FLOAT NOT NULL, escalated_at TIMESTAMP WITH TIME ZONE NOT NULL, dag_run_id VARCHAR(250),"
            " loaded_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY (ticket_id, level, idle_since))"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {name('escalations')} (ticket_id, level, idle_since, agent_id, supervisor_id, idle_hours,"
            " escalated_at) VALUES (5, 'supervisor', '2026-11-28 10:00:00+00', 3, 1, 73.5, '2026-12-01 07:00:00+00')"
        )
        for table, columns in (
            (
                "ticket_facts",
                (
                    "first_response_at",
                    "first_response_hours",
                    "paused_hours",
                    "first_response_breached",
                    "resolution_breached",
                    "reopen_count",
                ),
            ),
            ("agent_daily_performance", ("reopened",)),
            (
                "daily_summary",
                (
                    "first_responses",
                    "avg_first_response_hours",
                    "sla_warnings",
                    "sla_breaches",
                    "reopened",
                    "sla_paused",
                ),
            ),
        ):
            for column in columns:
                conn.exec_driver_sql(f"ALTER TABLE {name(table)} DROP COLUMN {column}")
        conn.execute(sa.delete(tables.schema_version).where(tables.schema_version.c.version >= 9))
    assert ensure_schema(engine) == tables.SCHEMA_VERSION
    store = ReportingStore(engine=engine)
    (row,) = store.fetch_all("escalations")
    assert (row["ticket_id"], row["clock"], row["level"], row["idle_hours"]) == (5, "response", "supervisor", 73.5)
    # the same ticket, level and start on the other clock is another row now
    store.upsert("escalations", [{**row, "clock": "resolution", "target_hours": 24.0}])
    assert sorted(r["clock"] for r in store.fetch_all("escalations")) == ["resolution", "response"]
    for table, column in (
        ("ticket_facts", "reopen_count"),
        ("agent_daily_performance", "reopened"),
        ("daily_summary", "sla_breaches"),
    ):
        assert column in {
            c["name"] for c in sa.inspect(engine).get_columns(table, schema=tables.ANALYTICS if pg else None)
        }


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


def test_a_task_on_a_database_that_was_not_migrated_says_what_to_run(engine):
    with pytest.raises(migrations.ReportingSchemaError, match="python -m support_flows.storage.migrations migrate"):
        migrations.require_schema(engine)
    ensure_schema(engine)
    migrations.require_schema(engine)


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
