"""Who may do what, through Airflow's own authorisation: the FAB auth manager, its roles and users,
and DAG-level access control.

- The ``PowerApps`` role may trigger the event DAGs and read their runs and outputs, nothing else.
  Its per-DAG rights are declared on the DAGs (``access_control``: ``dag_defaults.EVENT_DAG_ACCESS``) and
  synced by Airflow as it parses them; its one global right, reading XComs (the outputs; FAB still
  checks the DAG), is granted here.
- ``SupportFabAuthManager`` is FAB's auth manager with one change: creating a DAG run needs
  ``can_create`` on the DAG's runs and ``can_read`` on the DAG. Stock FAB also asks for
  ``can_edit`` on the DAG, which would let a user that may trigger also pause or edit it.
  FAB's built-in roles that may create runs (User, Op, Admin) may edit DAGs anyway, so for them
  nothing changes.
- ``python -m support_flows.server.access bootstrap [--api-key-file PATH]`` creates the role, the
  ``admin`` and ``powerapps`` users (passwords from $SUPPORT_ADMIN_PASSWORD /
  $SUPPORT_POWERAPPS_PASSWORD), the PowerApps connection's first key and the Graph mailbox pool
  (``support_flows.authoring.pools``) when missing; the dev stack, compose's airflow-init and the Helm
  chart's user job run it. Admins manage users and roles in the UI afterwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager

from support_flows.authoring.dag_defaults import POWERAPPS_ROLE

GLOBAL_GRANTS = (("can_read", "XComs"),)
USERS = (  # user name, role, environment variable with the password
    ("admin", "Admin", "SUPPORT_ADMIN_PASSWORD"),
    ("powerapps", POWERAPPS_ROLE, "SUPPORT_POWERAPPS_PASSWORD"),
)


class SupportFabAuthManager(FabAuthManager):
    """FAB's auth manager; triggering a DAG does not require the right to edit it."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
        from airflow.providers.fab.www.security import permissions

        if method == "POST" and access_entity == DagAccessEntity.RUN and details and details.id:
            may_create = any(
                self._is_authorized(method="POST", resource_type=resource, user=user)
                for resource in (
                    permissions.RESOURCE_DAG_RUN,
                    permissions.resource_name(details.id, permissions.RESOURCE_DAG_RUN),
                )
            )
            return may_create and self._is_authorized_dag(method="GET", details=details, user=user)
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)


def bootstrap(api_key_file: Path | None = None) -> list[str]:
    """Create what is missing: the PowerApps role and its global grant, the two users, and (with
    ``api_key_file``, when that file does not exist yet) an integration key for ``powerapps``,
    written there. Returns what it did. Existing users keep their password unless its variable
    is set and differs (then it is applied)."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    done = []
    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        role = security.find_role(POWERAPPS_ROLE)
        if role is None:
            role = security.add_role(POWERAPPS_ROLE)
            done.append(f"role {POWERAPPS_ROLE}")
        for action, resource in GLOBAL_GRANTS:
            permission = security.get_permission(action, resource) or security.create_permission(action, resource)
            if permission not in role.permissions:
                security.add_permission_to_role(role, permission)
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
            elif password and not _check_password(security, username, password):
                security.reset_password(user.id, password)
                done.append(f"password of {username}")
    if api_key_file is not None and not api_key_file.exists():
        from support_flows.server import api_keys

        write_secret(api_key_file, api_keys.create("powerapps", f"written to {api_key_file}") + "\n")
        done.append(f"an integration key for powerapps in {api_key_file}")
    from support_flows.authoring import pools

    return done + pools.ensure()


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only from the first byte (0600, never world-readable
    for a moment) and never over an existing file (``O_EXCL``)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _check_password(security, username: str, password: str) -> bool:
    from werkzeug.security import check_password_hash

    user = security.find_user(username=username)
    return bool(user and user.password and check_password_hash(user.password, password))


def main(argv: list[str]) -> int:
    if argv[:1] != ["bootstrap"] or len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--api-key-file"):
        print(__doc__)
        return 2
    done = bootstrap(Path(argv[2]) if len(argv) == 3 else None)
    print("access: " + (", ".join(done) if done else "nothing to do"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
