"""What the DAGs' REST payloads are made of, as Airflow Params (docs/powerapps.md lists them): the
field builders, the value rules and the markers the REST guard reads. Each flow declares its own
Params in its contract (``params=`` in its flow module); the DAG files use them for the trigger form
and Airflow's own validation (a malformed payload gets HTTP 400 before any run exists), and the
API-server plugin (``support_flows.server.api_guard``) uses the same names to refuse unknown fields
with 400.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

PRIORITIES = ["low", "normal", "high", "urgent"]
CHANNELS = ["powerapps", "web", "email", "phone", "chat"]
# ``(?!\n)$``, not ``$`` alone: Python's ``$`` also matches before a final newline (so
# "a@b.org\n" would pass), and ``\Z`` does not exist in the ECMAScript dialect that JSON Schema and
# the PowerApps connector use; the lookahead means "the real end" in both.
EMAIL_PATTERN = r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(?!\n)$"
# a ticket's labels: its contact reason and the customer's language (ISO 639-1), from the request or the AI
TOPIC_PATTERN = r"^[a-z][a-z0-9_-]{0,49}$"
LANGUAGE_PATTERN = r"^[a-z]{2}$"


def text(
    title: str, description: str, max_length: int, *, min_length: int = 1, default: Any = ..., personal: bool = False
) -> Param:
    schema: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if personal:
        schema[PERSONAL] = True
    if default is ...:
        return Param(title=title, description=description, **schema)
    return Param(default, title=title, description=description, **{**schema, "type": ["null", "string"]})


def ident(title: str, description: str) -> Param:
    return Param(title=title, description=description, type="integer", minimum=1)


# A field PowerApps must send for a new ticket, but the event watcher leaves out: it passes the id
# of a ticket that arrived through another channel, and the task reads the rest from the API, so no
# customer data sits in the run's conf. JSON Schema validators ignore the keyword; the REST guard,
# the first step and the connector read it (``authoring.catalog.missing_required``).
REQUIRED_UNLESS = "x-required-unless"
# A field only the event watcher sets: refused from the REST API (``authoring.catalog.watcher_only``).
WATCHER_ONLY = "x-set-by-watcher"
# A customer's own words or address: never kept in Airflow's metadata. The API server takes it out of
# a trigger and keeps it for the run's first step (``support_flows.storage.intake``).
PERSONAL = "x-personal"


def new_ticket_text(title: str, description: str, max_length: int) -> Param:
    return Param(
        None,
        title=title,
        description=description,
        type=["null", "string"],
        minLength=1,
        maxLength=max_length,
        **{REQUIRED_UNLESS: "ticket_id", PERSONAL: True},
    )
