"""The package's layout is its map: each subpackage of ``support_flows`` is a layer, a module
imports only from its own layer or the layers below it, and the README's folder map lists every
module where it lives (so a newcomer finds the room for a change from the folder names alone)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins" / "support_flows"
# bottom to top: a layer may import from the layers before it (clients and storage know nothing of
# each other or of anything above them)
LAYERS = {"clients": 0, "storage": 0, "core": 1, "flows": 2, "operations": 3, "authoring": 4, "server": 5}


def modules() -> dict[str, list[Path]]:
    return {layer: sorted(p for p in (PACKAGE / layer).glob("*.py") if p.name != "__init__.py") for layer in LAYERS}


def imported_layers(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "support_flows" and len(parts) > 1 and parts[1] in LAYERS:
                found.add(parts[1])
    return found


def test_every_module_lives_in_a_layer():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside the layers: {loose}; put each in the subpackage it belongs to"
    assert set(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == set(LAYERS)


def test_imports_only_go_down():
    wrong = []
    for layer, paths in modules().items():
        for path in paths:
            for target in imported_layers(path):
                if target != layer and LAYERS[target] >= LAYERS[layer]:
                    wrong.append(f"{layer}/{path.name} imports support_flows.{target}")
    assert wrong == [], wrong


def test_the_readme_folder_map_names_every_module_in_its_package():
    readme = (ROOT / "README.md").read_text()
    tree = readme[readme.index("\n  support_flows/") :]
    tree = tree[: tree.index("```")]
    sections = {m[1]: m.start() for m in re.finditer(r"^    (\w+)/", tree, re.M)}
    assert set(sections) == set(LAYERS), sorted(sections)
    bounds = sorted(sections.values()) + [len(tree)]
    for layer, paths in modules().items():
        start = sections[layer]
        text = tree[start : bounds[bounds.index(start) + 1]]
        missing = [p.name for p in paths if not re.search(rf"\b{re.escape(p.name)}\b", text)]
        assert missing == [], f"README's folder map lacks {missing} under {layer}/"


def test_each_package_docstring_names_its_modules():
    import importlib

    for layer, paths in modules().items():
        doc = importlib.import_module(f"support_flows.{layer}").__doc__ or ""
        missing = [p.stem for p in paths if f"``{p.stem}``" not in doc]
        assert missing == [], f"support_flows.{layer}'s docstring lacks {missing}"


def test_the_readme_and_the_docs_name_nothing_outside_the_repository():
    """A clone has only the repository: a path that leaves it (``../``) is a path a reader cannot follow."""
    leaving = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"(^|[\s`(])\.\./", line)
    ]
    assert leaving == [], leaving
