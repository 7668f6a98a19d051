"""What each PowerApps flow returns: the JSON schema of its result task's value (the seed's
"Outputs"), field by field.

The one-call endpoint (``support_flows.server.flow_calls``) answers these fields beside the run's
state, and the connector generator (``scripts/powerapps_connector.py``) declares them as each
action's response, so a maker sees ``ticket_id``, ``status``, ... in dynamic content. Swagger 2.0
has no null type: a field that may be null says ``x-nullable``. The DAG tests check every outcome
they produce against these schemas (``check``), so they cannot drift from the flows.
"""

from __future__ import annotations

from typing import Any

from support_flows.core import catalog


def _field(kind: str, summary: str, description: str = "", *, nullable: bool = False, **extra: Any) -> dict:
    schema = {"type": kind, "x-ms-summary": summary, "description": description or summary, **extra}
    if nullable:
        schema["x-nullable"] = True
    return schema


TICKET_ID = _field("integer", "Ticket id", "The ticket's number in the support system")
NOTIFICATION = _field("string", "Customer e-mail", "sent, or already_sent when a repeated call found it sent before")

OUTCOMES: dict[str, dict[str, dict]] = {
    catalog.TICKET_CREATED: {
        "ticket_id": TICKET_ID,
        "status": _field(
            "string",
            "Ticket status",
            "ai_responded: the AI's answer was e-mailed to the customer; queued: the ticket waits for an agent",
        ),
        "customer_notified": _field(
            "boolean", "Customer e-mailed", "Whether the customer got an e-mail (answer or receipt)"
        ),
        "no_reply_reason": _field(
            "string",
            "Why no e-mail",
            "Set when customer_notified is false: a mail loop, or the address's hourly e-mail cap",
            nullable=True,
        ),
    },
    catalog.TICKET_ASSIGNED: {
        "ticket_id": TICKET_ID,
        "agent_id": _field("integer", "Agent id"),
        "assignment_status": _field("string", "Ticket status", "The ticket's status after the assignment: assigned"),
        "agent_notification_status": _field("string", "Agent e-mail", "sent or already_sent"),
        "reminder_event_id": _field("string", "Reminder event id", "The agent's calendar event", nullable=True),
        "reminder_at": _field("string", "Reminder time", "When the follow-up reminder is due (ISO 8601)"),
    },
    catalog.TICKET_RESOLVED: {
        "ticket_id": TICKET_ID,
        "resolution_status": _field("string", "Ticket status", "resolved"),
        "customer_notification_status": NOTIFICATION,
        "survey_status": _field("string", "Survey", "sent, already_sent, or not_requested"),
    },
    catalog.FEEDBACK_RECEIVED: {
        "feedback_id": _field("integer", "Feedback id"),
        "ticket_id": TICKET_ID,
        "rating": _field("integer", "Rating", "1 to 5 stars"),
        "feedback_processing_status": _field("string", "Processing", "processed"),
        "followup_task_id": _field(
            "string", "Follow-up task id", "The supervisor's Planner task for a 1-2 star rating", nullable=True
        ),
        "agent_metrics": {
            "type": "object",
            "x-ms-summary": "Agent metrics",
            "description": "The agent's ratings after this one (agent_id null: the ticket had no agent)",
            "properties": {
                "id": _field("integer", "Agent id"),
                "agent_id": _field("integer", "Agent id (none)", nullable=True),
                "ratings_count": _field("integer", "Ratings"),
                "rating_avg": _field("number", "Average rating", nullable=True),
                "low_ratings": _field("integer", "Low ratings"),
            },
        },
        "customer_notification_status": NOTIFICATION,
    },
}


def schema(dag_id: str) -> dict:
    """The outcome of ``dag_id`` as a JSON schema object."""
    return {"type": "object", "properties": OUTCOMES[dag_id]}


_TYPES = {"integer": int, "string": str, "boolean": bool, "number": (int, float), "object": dict}


def problems(dag_id: str, outcome: dict) -> list[str]:
    """How ``outcome`` differs from the declared schema: a field not declared, a type that is not
    the declared one, a null where none is allowed."""
    return _problems(OUTCOMES[dag_id], outcome, "")


def _problems(fields: dict[str, dict], value: dict, prefix: str) -> list[str]:
    found = []
    for name, item in value.items():
        spec = fields.get(name)
        if spec is None:
            found.append(f"{prefix}{name}: not declared")
        elif item is None:
            if not spec.get("x-nullable"):
                found.append(f"{prefix}{name}: null, declared not nullable")
        elif isinstance(item, bool) and spec["type"] != "boolean" or not isinstance(item, _TYPES[spec["type"]]):
            found.append(f"{prefix}{name}: {type(item).__name__}, declared {spec['type']}")
        elif spec["type"] == "object":
            found += _problems(spec.get("properties", {}), item, f"{prefix}{name}.")
    return found


def check(dag_id: str, outcome: dict) -> None:
    """Raise AssertionError naming every difference (for the tests)."""
    found = problems(dag_id, outcome)
    assert not found, f"{dag_id} outcome differs from core/outcomes.py: {found}"


def outcome_table() -> str:
    """docs/powerapps.md's table of what each action answers (Markdown)."""
    rows = ["| action | flow (`dag_id`) | outcome fields, besides `run_id`, `state`, `reason_code`, `reason_message` |"]
    rows.append("|---|---|---|")
    for dag_id, fields in OUTCOMES.items():
        action = catalog.entry(dag_id).powerapps_action[0]
        described = "; ".join(
            f"`{name}` ({spec['type']}{', or null' if spec.get('x-nullable') else ''}): {spec['description']}"
            for name, spec in fields.items()
        )
        rows.append(f"| `{action}` | `{dag_id}` | {described} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # print docs/powerapps.md's table
    print(outcome_table(), end="")
