"""The reporting schema's revisions (Alembic, in ``storage/alembic/versions``) and the deploy step
that brings a database to the newest (``python -m support_flows.storage.migrations migrate``): run by
an init service or a Helm job, not by tasks, which only check that the schema is there
(``require_schema``). Idempotent.

Revision ``vN`` is schema version N; ``v10`` is the baseline, the schema as the hand-written steps
of support-flows 0.7.0 left it: a database they migrated (``reporting_schema_version`` 10 to 13) is
stamped at its revision instead. After the revisions, every time: the views made again, and on
PostgreSQL the roles' grants and the data dictionary's ``COMMENT ON``.

A new revision: change ``tables.py``, raise ``SCHEMA_VERSION``, then
``python -m support_flows.storage.migrations revision -m "why" --url <a PostgreSQL database at head>``
writes it from the difference (read it: Alembic cannot tell a rename from a drop and an add).
"""

from __future__ import annotations

import sys
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
    metadata,
)

ALEMBIC_DIR = Path(__file__).with_name("alembic")
BASELINE = 10  # the first revision; older databases go through support-flows 0.7.0 first
HEAD = f"v{SCHEMA_VERSION}"
# Where the hand-written steps (schema 1 to 13) recorded their version, in INTERNAL.
LEGACY_VERSION_TABLE = "reporting_schema_version"


class ReportingSchemaError(RuntimeError):
    """The reporting database is not at the schema version this code needs."""


def prepare_engine(engine: Engine) -> Engine:
    """The engine the package uses: on SQLite, the two schemas map to the one database."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(schema_translate_map={ANALYTICS: None, INTERNAL: None})
    return engine


def _is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def schema_of(name: str) -> str | None:
    """For a revision's operations: ``name`` on PostgreSQL, none on SQLite (one database, no
    schemas; Alembic's DDL does not follow the engine's schema translation)."""
    from alembic import op

    return name if _is_postgres(op.get_bind()) else None


def target_metadata(dialect: str) -> sa.MetaData:
    """``tables.metadata`` as it stands in a database of ``dialect``: on SQLite without schemas,
    its indexes keeping the names they get on PostgreSQL (``ix_<schema>_<table>_<column>``)."""
    if dialect == "postgresql":
        return metadata
    flat = sa.MetaData()
    for table in metadata.sorted_tables:
        names = {tuple(c.name for c in index.columns): index.name for index in table.indexes}
        for index in table.to_metadata(flat, schema=None).indexes:
            index.name = names[tuple(c.name for c in index.columns)]
    return flat


def _version_table_schema(conn: sa.Connection) -> str | None:
    return INTERNAL if _is_postgres(conn) else None


def _context_options(connection: sa.Connection) -> dict:
    """How Alembic reads this database: on PostgreSQL only the package's two schemas (not
    ``public``); column and table comments are the data dictionary's (``write_comments``), not
    ``tables.py``'s, so they are not compared."""
    postgres = _is_postgres(connection)
    return {
        "target_metadata": target_metadata(connection.dialect.name),
        "version_table_schema": _version_table_schema(connection),
        "include_schemas": postgres,
        "include_name": lambda name, type_, parents: type_ != "schema" or not postgres or name in (ANALYTICS, INTERNAL),
        "render_as_batch": not postgres,  # SQLite alters most things by copying the table
        "compare_type": True,
        "autogenerate_plugins": ["alembic.autogenerate.*", "~alembic.autogenerate.comments"],
    }


def configure(context, connection: sa.Connection) -> None:
    """The Alembic context for ``connection`` (env.py calls this)."""
    context.configure(connection=connection, **_context_options(connection))


def differences(conn: sa.Connection) -> list:
    """What Alembic finds between the database and ``tables.py`` (empty: they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    options = _context_options(conn)
    wanted = options.pop("target_metadata")
    return compare_metadata(MigrationContext.configure(conn, opts=options), wanted)


def alembic_config(connection: sa.Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.attributes["connection"] = connection
    return config


def current_revision(conn: sa.Connection) -> str | None:
    """The Alembic revision in place; None before the first (or on a 0.7.0 database)."""
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table_schema": _version_table_schema(conn)})
    return context.get_current_revision()


def _legacy_version(conn: sa.Connection) -> int | None:
    """The version the hand-written steps recorded (before schema 3 in ``public`` on PostgreSQL)."""
    if _is_postgres(conn):
        for name in (f"{INTERNAL}.{LEGACY_VERSION_TABLE}", f"public.{LEGACY_VERSION_TABLE}"):
            if conn.execute(sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar():
                return conn.exec_driver_sql(f"SELECT max(version) FROM {name}").scalar() or 0
        return None
    if not sa.inspect(conn).has_table(LEGACY_VERSION_TABLE):
        return None
    return conn.exec_driver_sql(f'SELECT max(version) FROM "{LEGACY_VERSION_TABLE}"').scalar() or 0


def _describe(conn: sa.Connection) -> str:
    revision = current_revision(conn)
    if revision is not None:
        return f"schema version {revision.removeprefix('v')}"
    legacy = _legacy_version(conn)
    return "empty" if legacy is None else f"schema version {legacy} (hand-written steps)"


def _adopt_legacy_version(conn: sa.Connection) -> None:
    """A database the hand-written steps migrated is stamped at its revision (their version
    table then goes); one older than the baseline is refused, untouched."""
    legacy = _legacy_version(conn)
    if legacy is None or current_revision(conn) is not None:
        return
    if legacy < BASELINE:
        raise ReportingSchemaError(
            f"the reporting database is at schema version {legacy}, older than this code's first Alembic "
            f"revision (schema {BASELINE}): migrate it with support-flows 0.7.0 first "
            "(`python -m support_flows.storage.migrations migrate`), then with this version"
        )
    from alembic import command

    command.stamp(alembic_config(conn), f"v{legacy}")
    table = f'"{INTERNAL}"."{LEGACY_VERSION_TABLE}"' if _is_postgres(conn) else f'"{LEGACY_VERSION_TABLE}"'
    conn.exec_driver_sql(f"DROP TABLE {table}")


def ensure_schema(engine: Engine) -> int:
    """Create or migrate the reporting tables, make the views again and grant the roles; return
    the schema version now in place. The deploy step (``python -m support_flows.storage.migrations
    migrate``), never a task: it needs the database owner's rights. Idempotent: run twice, the
    second run changes nothing. One transaction: a failed revision leaves the database as it was
    (PostgreSQL; SQLite's batch copies too)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    engine = prepare_engine(engine)
    with engine.begin() as conn:
        if _is_postgres(conn):
            for schema in (ANALYTICS, INTERNAL):
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        _adopt_legacy_version(conn)
        config = alembic_config(conn)
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        revision = current_revision(conn)
        if revision is not None and revision not in known:
            raise ReportingSchemaError(
                f"the reporting database is at revision {revision}, which this code does not know "
                f"(its newest is {HEAD}): it was migrated by a newer support-flows"
            )
        drop_views(conn)  # SQLite's batch copies cannot rename a table a view reads
        command.upgrade(config, "head")
        create_views(conn)
        if _is_postgres(conn):
            grant_roles(conn)
            write_comments(conn)
        return int(current_revision(conn).removeprefix("v"))


def drop_views(conn: sa.Connection) -> None:
    prefix = f'"{ANALYTICS}".' if _is_postgres(conn) else ""
    for name in VIEWS:
        conn.exec_driver_sql(f'DROP VIEW IF EXISTS {prefix}"{name}"')


def create_views(conn: sa.Connection) -> None:
    """One view per shared metric (``tables.VIEWS``), made from today's definition on every migrate
    (after ``drop_views`` and the revisions)."""
    prefix = f'"{ANALYTICS}".' if _is_postgres(conn) else ""
    for name, query in VIEWS.items():
        conn.exec_driver_sql(f'CREATE VIEW {prefix}"{name}" AS {query.format(a=prefix)}')


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
    """What a task checks instead of migrating: the database is at this code's revision."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return
        found = _describe(conn)
    raise ReportingSchemaError(
        f"the reporting database is {'' if found == 'empty' else 'at '}{found}, this code needs schema version "
        f"{SCHEMA_VERSION}: run `python -m support_flows.storage.migrations migrate` (a deploy step: the dev "
        "stack, compose's airflow-init and the Helm chart's job run it)"
    )


def owner_engine(url: str | None) -> Engine:
    """The database owner's engine: ``url``, else the ``support_reporting`` connection's."""
    if url:
        return sa.create_engine(url)
    from airflow.sdk import BaseHook

    return BaseHook.get_connection("support_reporting").get_hook().get_sqlalchemy_engine()


def _portable_schemas(path: Path) -> None:
    """Alembic writes the schema it compared (PostgreSQL's): each becomes ``schema_of(...)``."""
    text = path.read_text(encoding="utf-8")
    for name in (ANALYTICS, INTERNAL):
        text = text.replace(f"schema={name!r}", f"schema=schema_of({name!r})")
    path.write_text(text, encoding="utf-8")


def write_revision(url: str | None, message: str) -> Path:
    """``revision``: the next ``vN`` from the difference between ``tables.py`` and a PostgreSQL
    database at the newest revision (the dev stack's, or a scratch one: migrate it first)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    engine = owner_engine(url)
    with engine.begin() as conn:
        if not _is_postgres(conn):
            raise ReportingSchemaError("write revisions against PostgreSQL: SQLite has no schemas to compare")
        config = alembic_config(conn)
        newest = ScriptDirectory.from_config(config).get_current_head()
        if current_revision(conn) != newest:
            raise ReportingSchemaError(f"the database is {_describe(conn)}, not at {newest}: migrate it first")
        script = command.revision(
            config,
            message=message,
            autogenerate=True,
            rev_id=f"v{int(newest.removeprefix('v')) + 1}",
        )
    engine.dispose()
    _portable_schemas(Path(script.path))
    return Path(script.path)


def main(argv: list[str]) -> int:
    """``python -m support_flows.storage.migrations migrate [--url URL | --url-file PATH]``: the deploy step.
    ``... check``: does the database match tables.py (exit 1 and the differences if not).
    ``... revision -m WHY [--url URL]``: write the next revision (development).

    Run ``migrate`` as the database's owner (the flows' own login may not change tables): pass the
    owner's URL, or a file holding it (a mounted secret, so the password is in no command line or
    environment)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m support_flows.storage.migrations", description=main.__doc__)
    parser.add_argument("command", choices=["migrate", "check", "revision"])
    parser.add_argument("-m", "--message", help="revision: what the change is for")
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
    try:
        if args.command == "revision":
            if not args.message:
                parser.error("revision needs -m/--message: what the change is for")
            print(f"reporting: wrote {write_revision(url, args.message)}")
            return 0
        engine = owner_engine(url)
        if args.command == "check":
            with prepare_engine(engine).connect() as conn:
                found, differ = _describe(conn), differences(conn)
            engine.dispose()
            for difference in differ:
                print(f"reporting: differs from tables.py: {difference}")
            print(f"reporting: {found}, {'differs from' if differ else 'matches'} tables.py")
            return 1 if differ else 0
        version = ensure_schema(engine)
    except ReportingSchemaError as err:
        print(f"reporting: {err}", file=sys.stderr)
        return 1
    engine.dispose()
    print(f"reporting: schema version {version} ({engine.url.render_as_string(hide_password=True)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
