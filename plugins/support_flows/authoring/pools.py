"""The Airflow pool that keeps the flows within Microsoft Graph's limit per mailbox.

Graph serves at most 4 concurrent requests per mailbox and answers more with 429 Too Many
Requests. Every task that sends from the support mailbox (``support_sender_mailbox``) runs in
``SENDER_MAILBOX_POOL``, so however many workers there are, at most 4 such tasks talk to the mailbox
at once; the rest wait in Airflow's queue, visible under Admin > Pools. The pool is made at deploy
time by ``python -m support_flows.server.access bootstrap`` when missing; slots an admin set in the UI are
kept. With ``extra_sender_mailboxes`` the e-mails spread over several mailboxes
(support_flows.core.mailer) and the pool's 4 slots keep every one of them within its limit; an admin
may raise the slots to 4 per mailbox. A throttled request waits as Graph asks (``Retry-After``)
inside its slot, never failing the task.
"""

from __future__ import annotations

SENDER_MAILBOX_POOL = "graph_sender_mailbox"
SENDER_MAILBOX_SLOTS = 4
DESCRIPTION = "Tasks that send from the support mailbox: Microsoft Graph allows 4 concurrent requests per mailbox"


def ensure() -> list[str]:
    """Create the pool if it does not exist; what was done."""
    import sqlalchemy as sa
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        if session.scalar(sa.select(Pool).where(Pool.pool == SENDER_MAILBOX_POOL)) is not None:
            return []
        Pool.create_or_update_pool(
            SENDER_MAILBOX_POOL, SENDER_MAILBOX_SLOTS, DESCRIPTION, include_deferred=False, session=session
        )
    return [f"pool {SENDER_MAILBOX_POOL} ({SENDER_MAILBOX_SLOTS} slots)"]
