"""Microsoft Graph v1.0's own schema, held over the mock: the part of Graph's published metadata
(CSDL, ``graph-v1.0-subset.csdl.xml``: microsoftgraph/msgraph-metadata, clean_v10_metadata,
commit f54f11b6, unchanged) that the flows touch. Every body the mock accepts is checked against
it as Graph's OData reader checks it: a property the type (or its base types) does not declare is
refused unless the type is open, each value must have its declared type (strings, booleans,
integers, ISO 8601 times, enum members, complex types, collections), ``null`` only where the
property is nullable, and ``@odata.type`` may name a type derived from the declared one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

CSDL = Path(__file__).with_name("graph-v1.0-subset.csdl.xml")
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NAMESPACE, ALIAS = "microsoft.graph", "graph"


@dataclass
class Property:
    type: str  # as written: Edm.String, graph.itemBody, Collection(graph.recipient)
    nullable: bool


@dataclass
class GraphType:
    name: str
    kind: str  # EntityType, ComplexType, EnumType
    base: str | None = None
    open: bool = False
    properties: dict[str, Property] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)
    flags: bool = False


@dataclass
class Action:
    name: str
    parameters: dict[str, Property]


class SchemaError(ValueError):
    """What Graph's reader would refuse, naming the property path."""


def _short(type_name: str) -> str:
    """``microsoft.graph.message`` / ``graph.message`` / ``#microsoft.graph.message`` -> ``message``."""
    return type_name.lstrip("#").removeprefix(f"{NAMESPACE}.").removeprefix(f"{ALIAS}.")


class GraphSchema:
    def __init__(self, path: Path = CSDL):
        root = ET.parse(path).getroot()
        schema = root if root.tag == f"{EDM}Schema" else root.find(f".//{EDM}Schema")
        self.types: dict[str, GraphType] = {}
        self.actions: dict[str, Action] = {}
        for element in schema:
            kind = element.tag.removeprefix(EDM)
            if kind in ("EntityType", "ComplexType", "EnumType"):
                graph_type = GraphType(
                    element.get("Name"),
                    kind,
                    base=_short(element.get("BaseType")) if element.get("BaseType") else None,
                    open=element.get("OpenType") == "true",
                    flags=element.get("IsFlags") == "true",
                )
                for child in element:
                    tag = child.tag.removeprefix(EDM)
                    if tag in ("Property", "NavigationProperty"):
                        graph_type.properties[child.get("Name")] = Property(
                            child.get("Type"), child.get("Nullable") != "false"
                        )
                    elif tag == "Member":
                        graph_type.members.add(child.get("Name"))
                self.types[graph_type.name] = graph_type
            elif kind == "Action":
                parameters = {
                    p.get("Name"): Property(p.get("Type"), p.get("Nullable") != "false")
                    for p in element.findall(f"{EDM}Parameter")
                    if p.get("Name") != "bindingParameter"
                }
                self.actions[element.get("Name")] = Action(element.get("Name"), parameters)

    def properties(self, type_name: str) -> dict[str, Property]:
        """A structured type's properties, its base types' included."""
        graph_type = self.types[_short(type_name)]
        inherited = self.properties(graph_type.base) if graph_type.base else {}
        return {**inherited, **graph_type.properties}

    def is_open(self, type_name: str) -> bool:
        graph_type = self.types[_short(type_name)]
        return graph_type.open or (graph_type.base is not None and self.is_open(graph_type.base))

    def derives_from(self, type_name: str, base: str) -> bool:
        name = _short(type_name)
        while name is not None:
            if name == _short(base):
                return True
            name = self.types[name].base if name in self.types else None
        return False

    def check(self, value: object, type_name: str, path: str = "") -> None:
        """Raise ``SchemaError`` naming the first thing Graph would refuse in ``value``."""
        collection = re.fullmatch(r"Collection\((.+)\)", type_name)
        if collection:
            self._check_collection(value, collection[1], path)
        elif type_name.startswith("Edm."):
            _check_primitive(value, type_name, path)
        else:
            graph_type = self.types.get(_short(type_name))
            if graph_type is None:
                raise SchemaError(f"{path}: type {type_name} is not in the schema")
            if graph_type.kind == "EnumType":
                _check_enum(value, graph_type, path)
            else:
                self._check_structured(value, graph_type, path)

    def _check_collection(self, value: object, item_type: str, path: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(f"{path or 'the body'}: a collection of {item_type} is expected")
        for n, item in enumerate(value):
            if item is None:
                raise SchemaError(f"{path}[{n}]: null in a collection of {item_type}")
            self.check(item, item_type, f"{path}[{n}]")

    def _actual_type(self, value: dict, declared_type: str, path: str) -> str:
        """The declared type, or the derived one ``@odata.type`` names."""
        declared = value.get("@odata.type")
        if declared is None:
            return declared_type
        if not isinstance(declared, str) or _short(declared) not in self.types:
            raise SchemaError(f"{path}.@odata.type: {declared!r} is not a type of the schema")
        if not self.derives_from(declared, declared_type):
            raise SchemaError(f"{path}.@odata.type: {declared} does not derive from {NAMESPACE}.{declared_type}")
        return _short(declared)

    def _check_structured(self, value: object, graph_type: GraphType, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"{path or 'the body'}: an object of type {NAMESPACE}.{graph_type.name} is expected")
        actual = self._actual_type(value, graph_type.name, path)
        properties = self.properties(actual)
        for name, item in value.items():
            if "@" in name:  # instance annotations (@odata.type, @odata.etag, ...) are not properties
                continue
            declared = properties.get(name)
            if declared is None:
                if self.is_open(actual):
                    continue
                raise SchemaError(
                    f"The property '{name}' does not exist on type '{NAMESPACE}.{actual}'. Make sure to only use"
                    " property names that are defined by the type or mark the type as open type."
                )
            where = f"{path}.{name}" if path else name
            if item is None:
                if not declared.nullable:
                    raise SchemaError(f"{where}: may not be null ({declared.type})")
                continue
            self.check(item, declared.type, where)

    def check_action(self, body: dict, action: str) -> None:
        """An action's parameters (Graph matches their names regardless of case), each checked."""
        parameters = {name.lower(): p for name, p in self.actions[action].parameters.items()}
        for name, value in body.items():
            declared = parameters.get(name.lower())
            if declared is None:
                raise SchemaError(
                    f"The parameter '{name}' in the request payload is not a valid parameter for the operation '{action}'."
                )
            if value is None and not declared.nullable:
                raise SchemaError(f"{name}: may not be null")
            if value is not None:
                self.check(value, declared.type, name)
        for name, declared in parameters.items():
            if not declared.nullable and name not in {key.lower() for key in body}:
                raise SchemaError(f"{name}: required by the operation '{action}'")


def _check_enum(value: object, graph_type: GraphType, path: str) -> None:
    members = str(value).split(",") if graph_type.flags and isinstance(value, str) else [value]
    known = {member.lower() for member in graph_type.members}  # Graph reads enum members in any case ("HTML")
    if not all(isinstance(m, str) and m.strip().lower() in known for m in members):
        raise SchemaError(
            f"{path}: {value!r} is not a member of {NAMESPACE}.{graph_type.name} ({', '.join(sorted(graph_type.members))})"
        )


def _check_primitive(value: object, type_name: str, path: str) -> None:
    ok = True
    if type_name in ("Edm.String", "Edm.Guid", "Edm.Duration", "Edm.Binary"):
        ok = isinstance(value, str)
    elif type_name == "Edm.Boolean":
        ok = isinstance(value, bool)
    elif type_name in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif type_name == "Edm.DateTimeOffset":
        ok = isinstance(value, str) and _parses(value, datetime.fromisoformat)
    elif type_name == "Edm.Date":
        ok = isinstance(value, str) and _parses(value, date.fromisoformat)
    if not ok:
        raise SchemaError(f"Cannot convert the literal {value!r} to the expected type '{type_name}' ({path}).")


def _parses(text: str, parse) -> bool:
    try:
        parse(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def graph_schema() -> GraphSchema:
    return GraphSchema()
