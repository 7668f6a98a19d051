"""docs/mock.md against the mock itself: its endpoint list is generated from the routes, and every
endpoint its prose names is one the mock serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mock_backend import create_app
from mock_backend.endpoints import BEGIN, END, render, routes

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "mock.md"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(str(tmp_path_factory.mktemp("mock-docs") / "mock.sqlite"))


def test_the_endpoint_list_is_the_mocks_routes_each_with_what_it_does(app):
    text = DOC.read_text()
    written = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert written == render(app), (
        "docs/mock.md's endpoint list differs from the mock's routes: "
        "run `.venv/bin/python -m mock_backend.endpoints --write docs/mock.md`"
    )
    blank = [f"{method} {path}" for method, path, _, what in routes(app) if not what]
    assert not blank, f"give these handlers a docstring (or an openapi summary): {blank}"


def _as_pattern(path: str) -> re.Pattern:
    """A path as the prose writes it: ``{anything}`` is one segment, ``[...]`` is optional, a
    query is dropped, and a Graph path may leave out ``/graph/v1.0``."""
    path = path.split("?")[0]
    out = ""
    for part in re.split(r"(\{[^}]*\}|\[|\])", path):
        out += {"[": "(?:", "]": ")?"}.get(part) or ("[^/]+" if part.startswith("{") else re.escape(part))
    return re.compile(rf"(?:/graph/v1\.0)?{out}")


def test_every_endpoint_the_prose_names_is_served(app):
    prose = DOC.read_text().split(BEGIN)[0]
    served = [(method, re.sub(r"\{[^}]*\}", "{x}", path)) for method, path, _, _ in routes(app)]
    named = re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE)(?:`, `(?:GET|POST|PUT|PATCH|DELETE))*) (/[^`]*)`", prose)
    assert len(named) >= 30, named  # the premise: the prose was read
    missing = []
    for methods, path in named:
        pattern = _as_pattern(path)
        for method in re.findall(r"GET|POST|PUT|PATCH|DELETE", methods):
            if not any(m == method and pattern.fullmatch(p) for m, p in served):
                missing.append(f"{method} {path}")
    assert not missing, f"docs/mock.md names endpoints the mock does not serve: {missing}"
