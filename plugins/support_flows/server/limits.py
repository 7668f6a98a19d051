"""Limits that protect the API server, with one budget for all its workers and replicas.

The Helm chart runs two API-server replicas and an API server may run several workers; a limit
kept in one worker's memory is that many limits. Each limit here counts in a table of Airflow's
metadata database, which every worker and replica shares (``support_rate_limits``, made by the
deploy step with the keys' table): one row per counted name, its window and its count.

- ``FailureLimiter``: a source that sent ``limit`` refused keys within ``window`` seconds waits
  until the window ends (429 with ``Retry-After``). The wait, once learnt from the shared count, is
  kept in this worker's memory, so a flood from a blocked source costs no database round trip;
  keys that worked recently from this worker go on.
- ``TriggerLimiter``: a key starts at most ``SUPPORT_KEY_TRIGGERS_PER_MINUTE`` runs a minute.

The source is the client's address as the API server sees it: behind a proxy, the address the
proxy forwards (``X-Forwarded-For``) only when the proxy is trusted (``airflow api-server
--proxy-headers`` and ``FORWARDED_ALLOW_IPS`` set to the proxy's address: compose and the Helm
values do), else the proxy's own address would make every caller one.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

log = logging.getLogger(__name__)

_metadata = sa.MetaData()
rate_limits = sa.Table(
    "support_rate_limits",
    _metadata,
    sa.Column("name", sa.String(300), primary_key=True),  # what is counted: "refused:<address>", "runs:<key id>"
    sa.Column("window_start", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("count", sa.Integer, nullable=False),
)
STALE_SECONDS = 3600  # rows whose window ended this long ago are deleted now and then


def ensure_table(engine=None) -> list[str]:
    """The deploy step: create ``support_rate_limits`` when missing. Idempotent."""
    engine = engine or _engine()
    with engine.begin() as conn:
        if sa.inspect(conn).has_table(rate_limits.name):
            return []
        rate_limits.create(conn)
    return ["table support_rate_limits"]


def _engine():
    from airflow import settings

    return settings.engine


@dataclass
class Windows:
    """Counts per name in windows of ``window`` seconds that start at a name's first count after
    the last window ended, shared through the database (``engine``; None: this process's memory,
    for tests of the rules themselves)."""

    engine: object = None
    clock: Callable[[], float] = time.time
    _memory: dict = field(default_factory=dict)

    def add(self, name: str, window: float, cap: int | None = None) -> tuple[int, float, bool]:
        """Count one event of ``name`` (only while the count is below ``cap``, when given): the
        count, when its window started, and whether this one was counted."""
        now = self.clock()
        if self.engine is None:
            start, count = self._memory.get(name, (now, 0))
            start, count = (now, 0) if now - start >= window else (start, count)
            counted = cap is None or count < cap
            self._memory[name] = (start, count + counted)
            return count + counted, start, counted
        for _ in range(3):  # a row another worker inserted meanwhile: read it again
            try:
                return self._add_in_database(name, window, cap, now)
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError(f"rate limit {name}: the shared count could not be written")

    def _add_in_database(self, name: str, window: float, cap: int | None, now: float) -> tuple[int, float, bool]:
        table = rate_limits
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(table.c.window_start, table.c.count).where(table.c.name == name).with_for_update()
            ).first()
            if row is None:
                conn.execute(table.insert().values(name=name, window_start=now, count=1))
                start, count, counted = now, 1, True
            else:
                start, count = (now, 0) if now - row.window_start >= window else (row.window_start, row.count)
                counted = cap is None or count < cap
                count += counted
                conn.execute(table.update().where(table.c.name == name).values(window_start=start, count=count))
            if random.random() < 0.01:  # now and then, rows of windows long gone
                conn.execute(table.delete().where(table.c.window_start < now - STALE_SECONDS))
        return count, start, counted


def shared_windows() -> Windows:
    """The API server's shared counts (Airflow's metadata database)."""
    return Windows(engine=_engine())


@dataclass
class FailureLimiter:
    """Slows a source that keeps sending wrong keys: past ``limit`` refusals within ``window``
    seconds, counted over every worker and replica, its keyed requests are answered 429 until the
    window ends, without a database lookup, except with a key that worked within ``window`` here (a
    good client behind the same address goes on)."""

    limit: int = 20
    window: float = 60.0
    windows: Windows | None = None  # None: the API server's shared counts, made on first use
    _blocked: dict = field(default_factory=dict)  # source -> until (learnt from the shared count)
    _good: OrderedDict = field(default_factory=OrderedDict)  # key digest -> last success
    _alone: Windows = field(default_factory=Windows)  # while the shared counts cannot be reached

    def _counts(self) -> Windows:
        if self.windows is None:
            self.windows = shared_windows()
        return self.windows

    def clock(self) -> float:
        return self._counts().clock()

    def blocked_for(self, source: str, key_digest: str) -> float:
        """Seconds ``source`` must wait before its next attempt with this key (0: go on)."""
        now = self.clock()
        until = self._blocked.get(source)
        if until is None:
            return 0.0
        if until <= now:
            self._blocked.pop(source, None)
            return 0.0
        good = self._good.get(key_digest)
        if good is not None and now - good < self.window:
            return 0.0
        return until - now

    def failed(self, source: str) -> None:
        try:
            count, start, _ = self._counts().add(f"refused:{source}", self.window)
        except Exception as err:  # noqa: BLE001 - the database away: this worker alone slows the source
            log.error("integration keys: cannot count a refusal in the shared limit: %s", type(err).__name__)
            self._alone.clock = self._counts().clock
            count, start, _ = self._alone.add(f"refused:{source}", self.window)
        if count >= self.limit:
            self._blocked[source] = start + self.window
            if len(self._blocked) > 10_000:  # a flood from many addresses: forget the soonest to end
                for stale in sorted(self._blocked, key=self._blocked.get)[:5_000]:
                    del self._blocked[stale]

    def succeeded(self, key_digest: str) -> None:
        self._good[key_digest] = self.clock()
        self._good.move_to_end(key_digest)
        while len(self._good) > 1_000:
            self._good.popitem(last=False)


def key_triggers_per_minute() -> int:
    """The cap on runs one key may start in a minute (``SUPPORT_KEY_TRIGGERS_PER_MINUTE`` in the
    API server's environment, default 600: well above a busy help desk, far below a script
    that uses a leaked key to mass-create tickets); 0: no cap."""
    return int(os.environ.get("SUPPORT_KEY_TRIGGERS_PER_MINUTE", "600"))


@dataclass
class TriggerLimiter:
    """Counts the runs each key starts in a minute, over every worker and replica."""

    per_minute: int = field(default_factory=key_triggers_per_minute)
    windows: Windows | None = None  # None: the API server's shared counts, made on first use

    def wait_for(self, key_id: str) -> float:
        """0 and counted when ``key_id`` may start a run now, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        if self.windows is None:
            self.windows = shared_windows()
        _, start, counted = self.windows.add(f"runs:{key_id}", 60.0, cap=self.per_minute)
        return 0.0 if counted else max(0.001, 60.0 - (self.windows.clock() - start))
