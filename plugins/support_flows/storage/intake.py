"""Where a run's personal fields wait for its first step, out of Airflow's metadata.

A new ticket's customer name, address, subject and description (and a rating's comment) would
otherwise stay in the run's conf and Airflow's audit log for the whole retention window, readable
by every role that reads runs. The API server takes them out of the trigger before Airflow sees it
and keeps them here, under the run's id (``put``); the run's first step reads them back (``read``).
They stay for ``intake_retention_hours`` (so a retried or cleared first step still finds them),
then ``purge`` deletes them (the error log's round, every 10 minutes). The text is encrypted with
Airflow's Fernet key, which the API server and the workers share: this table is in the reporting
database, whose analysts never read ``support_internal``, but a dump of it shows no customer's words.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from support_flows.storage.tables import intake


def _fernet():
    from airflow.models.crypto import get_fernet

    return get_fernet()


def put(engine, dag_id: str, run_id: str, fields: dict, now: datetime) -> bool:
    """Keep ``fields`` for the run; False when the run had some already (they are kept, not replaced:
    a repeated call with an idempotency key names the same run)."""
    token = _fernet().encrypt(json.dumps(fields, sort_keys=True).encode()).decode()
    try:
        with engine.begin() as conn:
            conn.execute(intake.insert().values(dag_id=dag_id, run_id=run_id, fields=token, created_at=now))
    except sa.exc.IntegrityError:
        return False
    return True


def read(engine, dag_id: str, run_id: str) -> dict | None:
    """The run's fields, or None when it has none (any more)."""
    with engine.connect() as conn:
        token = conn.execute(
            sa.select(intake.c.fields).where(intake.c.dag_id == dag_id, intake.c.run_id == run_id)
        ).scalar()
    return None if token is None else json.loads(_fernet().decrypt(token.encode()))


def purge(engine, before: datetime) -> int:
    """Delete what was kept before ``before``; how many runs' fields went."""
    with engine.begin() as conn:
        return conn.execute(intake.delete().where(intake.c.created_at < before)).rowcount
