"""The one list of the package's DAGs: each DAG's id, flow number, kind, what starts it, its REST
payload (the Params, defined in ``params``), what its outputs hold (the fields PowerApps reads are
in ``outcomes``) and its PowerApps action.

The DAG files, the REST guard (``support_flows.server.api_guard``), the event watcher
(``support_flows.operations.events``), the connector generator (``scripts/powerapps_connector.py``) and
the README's table of flows (``python -m support_flows.core.catalog``, checked by a test) all read
it here. A new DAG is its file in ``dags/``, its steps in ``flows/``, an entry here and, for one
PowerApps starts, its Params and outcome fields (tests fail while one of them is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from support_flows.core import params

TICKET_CREATED = "support_ticket_created"
CUSTOMER_REPLIED = "support_customer_replied"
CLOSE_AI_ANSWERS = "support_close_ai_answers"
TICKET_ASSIGNED = "support_ticket_assigned"
AUTO_ASSIGN = "support_auto_assign"
TICKET_RESOLVED = "support_ticket_resolved"
ESCALATE_STALE_TICKETS = "support_escalate_stale_tickets"
DAILY_SUMMARY = "support_daily_summary"
SLA_WATCH = "support_sla_watch"
FEEDBACK_RECEIVED = "support_feedback_received"
ANALYTICS_LOAD = "support_analytics_load"
BACKEND_EVENTS = "support_backend_events"
ERROR_LOG = "support_error_log"


@dataclass(frozen=True)
class DagEntry:
    dag_id: str
    flow: str  # the seed's flow and what this DAG does of it, as the README's table says it
    kind: Literal["event", "scheduled", "continuous"]
    starts: str  # what starts a run
    returns: str  # what its outputs hold
    flow_tags: tuple[str, ...]  # flow-N tags, so the UI can filter by flow
    extra_tags: tuple[str, ...] = ()
    params: Callable[[], dict[str, Any]] | None = None  # the REST payload; None: takes no conf
    powerapps_action: tuple[str, str] | None = None  # (operationId, summary) in the connector
    powerapps: bool = field(default=False)  # may the PowerApps role trigger it and read its runs

    @property
    def tags(self) -> list[str]:
        return ["support", *self.flow_tags, self.kind, *self.extra_tags]


DAGS: dict[str, DagEntry] = {
    entry.dag_id: entry
    for entry in (
        DagEntry(TICKET_CREATED, "1 New ticket", "event", "REST (PowerApps), backend events", "`ticket_id`, `status`",
                 ("flow-1",), params=params.ticket_created,
                 powerapps_action=("CreateTicket", "Create a support ticket (Flow 1)"), powerapps=True),
        DagEntry(CUSTOMER_REPLIED, "1, 3 A customer's reply: to an agent, reopened, or a new linked ticket", "event", "backend events",
                 "`status`, `outcome`", ("flow-1",), ("backend-event",), params=params.customer_replied),
        DagEntry(CLOSE_AI_ANSWERS, "1 AI answers without a reply for 72 h: resolved as answered by AI", "scheduled",
                 "hourly", "tickets closed and loaded", ("flow-1",)),
        DagEntry(TICKET_ASSIGNED, "2 Assignment", "event", "REST", "`assignment_status`, `agent_notification_status`",
                 ("flow-2",), params=params.ticket_assigned,
                 powerapps_action=("AssignTicket", "Assign a ticket to an agent (Flow 2)"), powerapps=True),
        DagEntry(AUTO_ASSIGN, "2 Assignment by workload", "scheduled", "every 15 minutes", "assignments made",
                 ("flow-2",)),
        DagEntry(TICKET_RESOLVED, "3 Resolution", "event", "REST", "`resolution_status`, `customer_notification_status`",
                 ("flow-3",), params=params.ticket_resolved,
                 powerapps_action=("ResolveTicket", "Resolve a ticket (Flow 3)"), powerapps=True),
        DagEntry(ESCALATE_STALE_TICKETS, "4 Escalation", "scheduled", "daily", "escalated tickets, notification statuses",
                 ("flow-4",)),
        DagEntry(SLA_WATCH, "4 Escalation, on time: each SLA warning and breach within 15 minutes", "scheduled",
                 "every 15 minutes", "escalated tickets, notification statuses", ("flow-4",)),
        DagEntry(DAILY_SUMMARY, "5 Daily summary", "scheduled", "daily, end of the support day", "the report",
                 ("flow-5",), params=params.daily_summary),
        DagEntry(FEEDBACK_RECEIVED, "6 Feedback", "event", "REST, backend events", "`feedback_id`, `followup_task_id`",
                 ("flow-6",), params=params.feedback_received,
                 powerapps_action=("SubmitFeedback", "Submit a customer's feedback (Flow 6)"), powerapps=True),
        DagEntry(ANALYTICS_LOAD, "reporting; 5: the day closed", "scheduled", "nightly", "rows loaded since the last load",
                 ("flow-3", "flow-6"), ("analytics",), params=params.analytics_load),
        DagEntry(BACKEND_EVENTS, "1 and 6 from other channels, customers' replies, survey answers", "continuous",
                 "continuously", "flow runs started", ("flow-1", "flow-6"), ("watcher",)),
        DagEntry(ERROR_LOG, "all: alerts Graph held back, the `flow_errors` Asset, kept requests purged", "scheduled", "every 10 minutes",
                 "alerts sent, errors published, kept requests purged", ("flow-all",), ("operations",)),
    )
}  # fmt: skip


def entry(dag_id: str) -> DagEntry:
    return DAGS[dag_id]


def dag_params(dag_id: str) -> dict[str, Any]:
    """The DAG's Params, fresh (Param objects are not shared between DAGs)."""
    factory = DAGS[dag_id].params
    return factory() if factory else {}


# --- the REST guard: the conf keys a DAG accepts are its Params' names --------------------------------


def allowed_conf_keys(dag_id: str) -> frozenset[str] | None:
    """The conf keys ``dag_id`` accepts, or None for a DAG this package does not guard."""
    dag = DAGS.get(dag_id)
    return frozenset(dag.params()) if dag and dag.params else None


def unknown_conf_keys(dag_id: str, conf: dict | None) -> list[str]:
    allowed = allowed_conf_keys(dag_id)
    if allowed is None or not conf:
        return []
    return sorted(set(conf) - allowed)


def _schemas(dag_id: str) -> dict[str, dict]:
    dag = DAGS.get(dag_id)
    return {name: param.schema for name, param in dag.params().items()} if dag and dag.params else {}


def missing_required(dag_id: str, conf: dict | None) -> list[str]:
    """Fields required unless another is given (``params.REQUIRED_UNLESS``) that ``conf`` lacks."""
    from support_flows.core.params import REQUIRED_UNLESS

    conf = conf or {}
    return [
        name
        for name, schema in _schemas(dag_id).items()
        if REQUIRED_UNLESS in schema and conf.get(schema[REQUIRED_UNLESS]) is None and conf.get(name) is None
    ]


def watcher_only(dag_id: str) -> list[str]:
    """Fields only the event watcher sets (``params.WATCHER_ONLY``): the REST API refuses them."""
    from support_flows.core.params import WATCHER_ONLY

    return [name for name, schema in _schemas(dag_id).items() if schema.get(WATCHER_ONLY)]


def personal_fields(dag_id: str) -> list[str]:
    """Fields that hold a customer's own words or address (``params.PERSONAL``): never kept in
    Airflow's metadata (``support_flows.storage.intake``)."""
    from support_flows.core.params import PERSONAL

    return [name for name, schema in _schemas(dag_id).items() if schema.get(PERSONAL)]


def field_problem(dag_id: str, name: str, value: Any) -> str | None:
    """What is wrong with one field's value by its Param's JSON schema (as Airflow checks a
    trigger's conf), naming the field and the rule, not repeating the value (a customer's words), or
    None."""
    import jsonschema

    schema = _schemas(dag_id)[name]
    checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    error = next(iter(checker.iter_errors(value)), None)
    if error is None:
        return None
    rule, limit = error.validator, error.validator_value
    if rule == "maxLength":
        why = f"longer than {limit} characters"
    elif rule == "minLength":
        why = f"shorter than {limit} character{'s' if limit != 1 else ''}"
    elif rule == "format":
        why = f"not a valid {limit}"
    elif rule == "pattern":
        why = "not in the expected form"
    elif rule == "type":
        why = f"must be {' or '.join(limit) if isinstance(limit, list) else limit}"
    else:
        why = f"fails its {rule} rule"
    return f"conf.{name}: {why}"


def conf_problem(dag_id: str, conf: dict | None) -> str | None:
    """What is wrong with a run's conf beyond what Airflow's Params check, naming the field."""
    unknown = unknown_conf_keys(dag_id, conf)
    if unknown:
        allowed = ", ".join(sorted(allowed_conf_keys(dag_id) or ()))
        return f"conf.{unknown[0]}: unknown field for {dag_id} (allowed: {allowed})"
    missing = missing_required(dag_id, conf)
    if missing:
        return f"conf.{missing[0]}: required for {dag_id} (a new ticket needs {', '.join(missing)})"
    return None


def check_conf(dag_id: str, conf: dict | None) -> None:
    """Fail with a message naming the field when a run's conf has an unknown field or lacks a
    required one."""
    problem = conf_problem(dag_id, conf)
    if problem:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(problem)


# --- the docs ---------------------------------------------------------------------------------------


def flows_table() -> str:
    """The README's table of flows (Markdown)."""
    rows = ["| DAG | flow | starts | returns |", "|---|---|---|---|"]
    rows += [f"| `{d.dag_id}` | {d.flow} | {d.starts} | {d.returns} |" for d in DAGS.values()]
    return "\n".join(rows) + "\n"


def _field(name: str, param: Any) -> str:
    """One conf field in words: ``name`` (type and limits, default or optional)."""
    schema = param.schema
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    kind = next((k for k in kinds if k != "null"), "string")
    if "enum" in schema:
        what = "/".join(f"`{v}`" for v in schema["enum"])
    elif schema.get("format") == "email":
        what = "e-mail"
    elif schema.get("format") == "date":
        what = "date YYYY-MM-DD"
    elif kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        what = f"int {low}-{high}" if high is not None else f"int >= {low}" if low is not None else "int"
    elif kind == "boolean":
        what = "bool"
    else:
        what = f"{schema.get('minLength', 0)}-{schema.get('maxLength')} chars"
    from airflow.sdk.definitions.param import NOTSET

    from support_flows.core.params import REQUIRED_UNLESS, WATCHER_ONLY

    value = param.value
    if schema.get(REQUIRED_UNLESS):
        tail = ", required"
    elif schema.get(WATCHER_ONLY):
        tail = ", set by the event watcher only: refused from the REST API"
    elif "null" in kinds:
        tail = ", optional"
    elif value is NOTSET:
        tail = ", required"
    else:
        tail = f", default `{str(value).lower() if isinstance(value, bool) else value}`"
    return f"`{name}` ({what}{tail})"


def conf_table() -> str:
    """docs/powerapps.md's table of the REST payloads: each PowerApps flow's conf fields."""
    rows = ["| dag_id | conf |", "|---|---|"]
    for dag in DAGS.values():
        if dag.powerapps and dag.params:
            fields = ", ".join(_field(name, param) for name, param in dag.params().items())
            rows.append(f"| `{dag.dag_id}` | {fields} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # print the README's table and docs/powerapps.md's
    print(flows_table())
    print(conf_table(), end="")
