"""The Power Platform custom connector: valid OpenAPI 2.0, one action per event DAG on the one-call
API whose parameters are the DAG's Params and whose answer is the flow's typed outcome, and never
out of date with the DAGs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support_flows_dev import powerapps_connector

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads((ROOT / "powerapps" / "apiDefinition.swagger.json").read_text())


def test_committed_connector_is_what_the_dags_generate(dagbag):
    dags = {dag_id: dagbag.dags[dag_id] for dag_id in powerapps_connector.EVENT_ACTIONS}
    for name, text in powerapps_connector.render(dags).items():
        assert (ROOT / "powerapps" / name).read_text() == text, f"{name} is stale: run scripts/powerapps_connector.py"


def test_is_well_formed_openapi_2(definition):
    assert definition["swagger"] == "2.0" and definition["info"]["title"] and definition["schemes"] == ["https"]
    operation_ids = []
    for path, item in definition["paths"].items():
        for method, op in item.items():
            assert method in ("get", "post", "put", "patch", "delete")
            operation_ids.append(op["operationId"])
            assert op["responses"], (path, method)
            names = {p["name"] for p in op.get("parameters", [])}
            assert set(re.findall(r"{(\w+)}", path)) <= names, path
            for param in op.get("parameters", []):
                assert param["in"] in ("path", "query", "header", "body")
                assert ("schema" in param) == (param["in"] == "body"), (path, param["name"])
    assert len(operation_ids) == len(set(operation_ids))
    actions = [action for action, _summary in powerapps_connector.EVENT_ACTIONS.values()]
    # one action per flow (and, for a 202, its outcome), nothing of Airflow's three-step REST API
    assert sorted(operation_ids) == sorted(["TestConnection", *actions, *(f"{a}Outcome" for a in actions)])
    assert all(path.startswith("/support/v1/flows") for path in definition["paths"])
    # the connection holds a long-lived integration key, sent as a header on every call
    assert definition["security"] == [{"api_key": []}]
    assert {k: v for k, v in definition["securityDefinitions"]["api_key"].items() if k != "description"} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }
    properties = json.loads((ROOT / "powerapps" / "apiProperties.json").read_text())
    assert properties["properties"]["connectionParameters"]["api_key"]["type"] == "securestring"
    # no secret in the definition: no example, default or description carries a key or password
    text = json.dumps(definition) + json.dumps(properties)
    assert not re.search(r"sfk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", text) and "password" not in text.lower()


def test_internal_parameters_are_required_with_a_default(definition):
    """Power Platform sends an internal parameter only when it is required and has a default:
    any other internal parameter would silently never reach Airflow."""

    def walk(schema, required):
        for name, prop in (schema.get("properties") or {}).items():
            if prop.get("x-ms-visibility") == "internal":
                assert name in required and "default" in prop, name
            walk(prop, prop.get("required", []))

    for item in definition["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []):
                if param.get("x-ms-visibility") == "internal":
                    assert param.get("required") and "default" in param, (op["operationId"], param["name"])
                if "schema" in param:
                    walk(param["schema"], param["schema"].get("required", []))


@pytest.mark.parametrize("dag_id", list(powerapps_connector.EVENT_ACTIONS))
def test_each_action_carries_exactly_the_dags_params(definition, dagbag, dag_id):
    op = definition["paths"][f"/support/v1/flows/{dag_id}"]["post"]
    conf = op["parameters"][0]["schema"]
    dag = dagbag.dags[dag_id]
    from support_flows.core.params import WATCHER_ONLY

    rest_params = [name for name in dag.params if not dag.params.get_param(name).schema.get(WATCHER_ONLY)]
    assert list(conf["properties"]) == rest_params  # a field only the event watcher sets is not offered
    for name, prop in conf["properties"].items():
        param = dag.params.get_param(name)
        kind = param.schema["type"]
        assert prop["type"] == (kind if isinstance(kind, str) else next(t for t in kind if t != "null"))
        for key in ("enum", "minLength", "maxLength", "minimum", "maximum"):
            assert prop.get(key) == param.schema.get(key), (dag_id, name, key)
        assert prop["title"] == param.schema["title"] and prop["description"] == param.description
    optional = {
        n
        for n in rest_params
        if "default" in conf["properties"][n] or n in ("request_id", "comment", "topic", "language")
    }
    assert set(conf["required"]) == set(rest_params) - optional


SWAGGER_CLI = "@apidevtools/swagger-cli@4.0.4"


def test_swagger_cli_validates_the_definition(tmp_path):
    """The connector definition through a real tool: swagger-cli (npm) validates it against the
    Swagger 2.0 schema and resolves every $ref, as Power Platform's import would."""
    import os
    import shutil
    import subprocess

    npx = shutil.which("npx")
    if npx is None:
        if os.environ.get("CI"):
            pytest.fail("npx (Node.js) is missing: .ci/run needs it for swagger-cli")
        pytest.skip("no Node.js here: install it (apt-get install npm) to run swagger-cli")
    done = subprocess.run(
        [npx, "--yes", SWAGGER_CLI, "validate", str(ROOT / "powerapps" / "apiDefinition.swagger.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "npm_config_cache": str(Path.home() / ".cache" / "support-flows-npm")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout


def test_the_connection_names_the_airflow_url_and_the_calls_go_there(definition):
    properties = json.loads((ROOT / "powerapps" / "apiProperties.json").read_text())["properties"]
    assert properties["connectionParameters"]["airflow_url"]["type"] == "string"
    (policy,) = properties["policyTemplateInstances"]
    assert policy["templateId"] == "dynamichosturl"
    assert policy["parameters"]["x-ms-apimTemplateParameter.urlTemplate"] == "@connectionParameters('airflow_url')"
    test = definition["x-ms-capabilities"]["testConnection"]["operationId"]
    (operation,) = [op for item in definition["paths"].values() for op in item.values() if op["operationId"] == test]
    assert operation["x-ms-visibility"] == "internal" and "401" in operation["responses"]


def test_optional_fields_are_advanced_and_every_field_says_what_it_is(definition):
    for item in definition["paths"].values():
        for op in item.values():
            assert op["summary"], op["operationId"]
            for param in op.get("parameters", []):
                conf = param.get("schema", {})
                for name, prop in conf.get("properties", {}).items():
                    assert prop["x-ms-summary"] and prop["description"], (op["operationId"], name)
                    optional = name not in conf.get("required", [])
                    assert (prop.get("x-ms-visibility") == "advanced") == optional, (op["operationId"], name)
                if param["in"] != "body":
                    assert param["description"] and (param.get("x-ms-summary") or param["in"] == "path"), param
                    assert param["required"] or param["x-ms-visibility"] == "advanced", param


@pytest.mark.parametrize("dag_id", list(powerapps_connector.EVENT_ACTIONS))
def test_each_action_answers_the_flows_outcome_typed_with_nulls_declared(definition, dag_id):
    """What a maker sees in dynamic content: the run's fields and the flow's outcome fields, each
    typed, the ones that can be null marked so (Power Automate stops a flow on an undeclared null)."""
    from support_flows.authoring import catalog

    action = powerapps_connector.EVENT_ACTIONS[dag_id][0]
    for path in (f"/support/v1/flows/{dag_id}", f"/support/v1/flows/{dag_id}/runs/{{run_id}}"):
        (op,) = definition["paths"][path].values()
        for status in ("200", "202"):
            assert op["responses"][status]["schema"] == {"$ref": f"#/definitions/{action}Outcome"}
        assert set(op["responses"]["202"]["headers"]) == {"Location", "Retry-After"}
        assert {"400", "401", "403", "404", "429"} <= set(op["responses"])
    fields = definition["definitions"][f"{action}Outcome"]["properties"]
    assert set(fields) == {"run_id", "state", "reason_code", "reason_message", *catalog.DAGS[dag_id].outcome}
    for name, prop in fields.items():
        assert prop["type"] and prop["x-ms-summary"] and prop["description"], (dag_id, name)
    assert fields["reason_code"]["x-nullable"] and fields["reason_message"]["x-nullable"]
