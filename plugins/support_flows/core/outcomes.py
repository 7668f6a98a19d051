"""What a PowerApps flow returns, field by field: each flow's contract declares its outcome (the
seed's "Outputs") as JSON schemas built here (``field``).

The one-call endpoint (``support_flows.server.flow_calls``) answers these fields beside the run's
state, and the connector generator (``scripts/powerapps_connector.py``) declares them as each
action's response, so a maker sees ``ticket_id``, ``status``, ... in dynamic content. Swagger 2.0
has no null type: a field that may be null says ``x-nullable``. The DAG tests check every outcome
they produce against the declared schemas (``authoring.catalog.check_outcome``), so they cannot
drift from the flows.
"""

from __future__ import annotations

from typing import Any


def field(kind: str, summary: str, description: str = "", *, nullable: bool = False, **extra: Any) -> dict:
    schema = {"type": kind, "x-ms-summary": summary, "description": description or summary, **extra}
    if nullable:
        schema["x-nullable"] = True
    return schema


TICKET_ID = field("integer", "Ticket id", "The ticket's number in the support system")
NOTIFICATION = field("string", "Customer e-mail", "sent, or already_sent when a repeated call found it sent before")

_TYPES = {"integer": int, "string": str, "boolean": bool, "number": (int, float), "object": dict}


def problems(fields: dict[str, dict], value: dict, prefix: str = "") -> list[str]:
    """How ``value`` differs from the declared ``fields``: a field not declared, a type that is not
    the declared one, a null where none is allowed."""
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
            found += problems(spec.get("properties", {}), item, f"{prefix}{name}.")
    return found
