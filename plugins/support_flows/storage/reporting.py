"""The reporting database the analytics team reads (docs/data-dictionary.md).

The package creates and migrates its own tables, and every load is an upsert on the table's
natural key that only writes rows whose values changed: loading the same data twice changes
nothing. One code path serves SQLite (the embedded default) and PostgreSQL (CI, production); the
dialect only decides which ``INSERT ... ON CONFLICT`` construct SQLAlchemy renders. Large loads into
PostgreSQL take a faster road to the same statement: the rows are ``COPY``-ed into a temporary
table first, then upserted from it in one ``INSERT ... SELECT``.

No raw customer name or e-mail address is stored: ``customer_key()`` turns the address into a
stable pseudonym (a keyed hash) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

SCHEMA_VERSION = 4
# On PostgreSQL the tables analysts read live in one schema and the package's own bookkeeping in
# another, so the analyst role can be given the first alone. SQLite has no schemas: there both
# map to the one database (``prepare_engine``).
ANALYTICS = "analytics"
INTERNAL = "support_internal"
ANALYST_ROLE = "analyst"  # read-only on ANALYTICS
WRITER_ROLE = "support_writer"  # what the flows need: read and write both schemas, no DDL
metadata = sa.MetaData()

ticket_facts = sa.Table(
    "ticket_facts",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_key", sa.String(64), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("agent_id", sa.Integer),
    sa.Column("ai_responded", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("assigned_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution_hours", sa.Float),
    sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

feedback_facts = sa.Table(
    "feedback_facts",
    metadata,
    sa.Column("feedback_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ticket_id", sa.Integer, nullable=False, index=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("rating", sa.SmallInteger, nullable=False),
    sa.Column("low_rating", sa.Boolean, nullable=False),
    sa.Column("has_comment", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("followup_task_id", sa.String(64)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

agent_daily_performance = sa.Table(
    "agent_daily_performance",
    metadata,
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("tickets_resolved", sa.Integer, nullable=False, default=0),
    sa.Column("open_tickets", sa.Integer, nullable=False, default=0),
    sa.Column("feedback_count", sa.Integer, nullable=False, default=0),
    sa.Column("rating_avg", sa.Float),
    sa.Column("low_ratings", sa.Integer, nullable=False, default=0),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

daily_summary = sa.Table(
    "daily_summary",
    metadata,
    sa.Column("report_date", sa.Date, primary_key=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("resolved", sa.Integer, nullable=False),
    sa.Column("ai_responded", sa.Integer, nullable=False),
    sa.Column("backlog", sa.Integer, nullable=False),
    sa.Column("unassigned_backlog", sa.Integer),
    sa.Column("avg_resolution_hours", sa.Float),
    sa.Column("feedback_count", sa.Integer),
    sa.Column("avg_rating", sa.Float),
    sa.Column("report_html_path", sa.String(400)),
    sa.Column("report_csv_path", sa.String(400)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("level", sa.String(16), primary_key=True),
    sa.Column("idle_since", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("supervisor_id", sa.Integer),
    sa.Column("idle_hours", sa.Float, nullable=False),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dag_run_id", sa.String(250)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

flow_errors = sa.Table(
    "flow_errors",
    metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("task_id", sa.String(250), primary_key=True),
    sa.Column("map_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("try_number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("error_type", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("is_final", sa.Boolean, nullable=False),
    sa.Column("log_url", sa.String(1000)),
    # for final failures: sent (an alert went out), folded (into an alert sent shortly before),
    # pending (Graph was down: the next alert carries it); null for failures that will be retried
    sa.Column("alert_status", sa.String(16)),
    schema=ANALYTICS,
)

flow_runs = sa.Table(
    "flow_runs",
    metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("run_type", sa.String(32)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True), index=True),
    sa.Column("duration_seconds", sa.Float),
    schema=ANALYTICS,
)

# Not an analytics table: the ledger of side effects (e-mails, Planner tasks, ...) already done, so a
# retried task, a cleared task or a rerun never repeats one. See ``once()``.
side_effects = sa.Table(
    "side_effects",
    metadata,
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(1000), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    schema=INTERNAL,
)

# Not an analytics table: named positions that must survive restarts (the backend event cursor).
watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    schema=INTERNAL,
)

schema_version = sa.Table(
    "reporting_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    schema=INTERNAL,
)

# Internal: the stale tickets one escalation run found, handed from its first task to the next ones
# through the database instead of XCom, so no task holds them all (rows are removed at the run's end).
escalation_candidates = sa.Table(
    "escalation_candidates",
    metadata,
    sa.Column("dag_run_id", sa.String(250), primary_key=True),
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("level", sa.String(16), primary_key=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("supervisor_id", sa.Integer),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("idle_since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("idle_hours", sa.Float, nullable=False),
    schema=INTERNAL,
)

# Internal: the follow-up reminder each ticket has in an agent's calendar (Flow 2), so that
# reassigning the ticket moves it and resolving it removes it.
reminders = sa.Table(
    "reminders",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("mailbox", sa.String(320), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    schema=INTERNAL,
)

TABLES = {
    t.name: t
    for t in (ticket_facts, feedback_facts, agent_daily_performance, daily_summary, escalations, flow_errors, flow_runs)
}


def customer_key(email: str, salt: str) -> str:
    """A stable pseudonym for a customer: the same address always gives the same key, and the key
    cannot be turned back into the address without the secret ``salt``."""
    if not salt:
        raise ValueError(
            "customer_key_salt is not set: set the Airflow Variable support_customer_key_salt "
            "(a secret; in production it lives in Azure Key Vault)"
        )
    return hmac.new(salt.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


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


# Each step takes the schema from version N-1 to N. Add a step, never edit a released one; each
# step must also hold when the tables it changes were just created in their latest form.
MIGRATIONS = {1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3, 4: _migrate_to_4}


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
    in place. The deploy step (``python -m support_flows.storage.reporting migrate``), never a task: it
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
    return current


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
            "run `python -m support_flows.storage.reporting migrate` (a deploy step: the dev stack, compose's "
            "airflow-init and the Helm chart's job run it)"
        )


def dialect_insert(engine: Engine):
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"reporting database dialect {name!r} is not supported (use PostgreSQL or SQLite)")


def _batches(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


# From this many rows on, a PostgreSQL (psycopg 3) upsert goes through COPY: row-by-row INSERTs ran
# at about a twentieth of COPY's speed (bench/scheduled_at_scale.py), COPY + one INSERT .. SELECT at
# about half. Below it, the three extra statements would cost more than they save.
COPY_THRESHOLD = 500


def upsert(engine: Engine, table: sa.Table | str, rows: Iterable[dict[str, Any]], batch_size: int = 1000) -> int:
    """Insert new rows and update changed ones, by primary key; return how many rows were written.

    A row whose values are all equal to the stored ones is not written at all, so a repeated load
    changes nothing (and returns 0). All rows are written in one transaction; ``rows`` may be a
    stream (it is read once, in batches, never held whole).
    """
    table = TABLES[table] if isinstance(table, str) else table
    engine = prepare_engine(engine)
    rows = iter(rows)
    if "loaded_at" in table.c:  # when each written row was written (not compared: see below)
        loaded_at = datetime.now(UTC)
        rows = ({**row, "loaded_at": loaded_at} for row in rows)
    head = list(islice(rows, COPY_THRESHOLD))
    if len(head) == COPY_THRESHOLD and engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return _upsert_by_copy(engine, table, chain(head, rows))
    return _upsert_by_insert(engine, table, chain(head, rows), batch_size)


def _check_columns(table: sa.Table, columns: Iterable[str]) -> None:
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name}: unknown column(s) {sorted(unknown)}")


def _upsert_by_insert(engine: Engine, table: sa.Table, rows: Iterator[dict[str, Any]], batch_size: int) -> int:
    insert = dialect_insert(engine)
    keys = [c.name for c in table.primary_key.columns]
    written = 0
    with engine.begin() as conn:
        for batch in _batches(rows, batch_size):
            _check_columns(table, set().union(*batch))
            stmt = insert(table)
            others = [c for c in table.columns if c.name not in keys and c.name in batch[0]]
            if others:
                stmt = stmt.on_conflict_do_update(
                    index_elements=keys,
                    set_={c.name: stmt.excluded[c.name] for c in others},
                    where=sa.or_(*[c.is_distinct_from(stmt.excluded[c.name]) for c in others if c.name != "loaded_at"]),
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            # RETURNING counts the rows actually written on every driver (executemany's rowcount
            # is -1 on some); a conflicting row whose values did not change returns nothing.
            written += len(conn.execute(stmt.returning(*table.primary_key.columns), batch).all())
    return written


def _upsert_by_copy(engine: Engine, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    """PostgreSQL: COPY every row into a temporary table (streamed), then one ``INSERT .. SELECT ..
    ON CONFLICT`` with the same rules as ``_upsert_by_insert``. A key given twice keeps its last row."""
    first = next(rows)
    columns = list(first)
    _check_columns(table, columns)
    keys = [c.name for c in table.primary_key.columns]
    quote = engine.dialect.identifier_preparer.quote
    target, stage = (
        f"{quote(table.schema)}.{quote(table.name)}" if table.schema else quote(table.name),
        quote(f"stage_{table.name}"),
    )
    cols = ", ".join(quote(c) for c in columns)
    key_cols = ", ".join(quote(k) for k in keys)
    others = [c for c in columns if c not in keys]
    if others:
        changed = " OR ".join(
            f"{target}.{quote(c)} IS DISTINCT FROM EXCLUDED.{quote(c)}" for c in others if c != "loaded_at"
        )
        assign = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in others)
        on_conflict = f"DO UPDATE SET {assign} WHERE {changed}"
    else:
        on_conflict = "DO NOTHING"
    expected = set(columns)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP")
        conn.exec_driver_sql(f"ALTER TABLE {stage} ADD COLUMN row_order bigserial")
        cursor = conn.connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in chain([first], rows):
                if row.keys() != expected:
                    raise ValueError(
                        f"{table.name}: every row needs the same columns; "
                        f"{sorted(set(row) ^ expected)} differ from the first row's"
                    )
                copy.write_row([row[c] for c in columns])
        return conn.exec_driver_sql(
            f"WITH written AS (INSERT INTO {target} ({cols}) SELECT DISTINCT ON ({key_cols}) {cols} FROM {stage}"
            f" ORDER BY {key_cols}, row_order DESC ON CONFLICT ({key_cols}) {on_conflict} RETURNING 1)"
            " SELECT count(*) FROM written"
        ).scalar_one()


class SideEffectInProgress(Exception):
    """Another task is doing this side effect right now; try again later."""


def once(
    engine: Engine,
    key: str,
    kind: str,
    owner: str,
    action: Callable[[], Any],
    lease: timedelta = timedelta(minutes=10),
) -> tuple[Any, bool]:
    """Do ``action`` unless the side effect ``key`` was already done; return (result, done_now).

    The key is claimed before acting, so two runs racing for the same key cannot both act. A
    retry of the same task (same ``owner``) takes its own claim over at once; another owner waits
    until the claim's lease has run out (its holder died). If ``action`` raises, the claim is
    released and the side effect counts as not done.
    """
    engine = prepare_engine(engine)
    insert = dialect_insert(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        claimed = conn.execute(
            insert(side_effects)
            .values(key=key, kind=kind, state="pending", owner=owner, claimed_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(side_effects.c.key)  # rowcount is not reliable here on every driver
        ).first()
        if not claimed:
            row = conn.execute(sa.select(side_effects).where(side_effects.c.key == key)).one()
            if row.state == "done":
                return (json.loads(row.detail) if row.detail else None), False
            claimed_at = row.claimed_at if row.claimed_at.tzinfo else row.claimed_at.replace(tzinfo=UTC)
            if row.owner != owner and claimed_at > now - lease:
                raise SideEffectInProgress(f"{kind} {key!r} is being done by {row.owner} since {claimed_at:%H:%M:%S}")
            conn.execute(side_effects.update().where(side_effects.c.key == key).values(owner=owner, claimed_at=now))
    try:
        result = action()
    except BaseException:
        with engine.begin() as conn:
            conn.execute(
                side_effects.delete().where(
                    side_effects.c.key == key, side_effects.c.state == "pending", side_effects.c.owner == owner
                )
            )
        raise
    with engine.begin() as conn:
        conn.execute(
            side_effects.update()
            .where(side_effects.c.key == key)
            .values(state="done", detail=json.dumps(result, default=str), done_at=datetime.now(UTC))
        )
    return result, True


def as_utc(value: str | datetime | None) -> datetime | None:
    """An aware UTC time from an ISO 8601 text (the Support API's ``...Z``; SQLite hands stored
    times back as text too) or a datetime; a time without zone is taken as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


ERRORS_WATERMARK = "flow_errors_published"  # occurred_at of the newest error published, epoch µs


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


class ReportingStore:
    """The reporting database behind an Airflow connection (``support_reporting`` by default)."""

    def __init__(self, conn_id: str = "support_reporting", engine: Engine | None = None):
        self.conn_id = conn_id
        self._engine = prepare_engine(engine) if engine is not None else None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from airflow.sdk import BaseHook

            hook = BaseHook.get_connection(self.conn_id).get_hook()
            engine = prepare_engine(hook.get_sqlalchemy_engine())
            require_schema(engine)
            self._engine = engine
        return self._engine

    def upsert(self, table: sa.Table | str, rows: Iterable[dict[str, Any]]) -> int:
        return upsert(self.engine, table, rows)

    def once(self, key: str, kind: str, owner: str, action: Callable[[], Any]) -> tuple[Any, bool]:
        return once(self.engine, key, kind, owner, action)

    def get_watermark(self, name: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(watermarks.c.position).where(watermarks.c.name == name)).scalar() or 0

    def set_watermark(self, name: str, position: int) -> None:
        """Move a watermark forward (never back: a late writer cannot undo a newer position)."""
        insert = dialect_insert(self.engine)
        stmt = insert(watermarks).values(name=name, position=position, updated_at=datetime.now(UTC))
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at},
            where=watermarks.c.position < stmt.excluded.position,
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def get_reminder(self, ticket_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(reminders).where(reminders.c.ticket_id == ticket_id)).first()
        return dict(row._mapping) if row else None

    def set_reminder(self, ticket_id: int, mailbox: str, event_id: str, starts_at: datetime) -> None:
        self.upsert(
            reminders,
            [
                {
                    "ticket_id": ticket_id,
                    "mailbox": mailbox,
                    "event_id": event_id,
                    "starts_at": starts_at,
                    "updated_at": datetime.now(UTC),
                }
            ],
        )

    def forget_reminder(self, ticket_id: int, event_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(reminders.delete().where(reminders.c.ticket_id == ticket_id, reminders.c.event_id == event_id))

    def publish_new_errors(self) -> int:
        """How many ``flow_errors`` rows arrived since the last call (moving the position on): the
        error log's Asset event carries them (``support_error_log``)."""
        with self.engine.connect() as conn:
            count, newest = conn.execute(
                sa.select(sa.func.count(), sa.func.max(flow_errors.c.occurred_at)).where(
                    flow_errors.c.occurred_at > _from_us(self.get_watermark(ERRORS_WATERMARK))
                )
            ).one()
        if not count:
            return 0
        self.set_watermark(ERRORS_WATERMARK, round(as_utc(newest).timestamp() * 1_000_000))
        return count

    def earliest(self, table: sa.Table | str, column: str) -> datetime | None:
        """The smallest value of a time column (None for an empty table), as an aware UTC time."""
        table = TABLES[table] if isinstance(table, str) else table
        with self.engine.connect() as conn:
            return as_utc(conn.execute(sa.select(sa.func.min(table.c[column]))).scalar())

    def fetch_all(self, table: sa.Table | str) -> list[dict]:
        table = TABLES[table] if isinstance(table, str) else table
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.select(table))]


def main(argv: list[str]) -> int:
    """``python -m support_flows.storage.reporting migrate [--url URL]``: the deploy step."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m support_flows.storage.reporting", description=main.__doc__)
    parser.add_argument("command", choices=["migrate"])
    parser.add_argument(
        "--url", help="SQLAlchemy URL of the reporting database (default: the support_reporting connection)"
    )
    args = parser.parse_args(argv)
    if args.url:
        engine = sa.create_engine(args.url)
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
