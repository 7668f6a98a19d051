"""The reporting database the flows work with (docs/data-dictionary.md): ``ReportingStore`` behind
the ``support_reporting`` connection, with loads, the ledger, watermarks, reminders and the error
log's publication by name, and the queries the flows need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from support_flows.storage.ledger import once
from support_flows.storage.loads import dialect_insert, upsert
from support_flows.storage.migrations import prepare_engine, require_schema
from support_flows.storage.tables import (
    TABLES,
    escalation_candidates,
    escalations,
    flow_errors,
    flow_runs,
    reminders,
    watermarks,
)


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
        self._engine_lock = threading.Lock()  # a task may connect it in the background (FlowRuntime.prefetch)

    @property
    def engine(self) -> Engine:
        """Connected on first use, after checking the database is at this code's schema version."""
        with self._engine_lock:
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

    # --- the error log, for the alerts ----------------------------------------------------------------

    def errors(
        self,
        *,
        dag_id: str | None = None,
        task_id: str | None = None,
        statuses: Iterable[str] = (),
        since: datetime | None = None,
    ) -> list[dict]:
        """Rows of ``flow_errors``, oldest first, filtered by DAG, task, alert status and time."""
        conditions = []
        if dag_id is not None:
            conditions.append(flow_errors.c.dag_id == dag_id)
        if task_id is not None:
            conditions.append(flow_errors.c.task_id == task_id)
        if statuses:
            conditions.append(flow_errors.c.alert_status.in_(list(statuses)))
        if since is not None:
            conditions.append(flow_errors.c.occurred_at >= since)
        query = sa.select(flow_errors).where(*conditions).order_by(flow_errors.c.occurred_at)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def set_alert_status(self, rows: Iterable[dict], status: str) -> None:
        """The alert status of these errors (each named by DAG, run, task, map index and try)."""
        key = ("dag_id", "run_id", "task_id", "map_index", "try_number")
        with self.engine.begin() as conn:
            for row in rows:
                conn.execute(
                    flow_errors.update().where(*(flow_errors.c[k] == row[k] for k in key)).values(alert_status=status)
                )

    # --- flow health, for the daily summary -------------------------------------------------------------

    def _stored_time(self, moment: datetime) -> datetime:
        return moment.astimezone(UTC).replace(tzinfo=None) if self.engine.dialect.name == "sqlite" else moment

    def runs_ended(self, start: datetime, end: datetime) -> list[dict]:
        """``dag_id``, ``state`` and ``duration_seconds`` of the runs that ended in [start, end)."""
        query = sa.select(flow_runs.c.dag_id, flow_runs.c.state, flow_runs.c.duration_seconds).where(
            flow_runs.c.ended_at >= self._stored_time(start), flow_runs.c.ended_at < self._stored_time(end)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def retries_by_dag(self, start: datetime, end: datetime) -> dict[str, int]:
        """Per DAG, the task failures in [start, end) that were retried (not final)."""
        query = (
            sa.select(flow_errors.c.dag_id, sa.func.count())
            .where(
                flow_errors.c.is_final.is_(False),
                flow_errors.c.occurred_at >= self._stored_time(start),
                flow_errors.c.occurred_at < self._stored_time(end),
            )
            .group_by(flow_errors.c.dag_id)
        )
        with self.engine.connect() as conn:
            return {dag_id: count for dag_id, count in conn.execute(query)}

    # --- escalation candidates, for Flow 4 ----------------------------------------------------------------

    def replace_escalation_candidates(self, run_id: str, rows: Iterable[dict]) -> dict[str, int]:
        """The run's stale tickets, as candidates for each level, replacing any of a previous try,
        less the levels already recorded for the same idle period; how many of each level."""
        mine = escalation_candidates.c.dag_run_id == run_id
        with self.engine.begin() as conn:
            conn.execute(sa.delete(escalation_candidates).where(mine))
        self.upsert(escalation_candidates, rows)
        # set-based, in the database: reading while the stream above writes would block on SQLite
        recorded = sa.exists().where(
            escalations.c.ticket_id == escalation_candidates.c.ticket_id,
            escalations.c.level == escalation_candidates.c.level,
            escalations.c.idle_since == escalation_candidates.c.idle_since,
        )
        by_level = sa.select(escalation_candidates.c.level, sa.func.count()).where(mine)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(escalation_candidates).where(mine, recorded))
            return dict(conn.execute(by_level.group_by(escalation_candidates.c.level)).all())

    def escalation_groups(self, run_id: str, level: str, *, by: str) -> Iterator[tuple[Any, Iterator[dict]]]:
        """The run's candidates of one level, grouped by a column (``agent_id``, ``supervisor_id``),
        each group streamed the longest idle first. The caller reads a group's rows before it writes
        anything (each group's read is closed by then: an open read would block writes on SQLite)."""
        group_by = escalation_candidates.c[by]
        mine = sa.and_(escalation_candidates.c.dag_run_id == run_id, escalation_candidates.c.level == level)
        with self.engine.connect() as conn:
            keys = conn.execute(sa.select(group_by).where(mine).distinct().order_by(group_by)).scalars().all()
        for key in keys:
            query = (
                sa.select(escalation_candidates)
                .where(mine, group_by.is_(None) if key is None else group_by == key)
                .order_by(escalation_candidates.c.idle_hours.desc(), escalation_candidates.c.ticket_id)
                .execution_options(yield_per=1000)
            )

            def rows(query=query) -> Iterator[dict]:
                with self.engine.connect() as conn:
                    yield from (row._asdict() for row in conn.execute(query))

            yield key, rows()

    def record_escalations(self, run_id: str, now: datetime) -> dict[str, list[int]]:
        """Move the run's candidates into ``escalations`` (one INSERT .. SELECT in the database,
        idempotent on its key); the escalated ticket ids of each level."""
        mine = escalation_candidates.c.dag_run_id == run_id
        columns = ["ticket_id", "level", "idle_since", "agent_id", "supervisor_id", "idle_hours"]
        rows = sa.select(
            *(escalation_candidates.c[name] for name in columns),
            sa.literal(now, escalations.c.escalated_at.type),
            sa.literal(run_id, escalations.c.dag_run_id.type),
        ).where(mine)
        escalated: dict[str, list[int]] = {}
        with self.engine.begin() as conn:
            for level, ticket_id in conn.execute(
                sa.select(escalation_candidates.c.level, escalation_candidates.c.ticket_id)
                .where(mine)
                .order_by(escalation_candidates.c.level, escalation_candidates.c.ticket_id)
            ):
                escalated.setdefault(level, []).append(ticket_id)
            insert = dialect_insert(self.engine)(escalations).from_select(
                [*columns, "escalated_at", "dag_run_id"], rows
            )
            conn.execute(
                insert.on_conflict_do_nothing(index_elements=[c.name for c in escalations.primary_key.columns])
            )
            conn.execute(sa.delete(escalation_candidates).where(mine))
        return escalated
