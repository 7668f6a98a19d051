"""The mock's Microsoft 365 tenant: the mailboxes, the SharePoint site and the Planner plan that exist
in it, and the support-flows settings that name them.

The dev stack (``scripts/dev.py run``) and the demo (docker-compose.demo.yaml) set exactly these
settings, so the preflight (``support_flows.server.preflight``) finds every one set and existing,
and nothing falls back to a default. The agents, the other users of the directory, come from the
Support API's data (``graph._directory_user``).
"""

from __future__ import annotations

DOMAIN = "helpdesk.test"  # a reserved test domain: mail to it reaches no one outside the mock
SENDER_MAILBOX = f"support@{DOMAIN}"
ADMIN_RECIPIENTS = (f"support-admins@{DOMAIN}",)
SYSADMIN_RECIPIENTS = (f"sysadmin@{DOMAIN}",)
SHAREPOINT_SITE_ID = "support-reports"
PLANNER_PLAN_ID = "support-follow-ups"

MAILBOXES = frozenset({SENDER_MAILBOX, *ADMIN_RECIPIENTS, *SYSADMIN_RECIPIENTS})
SITES = {SHAREPOINT_SITE_ID: "Support reports"}
PLANS = {PLANNER_PLAN_ID: "Support follow-ups"}


def mailboxes() -> frozenset[str]:
    """The tenant's mailboxes, and the extra ones this mock was made with (``create_app``'s
    ``extra_mailboxes``: the package's placeholder defaults, for tests that run on them)."""
    from flask import current_app, has_app_context

    extra = current_app.config.get("EXTRA_MAILBOXES", frozenset()) if has_app_context() else frozenset()
    return MAILBOXES | extra


def settings(mock_url: str) -> dict[str, str]:
    """The tenant settings (Variable name without ``support_`` -> value) of a stack on this mock."""
    return {
        "sender_mailbox": SENDER_MAILBOX,
        "admin_recipients": ",".join(ADMIN_RECIPIENTS),
        "sysadmin_recipients": ",".join(SYSADMIN_RECIPIENTS),
        "sharepoint_site_id": SHAREPOINT_SITE_ID,
        "planner_plan_id": PLANNER_PLAN_ID,
        "portal_url": f"{mock_url.rstrip('/')}/portal/tickets",
    }
