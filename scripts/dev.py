#!/usr/bin/env python3
"""The project's entry point on a fresh machine that has only Python 3.11+.

    python3 scripts/dev.py run    # virtualenv, install, mock backend + Airflow, demo data; Ctrl-C stops
    python3 scripts/dev.py test   # virtualenv, install, the whole test suite on every core (extra args go to pytest)
    python3 scripts/dev.py test --quick   # the unit, DAG and mock tests only, on every core
    python3 scripts/dev.py test --fuzz    # the generated-request tests only, with their full budget
    python3 scripts/dev.py lock   # re-resolve requirements-dev.txt and rewrite constraints.txt

Standard library only: this file runs before anything is installed. It creates ``.venv`` (or
$SUPPORT_VENV), installs ``requirements-dev.txt`` (the runtime's ``requirements.txt``, tests and
tools) pinned by ``constraints.txt`` with uv (fast, and the same versions on every machine), then
hands over to the launcher (``support_flows_dev.devstack``, from ``scripts/devstack.py``) or pytest
inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-dev.txt"  # includes requirements.txt (the runtime)
RUNTIME_REQUIREMENTS = ROOT / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
UV_VERSION = "0.13.9"
# Part of the install stamp: bump it when the install command changes, so old virtualenvs redo it.
# v2: the install also precompiles bytecode. v3: the project itself, editable (pyproject.toml).
# v4: three projects (the package, the mock, the dev tools) and the plugin's entry point.
INSTALL_FLAGS_VERSION = b"v4"
# The package (root), the mock backend and the dev tools: each its own project, all editable here.
PROJECTS = (ROOT, ROOT / "mock_backend", ROOT / "scripts")
# `test --quick`: what a change to one flow needs first (no Airflow processes, no stack), on every core
QUICK_TESTS = ("tests/unit", "tests/dags", "tests/mock")
FUZZ_VARIABLE = "SUPPORT_FUZZ"  # "full": the generated-request tests take their whole budget
PYPROJECTS = tuple(project / "pyproject.toml" for project in PROJECTS)
# The Python and platform of the production image (Dockerfile: apache/airflow:3.3.2-python3.11 on
# linux/amd64): `lock` resolves for them, whatever machine runs it.
IMAGE_PYTHON = "3.11"
IMAGE_PLATFORM = "x86_64-manylinux_2_28"


def venv_dir() -> Path:
    return Path(os.environ.get("SUPPORT_VENV", ROOT / ".venv"))


def python_in(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def site_packages(env: Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run([str(python_in(env)), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def ensure_uv(env: Path) -> list[str]:
    py = python_in(env)
    probe = subprocess.run([str(py), "-m", "uv", "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], check=True)
    return [str(py), "-m", "uv"]


def ensure_venv() -> Path:
    """Create the virtualenv and install the locked dependencies, unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 the machine has
        sys.exit(f"support-flows needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    env = venv_dir()
    if not python_in(env).exists():
        print(f"==> creating virtualenv {env}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
    stamp = env / ".support-flows-installed"
    digest = hashlib.sha256(
        REQUIREMENTS.read_bytes()
        + RUNTIME_REQUIREMENTS.read_bytes()
        + CONSTRAINTS.read_bytes()
        + b"".join(path.read_bytes() for path in PYPROJECTS)
        + INSTALL_FLAGS_VERSION
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return env
    print("==> installing requirements (pinned by constraints.txt)", flush=True)
    uv = ensure_uv(env)
    subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python_in(env)),
            "-r",
            str(REQUIREMENTS),
            "-c",
            str(CONSTRAINTS),
        ],
        check=True,
    )
    # the projects themselves, editable: their packages import from the checkout (no sys.path
    # edits), and Airflow finds the plugin through the package's entry point
    editable = [arg for project in PROJECTS for arg in ("-e", str(project))]
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(python_in(env)), "--no-deps", *editable],
        check=True,
    )
    # Precompiled bytecode: on machines that set PYTHONDONTWRITEBYTECODE (ours do), every Airflow
    # process and every DAG parse would otherwise compile Airflow's modules from source again.
    subprocess.run(
        [str(python_in(env)), "-m", "compileall", "-q", "-j", "0", str(site_packages(env))],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(digest)
    return env


def lock() -> int:
    """Resolve requirements-dev.txt (with the runtime's requirements.txt) afresh for the image's
    Python and platform (IMAGE_PYTHON, IMAGE_PLATFORM) and write every version to constraints.txt.

    Resolving for a named target, not for whatever interpreter runs this, keeps the lock valid for
    the image the Dockerfile builds (a lock frozen on another Python can pin wheels that image has
    not got)."""
    with tempfile.TemporaryDirectory() as scratch:
        env = Path(scratch) / "venv"
        venv.EnvBuilder(with_pip=True).create(env)
        uv = ensure_uv(env)
        resolved = subprocess.run(
            [
                *uv,
                "pip",
                "compile",
                "--quiet",
                "--no-header",
                "--no-annotate",
                "--python-version",
                IMAGE_PYTHON,
                "--python-platform",
                IMAGE_PLATFORM,
                str(REQUIREMENTS),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
    lines = [ln.strip() for ln in resolved.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    lines = [ln for ln in lines if not ln.lower().startswith(("uv==", "pip==", "setuptools=="))]
    CONSTRAINTS.write_text(
        "# Every package version of the resolved install, written by `python3 scripts/dev.py lock`\n"
        f"# for Python {IMAGE_PYTHON} on {IMAGE_PLATFORM} (the image's; scripts/dev.py says why).\n"
        "# Both README commands and the Dockerfile install with `-c constraints.txt`.\n"
        + "\n".join(sorted(lines, key=str.lower))
        + "\n"
    )
    print(f"wrote {CONSTRAINTS} ({len(lines)} packages, Python {IMAGE_PYTHON}, {IMAGE_PLATFORM})")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in {"run", "test", "lock"}:
        print(__doc__)
        print(f"unknown command {argv[0]!r}: run, test or lock" if argv else "say what to do: run, test or lock")
        return 2
    command, rest = argv[0], argv[1:]
    if command == "lock":
        return lock()
    env = ensure_venv()
    py = str(python_in(env))
    if command == "run":
        launcher = ["-m", "support_flows_dev.devstack", "run"]
    elif rest[:1] == ["--quick"]:
        rest = rest[1:]
        launcher = ["-m", "pytest", "-n", "auto", *QUICK_TESTS]
    elif rest[:1] == ["--fuzz"]:
        # schemathesis with its full budget (tests/helpers.py fuzz_budget); every other run has a short one
        rest = rest[1:]
        os.environ[FUZZ_VARIABLE] = "full"
        launcher = ["-m", "pytest", "-n", "auto", "--dist", "loadgroup", "-m", "fuzz"]
    else:
        # every core; the end-to-end tests are one unit of work on one worker (tests/conftest.py's scheduler)
        launcher = ["-m", "pytest", "-n", "auto", "--dist", "loadgroup"]
    args = [py, *launcher, *rest]
    # Replace this process, so Ctrl-C and SIGTERM reach the stack or pytest directly.
    os.chdir(ROOT)
    os.execv(py, args)
    return 0  # not reached


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
