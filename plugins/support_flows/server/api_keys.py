"""Integration keys: how PowerApps' connection authenticates once and keeps working.

Airflow's API takes short-lived JWTs. A Power Platform connection cannot refresh one by itself, so
the connector sends a long-lived key instead (``X-Api-Key``), like the deployment API tokens of
managed Airflow services. ``ApiKeyAuth`` (an API-server middleware) checks the key on every request
and, for a valid one, hands Airflow a JWT of the key's user that lives ``KEYED_TOKEN_SECONDS`` (the
one request, never returned to the caller): Airflow's own authorisation (the user's FAB role, the
``PowerApps`` role for the connection) then decides what it may do.

- Scoped twice: a key reaches only the routes that start flows and answer their outcomes
  (``KEYED_ROUTES``; Airflow's token routes are not among them, so a key is never exchanged for a
  token), and there it acts as one Airflow user, bound to the user's id (a user deleted and made
  again under the same name does not inherit it). A key whose user holds the Admin or Op role is
  refused, when it is made and at every use (the role may come later).
- Hashed at rest: the table ``support_api_keys`` in Airflow's metadata database keeps the SHA-256
  of the key's secret part (256 random bits, so a plain hash is enough), never the key. The table
  is made by the deploy step (``access bootstrap``, or ``api_keys migrate``), never by a request.
- Expiring, revocable and rotatable: ``--expires-in 90d`` ends a key by itself; ``revoke`` takes
  effect on the next request; rotate by creating a new key, putting it in the connection, then
  revoking the old one (``list`` shows when each key was last used).
- Watched: a refused key is logged with its key id (never its secret) and the source address;
  a source that keeps sending wrong keys is answered 429 with ``Retry-After`` without a database
  lookup, while keys that worked recently go on working; a key starts at most
  ``SUPPORT_KEY_TRIGGERS_PER_MINUTE`` runs a minute. Both budgets are shared by every API-server
  worker and replica (``support_flows.server.limits``).

    python -m support_flows.server.api_keys create --user powerapps --name "PowerApps production" [--expires-in 365d]
    python -m support_flows.server.api_keys list
    python -m support_flows.server.api_keys revoke <key id>
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from support_flows.server import limits
from support_flows.server.api_guard import api_path, json_answer
from support_flows.server.limits import FailureLimiter, TriggerLimiter

log = logging.getLogger(__name__)

HEADER = b"x-api-key"
KEY_FORMAT = re.compile(r"^sfk_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute per key
KEYED_TOKEN_SECONDS = 120  # the JWT handed to Airflow for one keyed request
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


def _digest(secret: str) -> str:
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
                secret_sha256=_digest(secret),
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
            if not hmac.compare_digest(row["secret_sha256"], _digest(match["secret"])):
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


def _token_for(user_id: int) -> str:
    """A JWT for the user from Airflow's auth manager, living as long as one request needs."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    return manager.generate_jwt(
        manager.deserialize_user({"sub": str(user_id)}), expiration_time_in_seconds=KEYED_TOKEN_SECONDS
    )


TRIGGER_PATH = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$|^/support/v1/flows/(?P<flow>[^/]+)/?$")
# The only routes a key reaches: start a flow (Airflow's REST trigger, or the one-call API) and the
# one-call API's own routes (the flows it may start, the outcome of a run it started). Everything
# else, Airflow's token routes (``/auth/token``, ``/ui/auth/token``) included, is refused before
# Airflow sees the request: a key is never exchanged for a token, and never reads runs, XComs,
# task instances, logs or the UI's endpoints, whatever its user's role would allow.
KEYED_ROUTES = (
    ("POST", re.compile(r"^/api/v2/dags/[^/]+/dagRuns/?$")),
    ("GET", re.compile(r"^/support/v1/flows/?$")),
    ("POST", re.compile(r"^/support/v1/flows/[^/]+/?$")),
    ("GET", re.compile(r"^/support/v1/flows/[^/]+/runs/[^/]+/?$")),
    ("GET", re.compile(r"^/api/v2/monitor/health/?$")),
)
KEYED_ROUTES_TEXT = "POST /api/v2/dags/{dag_id}/dagRuns, POST /support/v1/flows/{dag_id} and its outcome route"


def keyed_route(scope) -> bool:
    """Whether a request with a key may go on: one of ``KEYED_ROUTES``, under any base-URL prefix."""
    method, path = scope.get("method"), api_path(scope)
    return any(method == allowed and pattern.match(path) for allowed, pattern in KEYED_ROUTES)


def _starts_a_run(scope) -> bool:
    from support_flows.core.catalog import allowed_conf_keys

    match = TRIGGER_PATH.match(api_path(scope))
    dag_id = match and (match["dag_id"] or match["flow"])
    return bool(scope.get("method") == "POST" and dag_id and allowed_conf_keys(dag_id) is not None)


class ApiKeyAuth:
    """Pure ASGI middleware: a request with ``X-Api-Key`` goes on with the key's user's bearer token,
    or is answered 401 when the key is unknown, revoked, expired or malformed (429 for a source
    that keeps trying wrong keys)."""

    def __init__(self, app, limiter: FailureLimiter | None = None, triggers: TriggerLimiter | None = None):
        self.app = app
        self.limiter = limiter or FailureLimiter()
        self.triggers = triggers or TriggerLimiter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(name, value) for name, value in scope.get("headers") or [] if name != HEADER]
        keys = [value for name, value in scope.get("headers") or [] if name == HEADER]
        if not keys:
            return await self.app(scope, receive, send)
        key = keys[0].decode("latin-1").strip()
        source = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limiter.blocked_for(source, _digest(key))
        if wait > 0:
            seconds = str(max(1, int(wait + 0.999)))
            return await json_answer(
                send,
                429,
                f"X-Api-Key: too many refused keys from {source}; try again in {seconds} s",
                [(b"retry-after", seconds.encode())],
            )
        found = await asyncio.to_thread(check_key, key)
        if found.user_id is None:
            await asyncio.to_thread(self.limiter.failed, source)
            log.warning("integration key refused (%s): key id %s from %s", found.refused, found.key_id or "-", source)
            return await json_answer(send, 401, "X-Api-Key: unknown, revoked, expired or malformed key")
        self.limiter.succeeded(_digest(key))
        if not keyed_route(scope):  # authenticated, not authorised: a wrong key is 401 on every route
            return await json_answer(
                send,
                403,
                f"X-Api-Key: an integration key starts flows and reads their outcomes only ({KEYED_ROUTES_TEXT})",
            )
        if _starts_a_run(scope) and (wait := await asyncio.to_thread(self.triggers.wait_for, found.key_id)) > 0:
            seconds = str(max(1, int(wait + 0.999)))
            log.warning("integration key %s: over %d runs a minute; refused", found.key_id, self.triggers.per_minute)
            return await json_answer(
                send,
                429,
                f"X-Api-Key: this key started {self.triggers.per_minute} runs in the last minute "
                f"(SUPPORT_KEY_TRIGGERS_PER_MINUTE); try again in {seconds} s",
                [(b"retry-after", seconds.encode())],
            )
        token = await asyncio.to_thread(_token_for, found.user_id)
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
    made.add_argument("--expires-in", help="how long the key works: 90d, 12h, 30m (default: until revoked)")
    commands.add_parser("list", help="the keys (never their secrets)")
    gone = commands.add_parser("revoke", help="revoke a key: it stops working at once")
    gone.add_argument("key_id")
    commands.add_parser("migrate", help="create or update the keys' table (a deploy step; bootstrap runs it)")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            expires = parse_duration(args.expires_in) if args.expires_in else None
            print(create(args.user, args.name, expires_in=expires))
        elif args.command == "list":
            for key in list_keys():
                print(json.dumps(key, default=str))
        elif args.command == "migrate":
            print("api keys: " + (", ".join(ensure_table() + limits.ensure_table()) or "tables up to date"))
        elif not revoke(args.key_id):
            print(f"error: no active key {args.key_id}", file=sys.stderr)
            return 1
    except ApiKeyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
