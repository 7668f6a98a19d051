"""The deploy preflight: ``python -m support_flows.server.preflight``.

Before anything starts, it checks what a deployment must have and the code cannot default: every
tenant setting set to the customer's own value (no placeholder domain such as ``example.com``
left), a token from Microsoft Graph, the sender mailboxes, the Planner plan and the SharePoint site
existing in the tenant, the Support API answering, and the reporting database at this code's
schema version. It prints one line per problem, naming the setting (or connection) and the fix,
and exits 1; with nothing wrong it prints one line and exits 0.

Compose's ``airflow-init`` and the Helm chart's migration job run it after the migrations and
before the bootstrap, so a wrong setting stops the install instead of the first e-mail. It reads
the settings as the flows do (Key Vault, environment, Airflow Variables) and asks each outside
system once, without retries: a deploy step should fail fast and say why.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from support_flows.core.params import EMAIL_PATTERN
from support_flows.core.settings import (
    TENANT_SETTINGS,
    VARIABLE_PREFIX,
    Settings,
    SettingsError,
    load_settings,
    raw_setting,
)

# Domains reserved for documentation (RFC 2606): a value under one is a placeholder, never a tenant's.
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
MAILBOX_SETTINGS = ("sender_mailbox", "admin_recipients", "sysadmin_recipients")


@dataclass(frozen=True)
class Problem:
    """What is wrong (``subject``: a setting or a connection) and what to do about it."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def variable(name: str) -> str:
    """How a setting is named to the operator: the Variable, and where a deployment keeps it."""
    full = VARIABLE_PREFIX + name
    return (
        f"Variable {full} (Key Vault secret airflow-variables-{full.replace('_', '-')} or AIRFLOW_VAR_{full.upper()})"
    )


def check_tenant_settings(read: Callable[[str], str | None] = raw_setting) -> list[Problem]:
    """Every tenant setting is set, holds no placeholder domain, and the addresses are addresses."""
    problems = []
    for name in TENANT_SETTINGS:
        raw = read(name)
        if raw is None:
            problems.append(
                Problem(variable(name), "not set; set it to your tenant's value (the default is a placeholder)")
            )
            continue
        placeholder = next((domain for domain in PLACEHOLDER_DOMAINS if domain in raw.lower()), None)
        if placeholder:
            problems.append(
                Problem(variable(name), f"{raw!r} names the placeholder domain {placeholder}; set your tenant's")
            )
        elif name in MAILBOX_SETTINGS:
            wrong = [part.strip() for part in raw.split(",") if not re.fullmatch(EMAIL_PATTERN, part.strip())]
            if wrong or not raw.strip():
                problems.append(
                    Problem(variable(name), f"{', '.join(map(repr, wrong)) or 'nothing'} is not an e-mail address")
                )
    return problems


def check_graph(settings: Settings, graph=None) -> list[Problem]:
    """A token, then the sender mailboxes, the SharePoint site and the Planner plan, each looked up."""
    from support_flows.clients.graph import GraphClient, GraphRequestError
    from support_flows.clients.retry import CallRetryPolicy

    graph = graph or GraphClient(timeout=settings.graph_timeout_seconds, retry_policy=CallRetryPolicy(attempts=1))
    try:
        try:
            graph.access_token()
        except Exception as err:  # noqa: BLE001 - whatever the identity platform said is the line
            return [
                Problem(
                    "connection support_graph",
                    f"Microsoft Graph gives no token ({_first_line(err)}); check the app registration's "
                    "client id (login), secret (password) and extra tenant_id",
                )
            ]
        lookups = (
            (
                "sender_mailbox",
                graph.user_id,
                "no such mailbox in the tenant's directory; name the mailbox the app sends from",
            ),
            (
                "sharepoint_site_id",
                graph.site,
                "no such SharePoint site; use the site id (GET /sites/{host}:/sites/{path})",
            ),
            ("planner_plan_id", graph.planner_plan, "no such Planner plan; use the plan id from the plan's URL"),
        )
        extra = [
            (
                "extra_sender_mailboxes",
                graph.user_id,
                "no such mailbox in the tenant's directory; it cannot share the sending",
                m,
            )
            for m in settings.extra_sender_mailboxes
        ]
        problems = []
        for name, look_up, fix, *one in [*lookups, *extra]:
            value = one[0] if one else getattr(settings, name)
            try:
                look_up(value)
            except GraphRequestError as err:  # GraphUserNotFound too
                if err.status == 404:
                    problems.append(Problem(variable(name), f"{value!r}: {fix}"))
                else:
                    refused = f"Graph refused the lookup of {value!r} (HTTP {err.status}); grant the app the permission"
                    problems.append(Problem(variable(name), f"{refused}: {_first_line(err)}"))
            except Exception as err:  # noqa: BLE001 - an unreachable Graph is a line too
                problems.append(Problem(variable(name), f"could not look up {value!r}: {_first_line(err)}"))
        return problems
    finally:
        graph.close()


def check_support_api(hook=None) -> list[Problem]:
    from support_flows.clients.retry import CallRetryPolicy
    from support_flows.clients.support_api import SupportApiHook

    ok, message = (hook or SupportApiHook(timeout=10.0, retry_policy=CallRetryPolicy(attempts=1))).test_connection()
    if ok:
        return []
    return [
        Problem(
            "connection support_api",
            f"the Support API does not answer ({_first_line(message)}); check the connection's host, port and credentials",
        )
    ]


def check_reporting_database(store=None) -> list[Problem]:
    from support_flows.storage.reporting import ReportingStore

    try:
        (store or ReportingStore()).engine  # noqa: B018 - connecting checks the schema version
    except Exception as err:  # noqa: BLE001
        return [Problem("connection support_reporting", f"{_first_line(err)}")]
    return []


def run_checks() -> list[Problem]:
    """Every check; the outside systems are asked only with settings that can be read."""
    problems = check_tenant_settings()
    try:
        settings = load_settings()
    except SettingsError as err:
        return [*problems, Problem("settings", str(err))]
    unset = {problem.subject for problem in problems}
    graph_problems = check_graph(settings)
    problems += [p for p in graph_problems if p.subject not in unset]
    problems += check_support_api()
    problems += check_reporting_database()
    return problems


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else type(value).__name__


def report(problems: Iterable[Problem], out=sys.stdout) -> int:
    problems = list(problems)
    for problem in problems:
        print(f"preflight: {problem}", file=out)
    if problems:
        print(f"preflight: {len(problems)} problem(s); nothing was started", file=out)
        return 1
    print(
        "preflight: every tenant setting is set and the tenant, Graph, the Support API and the reporting database answer",
        file=out,
    )
    return 0


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__)
        return 0 if argv in (["-h"], ["--help"]) else 2
    return report(run_checks())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
