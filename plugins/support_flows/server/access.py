"""Who may do what, through Airflow's own authorisation: the FAB auth manager, its roles and users,
and DAG-level access control.

- The ``PowerApps`` role may start runs of the event DAGs, nothing else: no read of DAGs, runs,
  XComs, task instances or logs, through ``/api/v2`` or the UI's ``/ui`` (the outcome of a run it
  started comes from the one-call API, ``support_flows.server.flow_calls``, which checks who started
  the run). Its per-DAG right is declared on the DAGs (``access_control``:
  ``dag_defaults.EVENT_DAG_ACCESS``) and synced by Airflow as it parses them; bootstrap takes away
  any global right the role holds (an older version granted reading XComs).
- ``SupportFabAuthManager`` is FAB's auth manager with two changes. Creating a run of a DAG needs
  ``can_create`` on that DAG's runs (a per-DAG grant), or on all runs plus ``can_read`` on the DAG;
  stock FAB also asks for ``can_edit`` on the DAG, which would let a user that may trigger also pause
  or edit it (FAB's built-in roles that may create runs, User, Op and Admin, may edit DAGs anyway, so
  for them nothing changes). And the UI's session slides: Airflow's tokens live
  ``[api_auth] jwt_expiration_time`` (15 minutes on every stack here), and a UI request made in the
  second half of its cookie token's life gets a new one, so a session in use never ends while a
  stolen token dies within minutes.
- ``python -m support_flows.server.access keys create|list|revoke|migrate``: the PowerApps
  connection's integration keys (``support_flows.server.key_store``), beside the other deploy steps.
- ``python -m support_flows.server.access bootstrap [--api-key-file PATH] [--reset-password USER]``
  creates what is missing: the role, the ``admin`` and ``powerapps`` users (passwords from
  $SUPPORT_ADMIN_PASSWORD / $SUPPORT_POWERAPPS_PASSWORD), the integration keys' table, the
  PowerApps connection's first key and the Graph mailbox pool (``support_flows.authoring.pools``).
  It never changes an existing user: a password an admin changed (say, after a leak) stays
  changed through every deploy. ``--reset-password USER`` sets that user's password from its
  variable, on purpose. The dev stack, compose's airflow-init and the Helm chart's migration job
  run it. Admins manage users and roles in the UI afterwards.
"""

from __future__ import annotations

import contextvars
import os
import sys
import time
from pathlib import Path

from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager

from support_flows.authoring.dag_defaults import POWERAPPS_ROLE

USERS = (  # user name, role, environment variable with the password
    ("admin", "Admin", "SUPPORT_ADMIN_PASSWORD"),
    ("powerapps", POWERAPPS_ROLE, "SUPPORT_POWERAPPS_PASSWORD"),
)


# The expiry of the token the current request came with, for ``refresh_user`` (set where Airflow
# turns the token into a user, read right after by Airflow's refresh middleware in the same request).
_token_expiry: contextvars.ContextVar[float | None] = contextvars.ContextVar("support_token_expiry", default=None)


class SupportFabAuthManager(FabAuthManager):
    """FAB's auth manager; triggering a DAG does not require the right to edit it, and the UI's
    session slides while it is used."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
        from airflow.providers.fab.www.security import permissions

        if method == "POST" and access_entity == DagAccessEntity.RUN and details and details.id:
            this_dag = permissions.resource_name(details.id, permissions.RESOURCE_DAG_RUN)
            if self._is_authorized(method="POST", resource_type=this_dag, user=user):
                return True
            return self._is_authorized(
                method="POST", resource_type=permissions.RESOURCE_DAG_RUN, user=user
            ) and self._is_authorized_dag(method="GET", details=details, user=user)
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)

    def deserialize_user(self, token: dict):
        _token_expiry.set(token.get("exp"))
        return super().deserialize_user(token)

    def refresh_user(self, *, user):
        """The user again (so Airflow sets a new cookie token) once the request's token is past half
        its life; Airflow asks this for the UI's cookie token only, never for a bearer token."""
        from airflow.configuration import conf

        expires = _token_expiry.get()
        lifetime = conf.getint("api_auth", "jwt_expiration_time")
        if expires is not None and expires - time.time() < lifetime / 2:
            return user
        return None


def bootstrap(api_key_file: Path | None = None, reset_password: str | None = None) -> list[str]:
    """Create what is missing: the PowerApps role (without any global right), the two users, the keys'
    table and (with ``api_key_file``, when that file does not exist yet) an integration key for
    ``powerapps``, written there. Returns what it did. An existing user is left as it is, except
    the one named by ``reset_password``, whose password is set from its variable."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    from support_flows.server import key_store

    known = {username: variable for username, _, variable in USERS}
    if reset_password is not None and reset_password not in known:
        raise SystemExit(
            f"--reset-password {reset_password}: not one of the users bootstrap makes ({', '.join(known)})"
        )
    done = []
    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        role = security.find_role(POWERAPPS_ROLE)
        if role is None:
            role = security.add_role(POWERAPPS_ROLE)
            done.append(f"role {POWERAPPS_ROLE}")
        for permission in list(role.permissions):
            # a global right (DAG-level ones are "DAG Run:<id>"), except the one FAB gives every
            # custom role at each start (reading "Website": FAB's own login pages, no data)
            if ":" not in permission.resource.name and permission.resource.name != "Website":
                security.remove_permission_from_role(role, permission)
                done.append(f"role {POWERAPPS_ROLE}: {permission.action.name} on {permission.resource.name} taken away")
        done += _ensure_users(security, reset_password)
    from support_flows.server import limits

    done += key_store.ensure_table() + limits.ensure_table()
    if api_key_file is not None and not api_key_file.exists():
        write_secret(api_key_file, key_store.create("powerapps", f"written to {api_key_file}") + "\n")
        done.append(f"an integration key for powerapps in {api_key_file}")
    from support_flows.authoring import pools

    return done + pools.ensure()


def _ensure_users(security, reset_password: str | None) -> list[str]:
    done = []
    for username, role_name, variable in USERS:
        password = os.environ.get(variable)
        user = security.find_user(username=username)
        if user is None:
            if not password:
                raise SystemExit(f"{variable} is not set: the password of the new user {username}")
            security.add_user(
                username=username,
                first_name=username,
                last_name="support-flows",
                email=f"{username}@support-flows.invalid",
                role=security.find_role(role_name),
                password=password,
            )
            done.append(f"user {username} ({role_name})")
        elif username == reset_password:
            if not password:
                raise SystemExit(f"--reset-password {username}: {variable} is not set")
            security.reset_password(user.id, password)
            done.append(f"password of {username} reset")
    return done


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only from the first byte (0600, never world-readable
    for a moment) and never over an existing file (``O_EXCL``)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m support_flows.server.access",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap", help="create the role, users, keys' table and first key when missing")
    boot.add_argument("--api-key-file", type=Path, help="write a first key for powerapps here (once)")
    boot.add_argument("--reset-password", metavar="USER", help="set USER's password from its variable")
    keys = commands.add_parser("keys", help="the PowerApps connection's integration keys").add_subparsers(
        dest="action", required=True
    )
    made = keys.add_parser("create", help="create a key and print it (once)")
    made.add_argument("--user", required=True, help="the Airflow user the key acts as")
    made.add_argument("--name", required=True, help="what the key is for, e.g. 'PowerApps production'")
    made.add_argument("--expires-in", help="how long the key works: 90d, 12h, 30m (default: until revoked)")
    keys.add_parser("list", help="the keys (never their secrets)")
    gone = keys.add_parser("revoke", help="revoke a key: it stops working at once")
    gone.add_argument("key_id")
    keys.add_parser("migrate", help="create or update the keys' tables (a deploy step; bootstrap runs it)")
    args = parser.parse_args(argv)
    if args.command == "keys":
        return keys_command(args)
    done = bootstrap(args.api_key_file, args.reset_password)
    print("access: " + (", ".join(done) if done else "nothing to do"))
    return 0


def keys_command(args) -> int:
    """``keys create|list|revoke|migrate`` (support_flows.server.key_store)."""
    import json

    from support_flows.server import key_store, limits

    try:
        if args.action == "create":
            expires = key_store.parse_duration(args.expires_in) if args.expires_in else None
            print(key_store.create(args.user, args.name, expires_in=expires))
        elif args.action == "list":
            for key in key_store.list_keys():
                print(json.dumps(key, default=str))
        elif args.action == "migrate":
            print("api keys: " + (", ".join(key_store.ensure_table() + limits.ensure_table()) or "tables up to date"))
        elif not key_store.revoke(args.key_id):
            print(f"error: no active key {args.key_id}", file=sys.stderr)
            return 1
    except key_store.ApiKeyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
