"""Generate the Power Platform custom connector (OpenAPI 2.0) from the event DAGs' Params.

    .venv/bin/python scripts/powerapps_connector.py          # writes powerapps/*.json
    .venv/bin/python scripts/powerapps_connector.py --check  # exit 1 if the files are stale

The actions' parameters are read from the parsed DAGs, so the connector cannot drift from them;
a test regenerates it and compares. Import both files in Power Apps / Power Automate under
Custom connectors > Import an OpenAPI file, then set the host to your Airflow API server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "powerapps"


def event_actions() -> dict[str, tuple[str, str, str]]:
    """dag_id -> (action id, summary, the task whose return_value holds the outputs), from the
    package's catalog of DAGs."""
    from support_flows.core.catalog import DAGS

    return {d.dag_id: (*d.powerapps_action, d.outputs_task) for d in DAGS.values() if d.powerapps_action}


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
    paths: dict = {
        # the connection's test: a cheap call the key must be good for (the PowerApps role may
        # read this DAG); a wrong key fails here, when the maker makes the connection
        "/api/v2/dags/support_ticket_created": {
            "get": {
                "operationId": "TestConnection",
                "summary": "Test the connection",
                "description": "Reads the new-ticket flow's details with the connection's key: 200 when the key works.",
                "x-ms-visibility": "internal",
                "responses": {"200": {"description": "The key works", "schema": {"type": "object"}}, **REFUSALS},
            }
        },
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}": {
            "get": {
                "operationId": "GetRunStatus",
                "summary": "Get the status of a flow run",
                "parameters": [_path("dag_id", "Flow (DAG id)", list(EVENT_ACTIONS)), _path("dag_run_id", "Run id")],
                "responses": {
                    "200": {"description": "The run", "schema": {"$ref": "#/definitions/DagRun"}},
                    **REFUSALS,
                    "404": {"description": "No such run of this flow", "schema": ERROR},
                },
            }
        },
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/return_value": {
            "get": {
                "operationId": "GetRunOutputs",
                "summary": "Get the outputs of a finished flow run",
                "description": "task_id: " + "; ".join(f"{d}: {a[2]}" for d, a in EVENT_ACTIONS.items()),
                "parameters": [
                    _path("dag_id", "Flow (DAG id)", list(EVENT_ACTIONS)),
                    _path("dag_run_id", "Run id"),
                    _path("task_id", "Last task", sorted({a[2] for a in EVENT_ACTIONS.values()})),
                    # internal, so required with a default: Power Platform sends an internal
                    # parameter only then
                    {
                        "name": "deserialize",
                        "in": "query",
                        "type": "boolean",
                        "required": True,
                        "default": True,
                        "x-ms-visibility": "internal",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The outputs",
                        "schema": {
                            "type": "object",
                            "properties": {"value": {"type": "object", "x-ms-summary": "Outputs"}},
                        },
                    },
                    **REFUSALS,
                    "404": {"description": "No such run, or it has no outputs yet", "schema": ERROR},
                },
            }
        },
    }
    from support_flows.core.params import WATCHER_ONLY

    for dag_id, (action, summary, _task) in EVENT_ACTIONS.items():
        dag = dags[dag_id]
        conf = {
            "type": "object",
            "required": required_params(dag),
            "properties": {
                name: param_schema(dag.params.get_param(name))
                for name in dag.params
                if not dag.params.get_param(name).schema.get(WATCHER_ONLY)  # the REST API refuses it
            },
        }
        paths[f"/api/v2/dags/{dag_id}/dagRuns"] = {
            "post": {
                "operationId": action,
                "summary": summary,
                "description": (dag.doc_md or "").strip().splitlines()[0].lstrip("# ").strip(),
                "parameters": [
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        # No logical_date: the run starts now. Airflow 3 wants one (null) in the body;
                        # the package's API-server guard adds it, since Power Platform would not send
                        # an optional internal field.
                        "schema": {"type": "object", "required": ["conf"], "properties": {"conf": conf}},
                    }
                ],
                "responses": {
                    "200": {"description": "The run was created", "schema": {"$ref": "#/definitions/DagRun"}},
                    "400": {"description": "A field is wrong; detail names it", "schema": ERROR},
                    **REFUSALS,
                    "409": {"description": "A run with this id exists already", "schema": ERROR},
                    "413": {"description": "The body is larger than the API takes", "schema": ERROR},
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
                "(python -m support_flows.server.api_keys create)",
            }
        },
        "security": [{"api_key": []}],
        "paths": dict(sorted(paths.items())),
        "definitions": {
            "DagRun": {
                "type": "object",
                "properties": {
                    "dag_run_id": {"type": "string", "x-ms-summary": "Run id"},
                    "dag_id": {"type": "string", "x-ms-summary": "Flow"},
                    "state": {
                        "type": "string",
                        "x-ms-summary": "State",
                        "description": "queued, running, success or failed",
                    },
                    "note": {
                        "type": "string",
                        "x-nullable": True,  # null while the run is going or when it succeeded
                        "x-ms-summary": "Reason",
                        "description": "For a run that failed on its input: a code and a message, e.g. "
                        "'unknown_ticket: ticket_id: ticket 4711 does not exist'",
                    },
                },
            }
        },
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
                        "tooltip": "sfk_...: python -m support_flows.server.api_keys create --user powerapps --name ...",
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


def _path(name: str, summary: str, enum: list[str] | None = None) -> dict:
    param = {"name": name, "in": "path", "required": True, "type": "string", "x-ms-summary": summary}
    if enum:
        param["enum"] = enum
    return param


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
