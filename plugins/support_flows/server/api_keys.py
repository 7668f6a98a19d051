"""Integration keys: how PowerApps' connection authenticates once and keeps working.

Airflow's API takes short-lived JWTs (24 h by default). A Power Platform connection cannot refresh
one by itself, so the connector sends a long-lived key instead (``X-Api-Key``), like the deployment
API tokens of managed Airflow services. ``ApiKeyAuth`` (an API-server middleware) checks the key
on every request and, for a valid one, hands Airflow a fresh JWT of the key's user: Airflow's own
authorisation (the user's FAB role) then decides what the request may do.

- Scoped: a key acts as one Airflow user (for PowerApps, ``powerapps`` with the PowerApps role).
- Hashed at rest: the table ``support_api_keys`` in Airflow's metadata database keeps the SHA-256
  of the key's secret part (256 random bits, so a plain hash is enough), never the key.
- Revocable and rotatable: ``revoke`` takes effect on the next request; rotate by creating a new
  key, putting it in the connection, then revoking the old one (``list`` shows when each key was
  last used).

    python -m support_flows.server.api_keys create --user powerapps --name "PowerApps production"
    python -m support_flows.server.api_keys list
    python -m support_flows.server.api_keys revoke <key id>
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import re
import secrets
import sys
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

HEADER = b"x-api-key"
KEY_FORMAT = re.compile(r"^sfk_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute per key

_metadata = sa.MetaData()
api_keys = sa.Table(
    "support_api_keys",
    _metadata,
    sa.Column("key_id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("username", sa.String(256), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
)
_table_ready = False


class ApiKeyError(Exception):
    pass


def _engine():
    from airflow import settings

    global _table_ready
    if not _table_ready:
        _metadata.create_all(settings.engine, checkfirst=True)
        _table_ready = True
    return settings.engine


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _user_id(conn, username: str) -> int | None:
    from airflow.providers.fab.auth_manager.models import User

    return conn.execute(
        sa.select(User.__table__.c.id).where(User.__table__.c.username == username, User.__table__.c.active.is_(True))
    ).scalar()


def create(username: str, name: str) -> str:
    """A new key for ``username``; the only time the key itself is seen."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with _engine().begin() as conn:
        if _user_id(conn, username) is None:
            raise ApiKeyError(f"no active Airflow user {username!r}")
        conn.execute(
            api_keys.insert().values(
                key_id=key_id, name=name, username=username, secret_sha256=_digest(secret), created_at=_now()
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


def user_id_for(key: str) -> int | None:
    """The Airflow user id a valid, unrevoked key acts as (its user still active), else None."""
    match = KEY_FORMAT.match(key)
    if not match:
        return None
    with _engine().begin() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == match["key_id"])).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(row["secret_sha256"], _digest(match["secret"])):
            return None
        now = _now()
        if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_RESOLUTION:
            conn.execute(api_keys.update().where(api_keys.c.key_id == row["key_id"]).values(last_used_at=now))
        return _user_id(conn, row["username"])


def _token_for(user_id: int) -> str:
    """A fresh JWT for the user, from Airflow's auth manager (its usual lifetime)."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    return manager.generate_jwt(manager.deserialize_user({"sub": str(user_id)}))


class ApiKeyAuth:
    """Pure ASGI middleware: a request with ``X-Api-Key`` goes on with the key's user's bearer token,
    or is answered 401 when the key is unknown, revoked or malformed."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(name, value) for name, value in scope.get("headers") or [] if name != HEADER]
        keys = [value for name, value in scope.get("headers") or [] if name == HEADER]
        if not keys:
            return await self.app(scope, receive, send)
        key = keys[0].decode("latin-1").strip()
        user_id = await asyncio.to_thread(user_id_for, key)
        if user_id is None:
            answer = json.dumps({"detail": "X-Api-Key: unknown, revoked or malformed key"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return None
        token = await asyncio.to_thread(_token_for, user_id)
        headers = [(n, v) for n, v in headers if n != b"authorization"] + [
            (b"authorization", f"Bearer {token}".encode())
        ]
        return await self.app({**scope, "headers": headers}, receive, send)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m support_flows.server.api_keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="create a key and print it (once)")
    made.add_argument("--user", required=True, help="the Airflow user the key acts as")
    made.add_argument("--name", required=True, help="what the key is for, e.g. 'PowerApps production'")
    commands.add_parser("list", help="the keys (never their secrets)")
    gone = commands.add_parser("revoke", help="revoke a key: it stops working at once")
    gone.add_argument("key_id")
    args = parser.parse_args(argv)
    if args.command == "create":
        try:
            print(create(args.user, args.name))
        except ApiKeyError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    elif args.command == "list":
        for key in list_keys():
            print(json.dumps(key, default=str))
    elif not revoke(args.key_id):
        print(f"error: no active key {args.key_id}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
