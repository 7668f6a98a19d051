"""The side-effect ledger: an e-mail, a Planner task or an upload is claimed under an idempotency key
before it is made and recorded after, so a retried task or a cleared run does it once.

A claim whose action failed is released, not forgotten: the outside system may have done it
before the failure (Graph took the e-mail, the answer was lost), so whoever takes the key next
calls ``resume``, which looks before it acts. E-mails also record their sender mailbox and
recipient count: Exchange's daily budget per mailbox is counted here (``recipients_since``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from support_flows.storage.loads import dialect_insert
from support_flows.storage.migrations import prepare_engine
from support_flows.storage.tables import side_effects

RELEASED = ""  # the owner of a claim whose action failed: free for anyone to take


class SideEffectInProgress(Exception):
    """Another task is doing this side effect right now; try again later."""


def once(
    engine: Engine,
    key: str,
    kind: str,
    owner: str,
    action: Callable[[], Any],
    lease: timedelta = timedelta(minutes=10),
    *,
    resume: Callable[[], Any] | None = None,
    mailbox: str | None = None,
    recipients: int | None = None,
) -> tuple[Any, bool]:
    """Do ``action`` unless the side effect ``key`` was already done; return (result, done_now).

    The key is claimed before acting, so two runs racing for the same key cannot both act. A
    retry of the same task (same ``owner``) takes its own claim over at once; another owner waits
    until the claim's lease has run out (its holder died). If ``action`` raises, the claim is
    released (anyone may take it) and the side effect counts as not done; the next taker of a
    claim made before calls ``resume`` (default ``action``): it may have been done after all.
    ``mailbox`` and ``recipients``: an e-mail's share of its mailbox's daily budget.
    """
    engine = prepare_engine(engine)
    insert = dialect_insert(engine)
    now = datetime.now(UTC)
    budget = {"mailbox": mailbox, "recipients": recipients}
    with engine.begin() as conn:
        claimed = conn.execute(
            insert(side_effects)
            .values(key=key, kind=kind, state="pending", owner=owner, claimed_at=now, **budget)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(side_effects.c.key)  # rowcount is not reliable here on every driver
        ).first()
        if not claimed:
            row = conn.execute(sa.select(side_effects).where(side_effects.c.key == key)).one()
            if row.state == "done":
                return (json.loads(row.detail) if row.detail else None), False
            claimed_at = row.claimed_at if row.claimed_at.tzinfo else row.claimed_at.replace(tzinfo=UTC)
            if row.owner not in (owner, RELEASED) and claimed_at > now - lease:
                raise SideEffectInProgress(f"{kind} {key!r} is being done by {row.owner} since {claimed_at:%H:%M:%S}")
            # an e-mail keeps the mailbox of its first claim: that is where an earlier try may have sent it
            kept = {} if row.mailbox else budget
            conn.execute(
                side_effects.update().where(side_effects.c.key == key).values(owner=owner, claimed_at=now, **kept)
            )
            action = resume or action
    try:
        result = action()
    except BaseException:
        with engine.begin() as conn:
            conn.execute(
                side_effects.update()
                .where(side_effects.c.key == key, side_effects.c.state == "pending", side_effects.c.owner == owner)
                .values(owner=RELEASED)
            )
        raise
    with engine.begin() as conn:
        conn.execute(
            side_effects.update()
            .where(side_effects.c.key == key)
            .values(state="done", detail=json.dumps(result, default=str), done_at=datetime.now(UTC))
        )
    return result, True


def claimed_mailbox(engine: Engine, key: str) -> str | None:
    """The sender mailbox recorded with the e-mail ``key``'s claim (its first), if any."""
    with prepare_engine(engine).connect() as conn:
        return conn.execute(sa.select(side_effects.c.mailbox).where(side_effects.c.key == key)).scalar()


def is_done(engine: Engine, key: str) -> bool:
    with prepare_engine(engine).connect() as conn:
        state = conn.execute(sa.select(side_effects.c.state).where(side_effects.c.key == key)).scalar()
    return state == "done"


def done_at(engine: Engine, key: str) -> datetime | None:
    """When the side effect ``key`` was done (aware, UTC), or None when it is not done."""
    with prepare_engine(engine).connect() as conn:
        row = conn.execute(
            sa.select(side_effects.c.state, side_effects.c.done_at).where(side_effects.c.key == key)
        ).first()
    if row is None or row.state != "done" or row.done_at is None:
        return None
    return row.done_at if row.done_at.tzinfo else row.done_at.replace(tzinfo=UTC)


def count_done(engine: Engine, prefix: str, since: datetime) -> int:
    """How many side effects whose key starts with ``prefix`` were done since ``since``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with prepare_engine(engine).connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(side_effects)
            .where(
                side_effects.c.key.like(escaped + "%", escape="\\"),
                side_effects.c.state == "done",
                side_effects.c.done_at >= since,
            )
        ).scalar()


def recipients_since(engine: Engine, since: datetime) -> dict[str, int]:
    """Recipients of the e-mails sent since ``since``, per sender mailbox (as the sender recorded it:
    lower case)."""
    with prepare_engine(engine).connect() as conn:
        rows = conn.execute(
            sa.select(side_effects.c.mailbox, sa.func.sum(side_effects.c.recipients))
            .where(side_effects.c.mailbox.is_not(None), side_effects.c.done_at >= since)
            .group_by(side_effects.c.mailbox)
        ).all()
    return {mailbox: int(total or 0) for mailbox, total in rows}
