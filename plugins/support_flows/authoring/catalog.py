"""The one list of the package's DAGs: each flow's contract (``core.contract.FlowContract``),
declared in its flow module beside its steps, and what is derived from them: the DAGs' Params and
tags, the REST guard's rules (``support_flows.server.api_guard``), the PowerApps connector
(``scripts/powerapps_connector.py``), the outcome checks and the docs' tables
(``python -m support_flows.authoring.catalog``, checked by tests).

A new DAG is its file in ``dags/``, its steps and contract in a flow module, and its contract in
the list below (tests fail while the file and the list disagree).
"""

from __future__ import annotations

import functools
from typing import Any

from support_flows.core import outcomes
from support_flows.core.contract import FlowContract
from support_flows.flows.ai_answers import CLOSE_AI_ANSWERS
from support_flows.flows.analytics import ANALYTICS_LOAD
from support_flows.flows.assignment import AUTO_ASSIGN, TICKET_ASSIGNED
from support_flows.flows.daily_summary import DAILY_SUMMARY
from support_flows.flows.escalation import ESCALATE_STALE_TICKETS, SLA_WATCH
from support_flows.flows.feedback import FEEDBACK_RECEIVED
from support_flows.flows.lifecycle import TICKET_LIFECYCLE
from support_flows.flows.replies import CUSTOMER_REPLIED
from support_flows.flows.resolution import TICKET_RESOLVED
from support_flows.flows.tickets import TICKET_CREATED
from support_flows.operations.alerts import ERROR_LOG
from support_flows.operations.events import BACKEND_EVENTS

# in the README's order
DAGS: dict[str, FlowContract] = {
    contract.dag_id: contract
    for contract in (
        TICKET_CREATED,
        CUSTOMER_REPLIED,
        CLOSE_AI_ANSWERS,
        TICKET_ASSIGNED,
        AUTO_ASSIGN,
        TICKET_RESOLVED,
        TICKET_LIFECYCLE,
        ESCALATE_STALE_TICKETS,
        SLA_WATCH,
        DAILY_SUMMARY,
        FEEDBACK_RECEIVED,
        ANALYTICS_LOAD,
        BACKEND_EVENTS,
        ERROR_LOG,
    )
}


# --- the REST guard: the conf keys a DAG accepts are its Params' names --------------------------------


def allowed_conf_keys(dag_id: str) -> frozenset[str] | None:
    """The conf keys ``dag_id`` accepts, or None for a DAG this package does not guard."""
    dag = DAGS.get(dag_id)
    return frozenset(_schemas(dag_id)) if dag and dag.params else None


def unknown_conf_keys(dag_id: str, conf: dict | None) -> list[str]:
    allowed = allowed_conf_keys(dag_id)
    if allowed is None or not conf:
        return []
    return sorted(set(conf) - allowed)


@functools.cache
def _schemas(dag_id: str) -> dict[str, dict]:
    """Each conf field's JSON schema, built once per DAG (the REST guard asks on every trigger; not
    to be changed by callers)."""
    dag = DAGS.get(dag_id)
    return {name: param.schema for name, param in dag.fresh_params().items()} if dag else {}


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
            fields = ", ".join(_field(name, param) for name, param in dag.fresh_params().items())
            rows.append(f"| `{dag.dag_id}` | {fields} |")
    return "\n".join(rows) + "\n"


# --- what the PowerApps flows answer (their contracts' ``outcome``) ------------------------------------


def check_outcome(dag_id: str, outcome: dict) -> None:
    """Raise AssertionError naming every difference from the declared outcome (for the tests)."""
    found = outcomes.problems(DAGS[dag_id].outcome, outcome)
    assert not found, f"{dag_id} outcome differs from its contract's: {found}"


def outcome_table() -> str:
    """docs/powerapps.md's table of what each action answers (Markdown)."""
    rows = ["| action | flow (`dag_id`) | outcome fields, besides `run_id`, `state`, `reason_code`, `reason_message` |"]
    rows.append("|---|---|---|")
    for dag in DAGS.values():
        if not dag.outcome:
            continue
        described = "; ".join(
            f"`{name}` ({spec['type']}{', or null' if spec.get('x-nullable') else ''}): {spec['description']}"
            for name, spec in dag.outcome.items()
        )
        rows.append(f"| `{dag.powerapps_action[0]}` | `{dag.dag_id}` | {described} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # print the README's table and docs/powerapps.md's two
    print(flows_table())
    print(conf_table())
    print(outcome_table(), end="")
