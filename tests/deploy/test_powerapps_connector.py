"""The Power Platform custom connector: valid OpenAPI 2.0, one action per event DAG whose
parameters are the DAG's Params, and never out of date with the DAGs."""

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
    assert {"GetRunStatus", "GetRunOutputs"} <= set(operation_ids)
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
    op = definition["paths"][f"/api/v2/dags/{dag_id}/dagRuns"]["post"]
    conf = op["parameters"][0]["schema"]["properties"]["conf"]
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
    optional = {n for n in rest_params if "default" in conf["properties"][n] or n in ("request_id", "comment")}
    assert set(conf["required"]) == set(rest_params) - optional
