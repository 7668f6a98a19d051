"""Generate the Power Platform custom connector (OpenAPI 2.0) from the event DAGs' Params.

    .venv/bin/python scripts/powerapps_connector.py          # writes powerapps/*.json
    .venv/bin/python scripts/powerapps_connector.py --check  # exit 1 if the files are stale

One action per flow, on the one-call API (``support_flows.server.flow_calls``): it starts the flow
and answers its outcome, typed (its flow's contract). The actions' parameters are read from the
parsed DAGs, so the connector cannot drift from them; a test regenerates it and compares.
docs/powerapps.md says how to import it (``pac connector create``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "powerapps"


def event_actions() -> dict[str, tuple[str, str]]:
    """dag_id -> (action id, summary), from the package's catalog of DAGs."""
    from support_flows.authoring.catalog import DAGS

    return {d.dag_id: d.powerapps_action for d in DAGS.values() if d.powerapps_action}


EVENT_ACTIONS = event_actions()


def param_schema(param) -> dict:
    """A Param as a Swagger 2.0 property (no null types: Power Platform does not know them)."""
    schema = {
        k: v
        for k, v in param.schema.items()
        if k in ("type", "minLength", "maxLength", "minimum", "maximum", "enum", "format", "pattern")
    }
    kind = schema.get("type")
    if isinstance(kind, list):
        schema["type"] = next(t for t in kind if t != "null")
    if schema.get("format") == "email":
        schema.pop("pattern", None)  # Power Platform shows an e-mail field; the DAG checks the pattern
    schema["title"] = param.schema.get("title", "")
    schema["description"] = param.description or ""
    schema["x-ms-summary"] = param.schema.get("title", "")
    if not _required(param):
        schema["x-ms-visibility"] = "advanced"  # under "Show advanced options" in the maker's card
    if param.value is not None and not callable(param.value):
        from airflow.sdk.definitions.param import NOTSET

        if param.value is not NOTSET:
            schema["default"] = param.value
    return schema


def required_params(dag) -> list[str]:

    return [name for name in dag.params if _required(dag.params.get_param(name))]


def _required(param) -> bool:
    """What a PowerApps caller must send: a Param without a default that is not nullable, or one
    required unless the event watcher starts the run."""
    from airflow.sdk.definitions.param import NOTSET

    from support_flows.core.params import REQUIRED_UNLESS

    kind = param.schema.get("type")
    return bool(param.schema.get(REQUIRED_UNLESS)) or (
        param.value is NOTSET and not (isinstance(kind, list) and "null" in kind)
    )


# What every flow's answer carries besides its outcome fields.
RUN_FIELDS = {
    "run_id": {"type": "string", "x-ms-summary": "Run id", "description": "The flow run, in Airflow"},
    "state": {
        "type": "string",
        "x-ms-summary": "State",
        "description": "success or failed once the run finished; queued or running in a 202 answer",
    },
    "reason_code": {
        "type": "string",
        "x-nullable": True,
        "x-ms-summary": "Failure reason",
        "description": "For a failed run: unknown_ticket, unknown_agent, not_found, wrong_state (the input's "
        "fault), or flow_failed (ours: the administrators were alerted); null otherwise",
    },
    "reason_message": {
        "type": "string",
        "x-nullable": True,
        "x-ms-summary": "Failure message",
        "description": "For a failed run: what went wrong, e.g. 'ticket_id: ticket 4711 does not exist'",
    },
}

# What any call can be answered besides its own outcome. Each carries {"detail": ...} (Airflow's
# validation errors carry a list there).
ERROR = {
    "type": "object",
    "properties": {"detail": {"x-ms-summary": "What is wrong", "description": "a sentence, or a list of problems"}},
}
REFUSALS = {
    "401": {"description": "The connection's API key is missing, unknown, expired or revoked", "schema": ERROR},
    "403": {"description": "The key's user may not do this", "schema": ERROR},
    "422": {"description": "The request does not have the shape the API expects; detail says where", "schema": ERROR},
    "429": {
        "description": "Too many calls: wait the seconds Retry-After names (Power Platform does so by itself)",
        "schema": ERROR,
        "headers": {"Retry-After": {"type": "integer", "description": "seconds to wait"}},
    },
}


def build(dags: dict) -> tuple[dict, dict]:
    from support_flows.authoring.catalog import DAGS
    from support_flows.core.params import WATCHER_ONLY
    from support_flows.server.flow_calls import DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS, URL_PREFIX

    paths: dict = {
        # the connection's test: a cheap call the key must be good for; a wrong key fails here,
        # when the maker makes the connection, not at the first flow
        f"{URL_PREFIX}/flows": {
            "get": {
                "operationId": "TestConnection",
                "summary": "Test the connection",
                "description": "Lists the flows the connection's key may start: 200 when the key works.",
                "x-ms-visibility": "internal",
                "responses": {
                    "200": {
                        "description": "The key works",
                        "schema": {
                            "type": "object",
                            "properties": {"flows": {"type": "array", "items": {"type": "string"}}},
                        },
                    },
                    **REFUSALS,
                },
            }
        },
    }
    definitions: dict = {}
    wait = {
        "name": "wait_seconds",
        "in": "query",
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_WAIT_SECONDS,
        "default": DEFAULT_WAIT_SECONDS,
        "required": False,
        "x-ms-summary": "Wait (seconds)",
        "description": f"How long to wait for the outcome (0-{MAX_WAIT_SECONDS}); a run still going after it "
        "answers 202 and where to ask again",
        "x-ms-visibility": "advanced",
    }
    for dag_id, (action, summary) in EVENT_ACTIONS.items():
        dag = dags[dag_id]
        body = {
            "type": "object",
            "required": required_params(dag),
            "properties": {
                name: param_schema(dag.params.get_param(name))
                for name in dag.params
                if not dag.params.get_param(name).schema.get(WATCHER_ONLY)  # the REST API refuses it
            },
        }
        definitions[f"{action}Outcome"] = {
            "type": "object",
            "properties": {**RUN_FIELDS, **DAGS[dag_id].outcome},
        }
        answered = {"$ref": f"#/definitions/{action}Outcome"}
        outcome_responses = {
            "200": {"description": "The run finished: its state and outcome", "schema": answered},
            "202": {
                "description": "The run is still going: ask again at Location after Retry-After seconds "
                "(Power Automate does so by itself)",
                "schema": answered,
                "headers": {
                    "Location": {"type": "string", "description": "where the outcome will be"},
                    "Retry-After": {"type": "integer", "description": "seconds to wait"},
                },
            },
        }
        paths[f"{URL_PREFIX}/flows/{dag_id}"] = {
            "post": {
                "operationId": action,
                "summary": summary,
                "description": (dag.doc_md or "").strip().splitlines()[0].lstrip("# ").strip()
                + ": starts the flow and answers its outcome in the same call",
                "parameters": [
                    {"name": "body", "in": "body", "required": True, "schema": body},
                    wait,
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "type": "string",
                        "required": False,
                        "x-ms-summary": "Idempotency key",
                        "description": "The same key again (a retried call) answers the first call's run "
                        "instead of starting another",
                        "x-ms-visibility": "advanced",
                    },
                ],
                "responses": {
                    **outcome_responses,
                    "400": {"description": "A field is wrong; detail names it", "schema": ERROR},
                    **REFUSALS,
                    "404": {"description": "No such flow", "schema": ERROR},
                    "409": {"description": "A call with this key is being started; repeat it", "schema": ERROR},
                    "413": {"description": "The body is larger than the API takes", "schema": ERROR},
                    "422": {
                        "description": "The request does not have the shape the API expects, or its "
                        "Idempotency-Key was used with a different body",
                        "schema": ERROR,
                    },
                },
            }
        }
        paths[f"{URL_PREFIX}/flows/{dag_id}/runs/{{run_id}}"] = {
            "get": {
                "operationId": f"{action}Outcome",
                "summary": f"Get the outcome of a run: {summary[0].lower()}{summary[1:]}",
                "description": "For a call answered 202: waits up to wait_seconds for the run, then answers "
                "as the first call would have",
                "x-ms-visibility": "advanced",
                "parameters": [
                    _path("run_id", "Run id", "The run_id of the 202 answer"),
                    {**wait, "description": "How long to wait"},
                ],
                "responses": {
                    **outcome_responses,
                    "400": {"description": "wait_seconds is out of range", "schema": ERROR},
                    **REFUSALS,
                    "404": {"description": "No such run of this flow started by this key's user", "schema": ERROR},
                },
            }
        }
    definition = {
        "swagger": "2.0",
        "info": {
            "title": "Support Flows (Airflow)",
            "version": "1.0",
            "description": "Start the support flows and read their outputs. The connection names your Airflow's "
            "address and an integration key. Generated from the DAGs by scripts/powerapps_connector.py.",
        },
        # a placeholder: the connection's Airflow URL replaces it (the dynamichosturl policy in
        # apiProperties.json), so one connector serves every deployment
        "host": "airflow.example.com",
        "x-ms-capabilities": {"testConnection": {"operationId": "TestConnection", "parameters": {}}},
        "basePath": "/",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "api_key": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Api-Key",
                "description": "An integration key of the PowerApps user "
                "(python -m support_flows.server.access keys create)",
            }
        },
        "security": [{"api_key": []}],
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
    }
    properties = {
        "properties": {
            "connectionParameters": {
                "airflow_url": {
                    "type": "string",
                    "uiDefinition": {
                        "displayName": "Airflow URL",
                        "description": "The https address of your Airflow, e.g. https://airflow.contoso.com",
                        "tooltip": "The address admins open the Airflow UI at ([api] base_url)",
                        "constraints": {"tabIndex": 1, "clearText": True, "required": "true"},
                    },
                },
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "API key",
                        "description": "The integration key your Airflow admin created for PowerApps",
                        "tooltip": "sfk_...: python -m support_flows.server.access keys create --user powerapps --name ...",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                },
            },
            # every call goes to the connection's Airflow URL, whatever host the definition names
            "policyTemplateInstances": [
                {
                    "templateId": "dynamichosturl",
                    "title": "Airflow URL from the connection",
                    "parameters": {"x-ms-apimTemplateParameter.urlTemplate": "@connectionParameters('airflow_url')"},
                }
            ],
            "iconBrandColor": "#1f4e79",
            "capabilities": [],
            "publisher": "support-flows",
            "stackOwner": "support-flows",
        }
    }
    return definition, properties


def _path(name: str, summary: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "type": "string",
        "x-ms-summary": summary,
        "description": description,
    }


def load_dags() -> dict:
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    return {dag_id: bag.dags[dag_id] for dag_id in EVENT_ACTIONS}


def render(dags: dict) -> dict[str, str]:
    definition, properties = build(dags)
    return {
        "apiDefinition.swagger.json": json.dumps(definition, indent=2) + "\n",
        "apiProperties.json": json.dumps(properties, indent=2) + "\n",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed files differ")
    args = parser.parse_args()
    files = render(load_dags())
    stale = [name for name, text in files.items() if not (OUT / name).exists() or (OUT / name).read_text() != text]
    if args.check:
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    OUT.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    print(f"wrote {', '.join(files)} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
