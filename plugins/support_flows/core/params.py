"""The REST payloads of the DAGs, as Airflow Params (docs/powerapps.md lists them).

Each DAG's entry in ``support_flows.core.catalog`` names its factory here: the DAG files use the
Params for the trigger form and Airflow's own validation (a malformed payload gets HTTP 400 before
any run exists), and the API-server plugin (``support_flows.server.api_guard``) uses the same names
to refuse unknown fields with 400.
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


def _text(
    title: str, description: str, max_length: int, *, min_length: int = 1, default: Any = ..., personal: bool = False
) -> Param:
    schema: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if personal:
        schema[PERSONAL] = True
    if default is ...:
        return Param(title=title, description=description, **schema)
    return Param(default, title=title, description=description, **{**schema, "type": ["null", "string"]})


def _id(title: str, description: str) -> Param:
    return Param(title=title, description=description, type="integer", minimum=1)


# A field PowerApps must send for a new ticket, but the event watcher leaves out: it passes the id
# of a ticket that arrived through another channel, and the task reads the rest from the API, so no
# customer data sits in the run's conf. JSON Schema validators ignore the keyword; the REST guard,
# the first step and the connector read it (``catalog.missing_required``).
REQUIRED_UNLESS = "x-required-unless"
# A field only the event watcher sets: refused from the REST API (``catalog.watcher_only``).
WATCHER_ONLY = "x-set-by-watcher"
# A customer's own words or address: never kept in Airflow's metadata. The API server takes it out of
# a trigger and keeps it for the run's first step (``support_flows.storage.intake``).
PERSONAL = "x-personal"


def _new_ticket_text(title: str, description: str, max_length: int) -> Param:
    return Param(
        None,
        title=title,
        description=description,
        type=["null", "string"],
        minLength=1,
        maxLength=max_length,
        **{REQUIRED_UNLESS: "ticket_id", PERSONAL: True},
    )


def ticket_created() -> dict[str, Param]:
    return {
        "customer_name": _new_ticket_text("Customer name", "Who opened the ticket, as they want to be addressed.", 200),
        "customer_email": Param(
            None,
            title="Customer e-mail",
            description="Where the answer or the acknowledgement is sent.",
            type=["null", "string"],
            format="email",
            pattern=EMAIL_PATTERN,
            maxLength=320,
            **{REQUIRED_UNLESS: "ticket_id", PERSONAL: True},
        ),
        "subject": _new_ticket_text("Subject", "One line that says what the ticket is about.", 200),
        "description": _new_ticket_text("Description", "The customer's message.", 20000),
        "priority": Param(
            "normal", title="Priority", description="How urgent the ticket is.", type="string", enum=PRIORITIES
        ),
        "channel": Param(
            "powerapps", title="Channel", description="Where the ticket came from.", type="string", enum=CHANNELS
        ),
        "request_id": _text(
            "Request id (optional)",
            "Idempotency key from the caller: triggering again with the same id yields the same ticket, never a second one.",
            100,
            default=None,
        ),
        "ticket_id": Param(
            None,
            title="Existing ticket (event watcher only)",
            description="Set by the event watcher for a ticket that arrived through another channel: the run "
            "answers that ticket and reads its fields from the Support API. Leave it out.",
            type=["null", "integer"],
            minimum=1,
            **{WATCHER_ONLY: True},
        ),
    }


def ticket_assigned() -> dict[str, Param]:
    return {
        "ticket_id": _id("Ticket id", "The ticket to assign."),
        "agent_id": _id("Agent id", "The agent who takes the ticket."),
        "assigned_by": _text("Assigned by", "The admin who made the assignment (name or e-mail).", 200),
    }


def ticket_resolved() -> dict[str, Param]:
    return {
        "ticket_id": _id("Ticket id", "The ticket that is resolved."),
        "agent_id": _id("Agent id", "The agent who resolved it."),
        "resolution_summary": _text("Resolution summary", "What was done; sent to the customer.", 20000),
        "send_survey": Param(
            True, title="Send satisfaction survey", description="Ask the customer to rate the support.", type="boolean"
        ),
    }


def feedback_received() -> dict[str, Param]:
    return {
        "ticket_id": _id("Ticket id", "The ticket the feedback is about."),
        "rating": Param(
            title="Rating", description="1 (very poor) to 5 (excellent) stars.", type="integer", minimum=1, maximum=5
        ),
        "comment": _text(
            "Comment (optional)", "The customer's words.", 5000, min_length=0, default=None, personal=True
        ),
    }


def customer_replied() -> dict[str, Param]:
    """Started by the backend-events watcher (not PowerApps) when a customer replies to a ticket."""
    return {
        "ticket_id": _id("Ticket id", "The ticket the customer replied to."),
        "note_id": Param(
            None,
            title="Reply note id (optional)",
            description="The reply's note on the ticket (the event names it); empty: the newest customer note.",
            type=["null", "integer"],
            minimum=1,
        ),
        "answer_confirmed": Param(
            False,
            title="The AI's answer solved it",
            description="The customer pressed 'this solved my problem' in the AI answer's e-mail.",
            type="boolean",
        ),
    }


def daily_summary() -> dict[str, Param]:
    return {
        "report_date": Param(
            None,
            title="Report date (optional)",
            description="Rerun the report of a past day (YYYY-MM-DD); empty: the run's own day.",
            type=["null", "string"],
            format="date",
        ),
    }


def analytics_load() -> dict[str, Param]:
    return {
        "load_date": Param(
            None,
            title="Day to load (optional)",
            description="Load one past day again (YYYY-MM-DD); empty: the day before the run.",
            type=["null", "string"],
            format="date",
        ),
    }
