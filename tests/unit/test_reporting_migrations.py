"""The reporting schema's migrations (Alembic revisions ``vN``, storage/alembic/versions): an empty
database becomes exactly what tables.py declares; a database an earlier version built is upgraded
from that version's own definition (tests/fixtures/reporting_versions: each version's tables.py as
git history holds it), keeping its rows; one older than the baseline, or newer than this code, is
refused and left as it was."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from support_flows.storage import migrations, tables
from support_flows.storage.reporting import ReportingStore

VERSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "reporting_versions"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def old_tables(version: int) -> ModuleType:
    """``tables.py`` as schema version ``version`` shipped it."""
    spec = importlib.util.spec_from_file_location(f"reporting_tables_v{version}", VERSIONS / f"tables_v{version}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_old_database(engine: sa.Engine, version: int) -> None:
    """A database as support-flows 0.7.0 left it at ``version``: that version's tables and views,
    its version table holding every step, a ticket, a ledger entry and a daily summary in it."""
    old = old_tables(version)
    postgres = engine.dialect.name == "postgresql"
    raw = (
        engine if postgres else engine.execution_options(schema_translate_map={old.ANALYTICS: None, old.INTERNAL: None})
    )
    with raw.begin() as conn:
        if postgres:
            for schema in (old.ANALYTICS, old.INTERNAL):
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        old.metadata.create_all(conn)
        prefix = f'"{old.ANALYTICS}".' if postgres else ""
        for name, query in getattr(old, "VIEWS", {}).items():  # views came with version 10
            conn.exec_driver_sql(f'CREATE VIEW {prefix}"{name}" AS {query.format(a=prefix)}')
        conn.execute(old.schema_version.insert(), [{"version": v} for v in range(1, version + 1)])
        conn.execute(
            old.ticket_facts.insert(),
            [
                {
                    "ticket_id": 7,
                    "customer_key": "k" * 32,
                    "priority": "high",
                    "channel": "web",
                    "status": "resolved",
                    "ai_responded": False,
                    "created_at": NOW,
                    "resolved_at": NOW,
                    "resolution_hours": 2.5,
                    "source_updated_at": NOW,
                }
            ],
        )
        conn.execute(
            old.side_effects.insert(),
            [{"key": "mail:ticket-7:resolved", "kind": "mail", "state": "done", "owner": "", "claimed_at": NOW}],
        )
        conn.execute(
            old.daily_summary.insert(),
            [
                {
                    "report_date": NOW.date(),
                    "timezone": "UTC",
                    "created": 3,
                    "resolved": 1,
                    "ai_responded": 0,
                    "backlog": 2,
                }
            ],
        )


def test_the_revisions_end_at_this_codes_schema_version():
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert script.get_heads() == [migrations.HEAD] == [f"v{tables.SCHEMA_VERSION}"]
    assert script.get_base() == f"v{migrations.BASELINE}"


def test_an_empty_database_becomes_what_tables_py_declares(engine):
    assert migrations.ensure_schema(engine) == tables.SCHEMA_VERSION
    with migrations.prepare_engine(engine).connect() as conn:
        assert migrations.differences(conn) == []
        assert migrations.current_revision(conn) == migrations.HEAD
    migrations.require_schema(migrations.prepare_engine(engine))


@pytest.mark.parametrize("version", [10, 11, 12, 13])
def test_a_database_an_earlier_version_built_is_upgraded_keeping_its_rows(engine, version):
    build_old_database(engine, version)
    with pytest.raises(migrations.ReportingSchemaError, match=f"at schema version {version} "):
        migrations.require_schema(migrations.prepare_engine(engine))

    assert migrations.ensure_schema(engine) == tables.SCHEMA_VERSION

    prepared = migrations.prepare_engine(engine)
    with prepared.connect() as conn:
        assert migrations.differences(conn) == []
        names = sa.inspect(conn).get_table_names(schema=tables.INTERNAL if conn.dialect.name == "postgresql" else None)
        assert migrations.LEGACY_VERSION_TABLE not in names  # the revision is in alembic_version now
        (resolution,) = conn.exec_driver_sql(
            f"SELECT ticket_id, resolution_hours FROM {'analytics.' if conn.dialect.name == 'postgresql' else ''}"
            "resolution_times"
        ).all()
    assert tuple(resolution) == (7, 2.5)  # the views are made again over the kept rows
    store = ReportingStore(engine=prepared)
    (ticket,) = store.fetch_all("ticket_facts")
    assert ticket["status"] == "resolved" and ticket["priority"] == "high"
    (summary,) = store.fetch_all("daily_summary")
    assert summary["created"] == 3 and summary["covers_until"] is None
    assert store.is_done("mail:ticket-7:resolved")
    assert migrations.ensure_schema(engine) == tables.SCHEMA_VERSION  # again: nothing to do
    assert store.fetch_all("ticket_facts") == [ticket]


def test_a_database_older_than_the_baseline_is_refused_untouched(engine):
    build_old_database(engine, 9)
    before = sa.inspect(engine).get_table_names(schema="analytics" if engine.dialect.name == "postgresql" else None)
    with pytest.raises(
        migrations.ReportingSchemaError, match=r"schema version 9, older .* support-flows 0\.7\.0 first"
    ):
        migrations.ensure_schema(engine)
    sa.inspect(engine).clear_cache()
    after = sa.inspect(engine).get_table_names(schema="analytics" if engine.dialect.name == "postgresql" else None)
    assert after == before and "intake" not in after
    with migrations.prepare_engine(engine).connect() as conn:
        assert migrations.current_revision(conn) is None


def test_a_database_a_newer_version_migrated_is_refused(sqlite_engine):
    migrations.ensure_schema(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'v99'")
    with pytest.raises(migrations.ReportingSchemaError, match="revision v99, which this code does not know"):
        migrations.ensure_schema(sqlite_engine)
    with pytest.raises(migrations.ReportingSchemaError, match="at schema version 99, this code needs"):
        migrations.require_schema(sqlite_engine)


def test_a_task_on_a_database_that_was_not_migrated_says_what_to_run(engine):
    prepared = migrations.prepare_engine(engine)
    with pytest.raises(
        migrations.ReportingSchemaError, match="is empty, .*python -m support_flows.storage.migrations migrate"
    ):
        migrations.require_schema(prepared)
    migrations.ensure_schema(engine)
    migrations.require_schema(prepared)


def test_check_says_whether_the_database_matches_tables_py(sqlite_engine, capsys):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    migrations.ensure_schema(sqlite_engine)
    assert migrations.main(["check", "--url", url]) == 0
    assert f"schema version {tables.SCHEMA_VERSION}, matches tables.py" in capsys.readouterr().out
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE feedback_facts DROP COLUMN followup_task_id")
    assert migrations.main(["check", "--url", url]) == 1
    out = capsys.readouterr().out
    assert "followup_task_id" in out and "differs from tables.py" in out


@pytest.mark.postgres
def test_revision_writes_the_next_revision_from_a_change_to_tables_py(pg_engine, tmp_path, monkeypatch):
    """The developer's road: a column added to tables.py becomes the next revision ``vN+1`` with
    portable schemas, and that revision brings a database at ``vN`` to match."""
    newest = tables.SCHEMA_VERSION
    migrations.ensure_schema(pg_engine)
    scratch = tmp_path / "alembic"
    (scratch / "versions").mkdir(parents=True)
    for path in migrations.ALEMBIC_DIR.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            (scratch / path.relative_to(migrations.ALEMBIC_DIR)).write_bytes(path.read_bytes())
    monkeypatch.setattr(migrations, "ALEMBIC_DIR", scratch)
    changed = sa.MetaData()
    for table in tables.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables[f"{tables.ANALYTICS}.ticket_facts"].append_column(sa.Column("next_column", sa.String(64)))
    monkeypatch.setattr(migrations, "target_metadata", lambda dialect: changed)
    url = pg_engine.url.render_as_string(hide_password=False)

    written = migrations.write_revision(url, "ticket_facts.next_column")

    text = written.read_text()
    assert written.name.startswith(f"v{newest + 1}_") and f"down_revision = 'v{newest}'" in text
    assert "schema=schema_of('analytics')" in text and "schema='analytics'" not in text
    assert migrations.ensure_schema(pg_engine) == newest + 1
    with pg_engine.connect() as conn:
        assert migrations.differences(conn) == []
        assert "next_column" in {
            c["name"] for c in sa.inspect(conn).get_columns("ticket_facts", schema=tables.ANALYTICS)
        }
