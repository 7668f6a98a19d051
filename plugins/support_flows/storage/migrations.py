"""The reporting schema's versions and the deploy step that brings a database to the newest
(``python -m support_flows.storage.migrations migrate``): run by an init service or a Helm job, not
by tasks, which only check that the schema is there (``require_schema``). Idempotent.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from support_flows.storage.tables import (
    ANALYST_ROLE,
    ANALYTICS,
    INTERNAL,
    SCHEMA_VERSION,
    TABLES,
    VIEWS,
    WRITER_ROLE,
    agent_daily_performance,
    agents,
    calendar,
    daily_summary,
    escalation_candidates,
    escalations,
    flow_runs,
    intake,
    metadata,
    reminders,
    schema_version,
    side_effects,
    ticket_facts,
    watermarks,
)


class ReportingSchemaError(RuntimeError):
    """The reporting database is not at the schema version this code needs."""


def prepare_engine(engine: Engine) -> Engine:
    """The engine the package uses: on SQLite, the two schemas map to the one database."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(schema_translate_map={ANALYTICS: None, INTERNAL: None})
    return engine


def _is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _migrate_to_1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[*TABLES.values(), side_effects, watermarks], checkfirst=True)


def _migrate_to_2(conn: sa.Connection) -> None:
    escalation_candidates.create(conn, checkfirst=True)


def _migrate_to_3(conn: sa.Connection) -> None:
    """PostgreSQL: the tables out of ``public`` into the analytics and internal schemas. Both:
    ``loaded_at`` on the tables analysts load incrementally from."""
    if _is_postgres(conn):
        for table in metadata.sorted_tables:
            moved = conn.execute(
                sa.text("SELECT to_regclass(:old) IS NOT NULL AND to_regclass(:new) IS NULL"),
                {"old": f"public.{table.name}", "new": f"{table.schema}.{table.name}"},
            ).scalar()
            if moved:
                conn.exec_driver_sql(f'ALTER TABLE public."{table.name}" SET SCHEMA "{table.schema}"')
    for table in metadata.sorted_tables:
        if "loaded_at" in table.c and "loaded_at" not in {
            c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=_schema(conn, table))
        }:
            target = f'"{table.schema}"."{table.name}"' if _is_postgres(conn) else f'"{table.name}"'
            conn.exec_driver_sql(
                f"ALTER TABLE {target} ADD COLUMN loaded_at {'timestamptz' if _is_postgres(conn) else 'DATETIME'}"
            )


def _schema(conn: sa.Connection, table: sa.Table) -> str | None:
    return table.schema if _is_postgres(conn) else None


def _migrate_to_4(conn: sa.Connection) -> None:
    reminders.create(conn, checkfirst=True)


def _migrate_to_5(conn: sa.Connection) -> None:
    """Every time watermark in one unit, microseconds since the epoch (UTC): the analytics tickets'
    newest ``updated_at`` was in milliseconds, the analytics days were day ordinals."""
    table = f'"{INTERNAL}"."watermarks"' if _is_postgres(conn) else '"watermarks"'
    conn.exec_driver_sql(f"UPDATE {table} SET position = position * 1000 WHERE name = 'analytics_tickets'")
    epoch_ordinal = date(1970, 1, 1).toordinal()
    conn.exec_driver_sql(
        f"UPDATE {table} SET position = (position - {epoch_ordinal}) * 86400000000"
        " WHERE name IN ('analytics_feedback_days', 'analytics_agent_days')"
    )


def _migrate_to_6(conn: sa.Connection) -> None:
    """``daily_summary`` holds every figure its e-mail and CSV show: AI resolutions, AI answers
    waiting on the customer, assignments of the day (empty for the days reported before)."""
    present = {
        column["name"] for column in sa.inspect(conn).get_columns("daily_summary", schema=_schema(conn, daily_summary))
    }
    table = f'"{ANALYTICS}"."daily_summary"' if _is_postgres(conn) else '"daily_summary"'
    for name in ("resolved_by_ai", "awaiting_customer", "assigned"):
        if name not in present:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} INTEGER")


def _migrate_to_7(conn: sa.Connection) -> None:
    """``ticket_facts.ai_answer_outcome``: what became of an AI answer (deflection); empty for the
    rows loaded before, until their ticket is loaded again."""
    present = {
        column["name"] for column in sa.inspect(conn).get_columns("ticket_facts", schema=_schema(conn, ticket_facts))
    }
    table = f'"{ANALYTICS}"."ticket_facts"' if _is_postgres(conn) else '"ticket_facts"'
    if "ai_answer_outcome" not in present:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN ai_answer_outcome VARCHAR(16)")


def _migrate_to_8(conn: sa.Connection) -> None:
    """``daily_summary`` holds the day's deflection figures its e-mail and CSV show (empty for the
    days reported before)."""
    present = {
        column["name"] for column in sa.inspect(conn).get_columns("daily_summary", schema=_schema(conn, daily_summary))
    }
    table = f'"{ANALYTICS}"."daily_summary"' if _is_postgres(conn) else '"daily_summary"'
    for name in ("ai_confirmed", "ai_closed_silent", "ai_rejected"):
        if name not in present:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} INTEGER")


def _add_columns(conn: sa.Connection, table: sa.Table, names: tuple[str, ...]) -> None:
    """``ALTER TABLE .. ADD COLUMN`` for each of ``names`` the table lacks, typed as declared."""
    present = {column["name"] for column in sa.inspect(conn).get_columns(table.name, schema=_schema(conn, table))}
    target = f'"{table.schema}"."{table.name}"' if _is_postgres(conn) else f'"{table.name}"'
    for name in names:
        if name not in present:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {target} ADD COLUMN {name} {kind}")


def _migrate_to_9(conn: sa.Connection) -> None:
    """SLA policies: ``escalations`` records a level per clock (``clock`` joins the key; the rows
    before were the response clock), with its target; ``ticket_facts`` the first response, the
    pauses, breaches and reopens; ``agent_daily_performance`` and ``daily_summary`` their day's
    figures. The internal candidates (one run's scratch) are made again."""
    escalation_candidates.drop(conn, checkfirst=True)
    escalation_candidates.create(conn)
    present = {c["name"] for c in sa.inspect(conn).get_columns("escalations", schema=_schema(conn, escalations))}
    if "clock" not in present:
        if _is_postgres(conn):
            table = f'"{ANALYTICS}"."escalations"'
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN clock VARCHAR(16) NOT NULL DEFAULT 'response'")
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN clock DROP DEFAULT")
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN target_hours DOUBLE PRECISION")
            key = sa.inspect(conn).get_pk_constraint("escalations", schema=ANALYTICS)["name"]
            conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{key}"')
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD PRIMARY KEY (ticket_id, clock, level, idle_since)")
        else:  # SQLite changes no primary key in place: the table is made again
            old = [c["name"] for c in sa.inspect(conn).get_columns("escalations")]
            conn.exec_driver_sql('ALTER TABLE "escalations" RENAME TO "escalations_v8"')
            escalations.create(conn)
            names = ", ".join(old)
            conn.exec_driver_sql(
                f'INSERT INTO "escalations" ({names}, clock) SELECT {names}, \'response\' FROM "escalations_v8"'
            )
            conn.exec_driver_sql('DROP TABLE "escalations_v8"')
    _add_columns(
        conn,
        ticket_facts,
        (
            "first_response_at",
            "first_response_hours",
            "paused_hours",
            "first_response_breached",
            "resolution_breached",
            "reopen_count",
        ),
    )
    _add_columns(conn, agent_daily_performance, ("reopened",))
    _add_columns(
        conn,
        daily_summary,
        ("first_responses", "avg_first_response_hours", "sla_warnings", "sla_breaches", "reopened", "sla_paused"),
    )


def _migrate_to_10(conn: sa.Connection) -> None:
    """The tables analysts label reports with (``agents``, ``calendar``) and one view per shared
    metric (``resolution_times``, ``backlog``), made again so a step that changes a table keeps them right."""
    agents.create(conn, checkfirst=True)
    calendar.create(conn, checkfirst=True)
    _add_columns(conn, flow_runs, ("origin", "triggering_user"))
    create_views(conn)


def _migrate_to_11(conn: sa.Connection) -> None:
    """Where a run's personal fields wait for its first step, out of Airflow's metadata (``intake``)."""
    intake.create(conn, checkfirst=True)


def _migrate_to_12(conn: sa.Connection) -> None:
    """``daily_summary.covers_until``: how much of the day a row's figures cover (the 18:30 report
    counts the day so far; the nightly load completes the row once the day is over)."""
    _add_columns(conn, daily_summary, ("covers_until",))


def _migrate_to_13(conn: sa.Connection) -> None:
    """``side_effects.mailbox`` and ``recipients``: what each e-mail took of its sender mailbox's
    daily recipient budget (Exchange Online: 10,000 a day), indexed for the rolling count."""
    _add_columns(conn, side_effects, ("mailbox", "recipients"))
    index = next(i for i in side_effects.indexes if i.name == "side_effects_mail_budget")
    index.create(conn, checkfirst=True)


def create_views(conn: sa.Connection) -> None:
    prefix = f'"{ANALYTICS}".' if _is_postgres(conn) else ""
    for name, query in VIEWS.items():
        conn.exec_driver_sql(f'DROP VIEW IF EXISTS {prefix}"{name}"')
        conn.exec_driver_sql(f'CREATE VIEW {prefix}"{name}" AS {query.format(a=prefix)}')


# Each step takes the schema from version N-1 to N. Add a step, never edit a released one; each
# step must also hold when the tables it changes were just created in their latest form.
MIGRATIONS = {
    1: _migrate_to_1,
    2: _migrate_to_2,
    3: _migrate_to_3,
    4: _migrate_to_4,
    5: _migrate_to_5,
    6: _migrate_to_6,
    7: _migrate_to_7,
    8: _migrate_to_8,
    9: _migrate_to_9,
    10: _migrate_to_10,
    11: _migrate_to_11,
    12: _migrate_to_12,
    13: _migrate_to_13,
}


def _current_version(conn: sa.Connection) -> int:
    """The version in place; before version 3 the version table was in ``public`` on PostgreSQL."""
    if _is_postgres(conn):
        for name in (f"{INTERNAL}.reporting_schema_version", "public.reporting_schema_version"):
            if conn.execute(sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar():
                return conn.exec_driver_sql(f"SELECT max(version) FROM {name}").scalar() or 0
        return 0
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0


def ensure_schema(engine: Engine) -> int:
    """Create or migrate the reporting tables and grant the roles; return the schema version now
    in place. The deploy step (``python -m support_flows.storage.migrations migrate``), never a task: it
    needs the database owner's rights. Idempotent: run twice, the second run changes nothing."""
    engine = prepare_engine(engine)
    with engine.begin() as conn:
        if _is_postgres(conn):
            for schema in (ANALYTICS, INTERNAL):
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        current = _current_version(conn)
        for version in sorted(v for v in MIGRATIONS if v > current):
            MIGRATIONS[version](conn)
            schema_version.create(conn, checkfirst=True)
            conn.execute(schema_version.insert().values(version=version))
            current = version
        if _is_postgres(conn):
            grant_roles(conn)
            write_comments(conn)
    return current


def write_comments(conn: sa.Connection) -> int:
    """The data dictionary as ``COMMENT ON`` each analytics table, view and column (PostgreSQL);
    how many comments. Without the dictionary file, none (said in the log)."""
    import logging

    from support_flows.storage import dictionary

    path = dictionary.locate()
    if path is None or not path.is_file():
        logging.getLogger(__name__).warning(
            "docs/data-dictionary.md not found (set SUPPORT_DATA_DICTIONARY): no COMMENT ON written"
        )
        return 0
    entries = dictionary.parse(path.read_text(encoding="utf-8"))
    analytics_tables = {t.name for t in TABLES.values() if t.schema == ANALYTICS}
    statements = dictionary.comment_statements(entries, ANALYTICS, analytics_tables, set(VIEWS))
    for statement in statements:
        conn.exec_driver_sql(statement.replace("%", "%%"))
    return len(statements)


def grant_roles(conn: sa.Connection) -> None:
    """PostgreSQL roles (cluster-wide, created when missing) and their rights in this database:
    ``analyst`` may read the analytics schema and nothing else; ``support_writer`` may read and
    write both schemas but change no table. Give people and the flows login roles that are members
    (docs/data-dictionary.md)."""
    for role in (ANALYST_ROLE, WRITER_ROLE):
        conn.exec_driver_sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f'CREATE ROLE "{role}" NOLOGIN; END IF; END $$'
        )
    conn.exec_driver_sql(f'REVOKE ALL ON SCHEMA "{INTERNAL}" FROM PUBLIC')
    conn.exec_driver_sql(f'REVOKE CREATE ON SCHEMA "{ANALYTICS}" FROM PUBLIC')
    conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{ANALYTICS}" TO "{ANALYST_ROLE}", "{WRITER_ROLE}"')
    conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{ANALYTICS}" TO "{ANALYST_ROLE}"')
    conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{INTERNAL}" TO "{WRITER_ROLE}"')
    for schema in (ANALYTICS, INTERNAL):
        conn.exec_driver_sql(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{WRITER_ROLE}"'
        )


def require_schema(engine: Engine) -> None:
    """What a task checks instead of migrating: the database is at this code's version."""
    with engine.connect() as conn:
        version = _current_version(conn)
    if version != SCHEMA_VERSION:
        raise ReportingSchemaError(
            f"the reporting database is at schema version {version}, this code needs {SCHEMA_VERSION}: "
            "run `python -m support_flows.storage.migrations migrate` (a deploy step: the dev stack, compose's "
            "airflow-init and the Helm chart's job run it)"
        )


def main(argv: list[str]) -> int:
    """``python -m support_flows.storage.migrations migrate [--url URL | --url-file PATH]``: the deploy step.

    Run it as the database's owner (the flows' own login may not change tables): pass the owner's
    URL, or a file holding it (a mounted secret, so the password is in no command line or
    environment)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m support_flows.storage.migrations", description=main.__doc__)
    parser.add_argument("command", choices=["migrate"])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--url", help="SQLAlchemy URL of the reporting database (default: the support_reporting connection)"
    )
    source.add_argument("--url-file", type=Path, help="a file holding that URL (e.g. a mounted secret)")
    args = parser.parse_args(argv)
    url = args.url
    if args.url_file is not None:
        try:
            url = args.url_file.read_text().strip()
        except OSError as err:
            parser.error(f"--url-file {args.url_file}: {err.strerror}")
        if not url:
            parser.error(f"--url-file {args.url_file} is empty: it should hold the owner's database URL")
    if url:
        engine = sa.create_engine(url)
    else:
        from airflow.sdk import BaseHook

        engine = BaseHook.get_connection("support_reporting").get_hook().get_sqlalchemy_engine()
    version = ensure_schema(engine)
    engine.dispose()
    print(f"reporting: schema version {version} ({engine.url.render_as_string(hide_password=True)})")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
