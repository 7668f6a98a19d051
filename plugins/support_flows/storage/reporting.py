"""The reporting database the flows work with (docs/data-dictionary.md): ``ReportingStore`` behind
the ``support_reporting`` connection, with loads, the ledger and watermarks. The flows' own queries
live with the flows (the escalation's candidates in ``flows.escalation``, the reminders' record in
``flows.assignment``, flow health in ``flows.daily_summary``, the error log in ``operations.alerts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from support_flows.storage.ledger import claimed_mailbox, count_done, done_at, is_done, once, recipients_since
from support_flows.storage.loads import dialect_insert, upsert
from support_flows.storage.migrations import prepare_engine, require_schema
from support_flows.storage.tables import (
    TABLES,
    watermarks,
)


def _stored_utc(value: str | datetime | None) -> datetime | None:
    """A stored time as an aware UTC time: SQLite hands times back as text, and without a zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


ERRORS_WATERMARK = "flow_errors_published"  # a moment: occurred_at of the newest error published
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _to_us(moment: datetime) -> int:
    return (_stored_utc(moment) - EPOCH) // timedelta(microseconds=1)


class ReportingStore:
    """The reporting database behind an Airflow connection (``support_reporting`` by default)."""

    def __init__(self, conn_id: str = "support_reporting", engine: Engine | None = None):
        self.conn_id = conn_id
        self._engine = prepare_engine(engine) if engine is not None else None

    @property
    def engine(self) -> Engine:
        """Connected on first use, after checking the database is at this code's schema version."""
        if self._engine is None:
            from airflow.sdk import BaseHook

            hook = BaseHook.get_connection(self.conn_id).get_hook()
            engine = prepare_engine(hook.get_sqlalchemy_engine())
            require_schema(engine)
            self._engine = engine
        return self._engine

    def upsert(self, table: sa.Table | str, rows: Iterable[dict[str, Any]]) -> int:
        return upsert(self.engine, table, rows)

    def once(self, key: str, kind: str, owner: str, action: Callable[[], Any], **options: Any) -> tuple[Any, bool]:
        """``ledger.once``: ``resume``, ``mailbox``, ``recipients`` as options."""
        return once(self.engine, key, kind, owner, action, **options)

    def claimed_mailbox(self, key: str) -> str | None:
        """The sender mailbox an e-mail's first claim recorded."""
        return claimed_mailbox(self.engine, key)

    def recipients_since(self, since: datetime) -> dict[str, int]:
        """Recipients of the e-mails sent since ``since``, per sender mailbox."""
        return recipients_since(self.engine, since)

    def is_done(self, key: str) -> bool:
        """Whether the side effect ``key`` is recorded as done in the ledger."""
        return is_done(self.engine, key)

    def done_at(self, key: str) -> datetime | None:
        """When the side effect ``key`` was done, or None when the ledger does not show it done."""
        return done_at(self.engine, key)

    def count_done(self, prefix: str, since: datetime) -> int:
        """How many side effects under a key prefix the ledger shows done since ``since``."""
        return count_done(self.engine, prefix, since)

    def get_watermark(self, name: str) -> int:
        """A cursor in an id sequence (0 before the first move)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(watermarks.c.position).where(watermarks.c.name == name)).scalar() or 0

    def get_moment(self, name: str) -> datetime | None:
        """A time watermark, as an aware UTC time (None before the first move)."""
        position = self.get_watermark(name)
        return EPOCH + timedelta(microseconds=position) if position else None

    def set_moment(self, name: str, moment: datetime) -> None:
        """Move a time watermark forward to ``moment`` (stored in microseconds since the epoch)."""
        self.set_watermark(name, _to_us(moment))

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

    def earliest(self, table: sa.Table | str, column: str) -> datetime | None:
        """The smallest value of a time column (None for an empty table), as an aware UTC time."""
        table = TABLES[table] if isinstance(table, str) else table
        with self.engine.connect() as conn:
            return _stored_utc(conn.execute(sa.select(sa.func.min(table.c[column]))).scalar())

    def fetch_all(self, table: sa.Table | str) -> list[dict]:
        table = TABLES[table] if isinstance(table, str) else table
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.select(table))]
