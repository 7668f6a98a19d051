"""The sample canvas app (powerapps/canvas-app/Src/*.pa.yaml) against the connector it calls:
Power Apps YAML of the documented shape, every connector call naming an action of the definition
with its required fields as arguments (in the order Power Apps takes them) and its optional fields
in the trailing record, and every field it reads from an answer one that the action declares."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "powerapps" / "canvas-app" / "Src"
CONTROL_TYPE = re.compile(r"^([A-Z][a-zA-Z0-9]*/)?[A-Z][a-zA-Z0-9]*(@\d+\.\d+\.\d+)?$")  # pa.yaml v3's pattern


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads((ROOT / "powerapps" / "apiDefinition.swagger.json").read_text())


def formulas() -> list[tuple[str, str]]:
    """(where, formula) for every property of the app and its screens' controls."""
    found = []

    def controls(children, where):
        for item in children or []:
            ((name, control),) = item.items()
            assert CONTROL_TYPE.match(control["Control"]), (name, control["Control"])
            assert set(control) <= {"Control", "Variant", "Properties", "Children", "Group"}, name
            found.extend((f"{where}/{name}.{prop}", text) for prop, text in (control.get("Properties") or {}).items())
            controls(control.get("Children"), f"{where}/{name}")

    for path in sorted(APP.glob("*.pa.yaml")):
        source = yaml.safe_load(path.read_text())
        assert set(source) <= {"App", "Screens", "ComponentDefinitions", "DataSources"}, path.name
        found.extend((f"App.{p}", text) for p, text in source.get("App", {}).get("Properties", {}).items())
        for screen, body in source.get("Screens", {}).items():
            assert set(body) <= {"Properties", "Children"}, screen
            controls(body.get("Children"), screen)
    return found


def arguments(text: str, start: int) -> list[str]:
    """The top-level arguments of the call whose '(' is at ``start``."""
    depth, args, current = 0, [], ""
    for char in text[start:]:
        if char in "([{":
            depth += 1
            if depth == 1:
                continue
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                args.append(current.strip())
                return [a for a in args if a]
        if char == "," and depth == 1:
            args.append(current.strip())
            current = ""
        else:
            current += char
    raise AssertionError(f"unclosed call in {text!r}")


def test_every_formula_is_a_formula_and_the_app_calls_the_connector(definition):
    found = formulas()
    assert found and all(isinstance(text, str) and text.startswith("=") for _, text in found)
    assert any("SupportFlowsAirflow.CreateTicket(" in text for _, text in found)


def test_every_connector_call_matches_its_action_and_reads_what_it_answers(definition):
    prefix = re.sub(r"[^A-Za-z0-9]", "", definition["info"]["title"])  # how Power Apps names the connector
    operations = {op["operationId"]: op for item in definition["paths"].values() for op in item.values()}
    calls = 0
    for where, text in formulas():
        for call in re.finditer(rf"{prefix}\.(\w+)\(", text):
            calls += 1
            op = operations[call[1]]  # a KeyError names an action the connector does not have
            body = next(p["schema"] for p in op["parameters"] if p["in"] == "body")
            args = arguments(text, call.end() - 1)
            positional = [a for a in args if not a.startswith("{")]
            assert len(positional) == len(body["required"]), (where, call[1], positional, body["required"])
            for record in (a for a in args if a.startswith("{")):
                names = set(re.findall(r"(\w+)\s*:", record))
                optional = set(body["properties"]) - set(body["required"])
                optional |= {p["name"] for p in op["parameters"] if p["in"] != "body" and not p["required"]}
                assert names <= optional, (where, names - optional)
            answer = op["responses"]["200"]["schema"]["$ref"].split("/")[-1]
            declared = set(definition["definitions"][answer]["properties"])
            read = set(re.findall(r"varResult\.(\w+)", " ".join(t for _, t in formulas())))
            assert read <= declared, (where, read - declared)
    assert calls >= 1
