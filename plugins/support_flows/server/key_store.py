"""The integration keys' store: the table ``support_api_keys`` in Airflow's metadata database and what
is done with it (create, list, revoke, check).

- Hashed at rest: the table keeps the SHA-256 of the key's secret part (256 random bits, so a plain
  hash is enough), never the key. The table is made by the deploy step (``access bootstrap``, or
  ``access keys migrate``), never by a request.
- Bound to one Airflow user by id (a user deleted and made again under the same name does not
  inherit it); a key whose user holds the Admin or Op role is refused, when it is made and at every
  use (the role may come later).
- Expiring, revocable and rotatable: ``--expires-in 90d`` ends a key by itself; ``revoke`` takes
  effect on the next request; rotate by creating a new key, putting it in the connection, then
  revoking the old one (``list`` shows when each key was last used).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

log = logging.getLogger(__name__)

KEY_FORMAT = re.compile(r"^sfk_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute per key
# Roles no key may act with, when it is made or at any use later: a leaked key must never be an
# administrator's or an operator's (Op may read every run, clear, pause and edit connections).
PRIVILEGED_ROLES = ("Admin", "Op")

_metadata = sa.MetaData()
api_keys = sa.Table(
    "support_api_keys",
    _metadata,
    sa.Column("key_id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("username", sa.String(256), nullable=False),  # for people reading ``list``; the id binds
    sa.Column("user_id", sa.Integer),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
)


class ApiKeyError(Exception):
    pass


def _engine():
    from airflow import settings

    return settings.engine


def ensure_table() -> list[str]:
    """The deploy step: create ``support_api_keys``, or bring an older one up to date (``user_id``
    and ``expires_at`` added; each key bound to its user's id by name once). Idempotent."""
    done = []
    engine = _engine()
    with engine.begin() as conn:
        if not sa.inspect(conn).has_table(api_keys.name):
            api_keys.create(conn)
            return ["table support_api_keys"]
        columns = {column["name"] for column in sa.inspect(conn).get_columns(api_keys.name)}
        for name, kind in (("user_id", "INTEGER"), ("expires_at", "TIMESTAMP WITH TIME ZONE")):
            if name not in columns:
                kind = "TIMESTAMP" if kind.startswith("TIMESTAMP") and conn.dialect.name == "sqlite" else kind
                conn.exec_driver_sql(f"ALTER TABLE support_api_keys ADD COLUMN {name} {kind}")
                done.append(f"support_api_keys.{name}")
        for key_id, username in conn.execute(
            sa.select(api_keys.c.key_id, api_keys.c.username).where(api_keys.c.user_id.is_(None))
        ).all():
            user = _user(conn, username=username)
            conn.execute(
                api_keys.update().where(api_keys.c.key_id == key_id).values(user_id=user["id"] if user else -1)
            )
            done.append(f"key {key_id} bound to {'user ' + str(user['id']) if user else 'no user (it stops working)'}")
    return done


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _user(conn, *, username: str | None = None, user_id: int | None = None) -> dict | None:
    """The active Airflow user by name or id, with its role names."""
    from airflow.providers.fab.auth_manager.models import Role, User, assoc_user_role

    users = User.__table__
    where = users.c.username == username if username is not None else users.c.id == user_id
    row = conn.execute(sa.select(users.c.id, users.c.username).where(where, users.c.active.is_(True))).first()
    if row is None:
        return None
    roles = conn.execute(
        sa.select(Role.__table__.c.name)
        .join(assoc_user_role, assoc_user_role.c.role_id == Role.__table__.c.id)
        .where(assoc_user_role.c.user_id == row.id)
    ).scalars()
    return {"id": row.id, "username": row.username, "roles": set(roles)}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``: how long a new key lives."""
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match or int(match[1]) == 0:
        raise ApiKeyError(f"--expires-in {text!r}: a positive number of days, hours or minutes, like 90d, 12h or 30m")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def privileged_role(user: dict) -> str | None:
    """The first of ``PRIVILEGED_ROLES`` the user holds, or None."""
    return next((role for role in PRIVILEGED_ROLES if role in user["roles"]), None)


def create(username: str, name: str, *, expires_in: timedelta | None = None) -> str:
    """A new key for ``username``; the only time the key itself is seen."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with _engine().begin() as conn:
        user = _user(conn, username=username)
        if user is None:
            raise ApiKeyError(f"no active Airflow user {username!r}")
        if role := privileged_role(user):
            raise ApiKeyError(
                f"{username!r} has the {role} role: a leaked key would be an {role} user's; make the key for a "
                "user with only the rights it needs (e.g. powerapps, role PowerApps)"
            )
        now = _now()
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                name=name,
                username=username,
                user_id=user["id"],
                secret_sha256=digest(secret),
                created_at=now,
                expires_at=now + expires_in if expires_in else None,
            )
        )
    return f"sfk_{key_id}_{secret}"


def revoke(key_id: str) -> bool:
    with _engine().begin() as conn:
        done = conn.execute(
            api_keys.update()
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    return done.rowcount == 1


def list_keys() -> list[dict]:
    with _engine().connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).mappings()
        return [{k: v for k, v in row.items() if k != "secret_sha256"} for row in rows]


@dataclass
class KeyCheck:
    """What checking a key found: the user id it acts as, or why it is refused."""

    user_id: int | None
    key_id: str | None
    refused: str | None = None
    username: str | None = None


def check_key(key: str) -> KeyCheck:
    """Whether ``key`` is a valid key: well-formed, known, unrevoked, unexpired, its secret right
    and its user still active."""
    match = KEY_FORMAT.match(key)
    if not match:
        return KeyCheck(None, None, "malformed")
    key_id = match["key_id"]
    try:
        with _engine().begin() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
            if row is None:
                return KeyCheck(None, key_id, "unknown")
            if not hmac.compare_digest(row["secret_sha256"], digest(match["secret"])):
                return KeyCheck(None, key_id, "wrong secret")
            if row["revoked_at"] is not None:
                return KeyCheck(None, key_id, "revoked")
            now = _now()
            if row["expires_at"] is not None and _aware(row["expires_at"]) <= now:
                return KeyCheck(None, key_id, "expired")
            user = _user(conn, user_id=row["user_id"]) if row["user_id"] is not None else None
            if user is None:
                return KeyCheck(None, key_id, "its user is gone or inactive")
            if role := privileged_role(user):  # the user gained the role after the key was made
                return KeyCheck(None, key_id, f"its user now holds the {role} role")
            last_used = _aware(row["last_used_at"])
            if last_used is None or now - last_used > LAST_USED_RESOLUTION:
                conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=now))
            return KeyCheck(user["id"], key_id, username=user["username"])
    except sa.exc.DBAPIError as err:  # the table is missing (deploy step not run) or the database is down
        log.error("integration keys: cannot check key %s: %s", key_id, type(err).__name__)
        return KeyCheck(None, key_id, "cannot be checked now")


def user_id_for(key: str) -> int | None:
    """The Airflow user id a valid key acts as, else None."""
    return check_key(key).user_id
