"""Idempotent loads: every load is an upsert on the table's natural key that only writes rows whose
values changed, so loading the same data twice changes nothing. One code path serves SQLite and
PostgreSQL (the dialect only decides which ``INSERT ... ON CONFLICT`` SQLAlchemy renders); large
loads into PostgreSQL ``COPY`` the rows into a temporary table first, then upsert from it in one
``INSERT ... SELECT``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain, islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from support_flows.storage.migrations import prepare_engine
from support_flows.storage.tables import TABLES


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
