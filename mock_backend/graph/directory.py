"""The directory: ``GET /users/{id or upn}`` (the backend's agents and the tenant's mailboxes;
Planner assigns by user id), and the mailboxes that exist.
"""

from __future__ import annotations

import uuid

from mock_backend import db, tenant
from mock_backend.graph.common import USER_NAMESPACE, GraphError, bp


def directory_id(upn: str) -> str:
    """The object id the mock's directory gives a user: stable, derived from the UPN."""
    return str(uuid.uuid5(USER_NAMESPACE, upn.strip().lower()))


def directory_user(key: str) -> dict | None:
    """A user by object id or UPN. The directory is the backend's agents (UPN = e-mail address) and
    the tenant's own mailboxes (``tenant.MAILBOXES``: the support mailbox, the admins' lists)."""
    rows = (
        db()
        .execute("SELECT name, email FROM agents WHERE lower(email) NOT IN (SELECT upn FROM graph_users_left)")
        .fetchall()
    )
    people = [(row["name"], row["email"]) for row in rows]
    for name, email in [*people, *((mailbox.split("@")[0], mailbox) for mailbox in sorted(tenant.mailboxes()))]:
        if key.lower() in (email.lower(), directory_id(email)):
            return {"id": directory_id(email), "displayName": name, "mail": email, "userPrincipalName": email}
    return None


@bp.get("/users/<key>")
def get_user(key: str):
    """``GET /users/{id | userPrincipalName}``: the user, or Graph's 404 for one not in the directory."""
    user = directory_user(key)
    if user is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
        )
    return user


def existing_mailbox(mailbox: str) -> None:
    """Graph answers a mailbox that is not in the directory with 404 ErrorInvalidUser, for mail and
    calendars alike: a wrong ``sender_mailbox`` fails here, as it would in the tenant."""
    if directory_user(mailbox) is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid.")
