"""Every command in README.md and docs/*.md, checked against the code: a command of ours is run with
`--help` (its options must be ones it takes, its subcommand one it has), a path it names must exist.
The commands that run the stack or need a cluster are run for real elsewhere: the README's trigger
by tests/e2e/test_readme_commands.py, `dev.py run` by tests/e2e/test_run_command.py, `dev.py test`
by CI itself. Outside tools (docker, kubectl, helm, az, pac, curl) cannot run here: their
commands are held to the files they name, and compose and the Helm values are checked against
their official schemas in tests/deploy/."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Outside tools, and why they are not run here.
OUTSIDE = {
    "docker": "no Docker daemon on this machine; the image and compose file: tests/deploy",
    "kubectl": "no Kubernetes here; the Helm values: tests/deploy/test_helm_values.py",
    "helm": "no Kubernetes here; the Helm values: tests/deploy/test_helm_values.py",
    "az": "needs an Azure subscription",
    "pac": "Power Platform's CLI needs a tenant; the connector: tests/deploy/test_powerapps_connector.py",
    "curl": "the README's curl block runs in tests/e2e/test_readme_commands.py",
    "cp": "a shell builtin-like copy of a file that must exist (checked below)",
    "export": "sets a variable",
    "for": "shell loop",
    "done": "shell loop",
}
# Files a reader makes themselves (the command's own text says so).
USERS_OWN = {"my-values.yaml", ".env", ".local/powerapps-api-key"}


def _commands_in(path: Path) -> list[tuple[int, str]]:
    """(line, command) for every command line of a ```bash block and every inline `python ...`."""
    text = path.read_text()
    found = []
    for block in re.finditer(r"```(?:bash|sh|shell)\n(.*?)```", text, re.DOTALL):
        first_line = text[: block.start(1)].count("\n") + 1
        joined, start = "", None
        for offset, raw in enumerate(block[1].splitlines()):
            line = raw.strip()
            if start is None:
                start = first_line + offset
            joined += line[:-1] + " " if line.endswith("\\") else line
            if line.endswith("\\") or _open_quote(joined):
                joined += " "
                continue
            command = re.sub(r"\s+#.*$", "", joined).strip()
            if command and not command.startswith("#"):
                found.append((start, command))
            joined, start = "", None
    for span in re.finditer(r"`((?:python3? |\.venv/bin/python )[^`]+)`", text):
        found.append((text[: span.start()].count("\n") + 1, span[1]))
    return found


def _open_quote(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def _words(command: str) -> list[str]:
    """The command's words, past leading VAR=value assignments; `[...]` and `a|b` as in a synopsis."""
    plain = command.replace("[", " ").replace("]", " ")
    try:
        words = shlex.split(plain)
    except ValueError:
        words = plain.split()
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    return words


ALL = [(path, line, command) for path in DOCS for line, command in _commands_in(path)]


def test_the_docs_commands_were_found():
    assert len(ALL) >= 60, len(ALL)  # the premise: the blocks and spans were read
    assert any("access keys create" in c for _, _, c in ALL) and any("bench/parse_cost.py" in c for _, _, c in ALL)


@functools.cache
def _help(*argv: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
        "AIRFLOW_HOME": str(ROOT / ".local" / "doc-commands-airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [sys.executable, *argv, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert done.returncode == 0, f"{' '.join(argv)} --help failed:\n{done.stderr[-2000:]}"
    return done.stdout


def _ours(words: list[str]) -> tuple[list[str], list[str]] | None:
    """(what to run with --help, the arguments the doc gives it) for a command of ours, else None."""
    program = words[0]
    if program in ("python", "python3", ".venv/bin/python"):
        if words[1:2] == ["-m"]:
            module, rest = words[2], words[3:]
            first = rest[0] if rest and not rest[0].startswith("-") else None
            if first and "|" in first:
                return [["-m", module, sub] for sub in first.split("|")], rest[1:]
            subcommands = []  # each listed by the help above it; the last one's help has its options
            while (
                rest
                and rest[0].isidentifier()
                and re.search(r"\{[^}]*\b" + rest[0] + r"\b[^}]*\}", _help("-m", module, *subcommands))
            ):
                subcommands.append(rest.pop(0))
            return [["-m", module, *subcommands]], rest
        if words[1:2] == ["-X"]:
            return None  # Python's own option
        return [[words[1]]], words[2:]
    return None


@pytest.mark.parametrize(
    ("doc", "line", "command"),
    [(p.relative_to(ROOT).as_posix(), line, c) for p, line, c in ALL],
    ids=[f"{p.name}:{line}" for p, line, _ in ALL],
)
def test_each_command_is_one_the_code_has(doc, line, command):
    words = _words(command)
    where = f"{doc}:{line}: {command[:100]}"
    assert words, where
    if re.match(r"^[A-Z_][A-Z0-9_]*=\$\(", command):
        return  # VAR=$(...): a value for the commands after it
    program = words[0]
    if program in ("python3", "python", ".venv/bin/python") and words[1:2] == ["scripts/dev.py"]:
        usage = _help("scripts/dev.py")
        sub = words[2] if len(words) > 2 else ""
        assert f"python3 scripts/dev.py {sub}" in usage, f"{where}: dev.py has no `{sub}` in its help"
        for word in words[3:]:
            if word.startswith("tests"):
                assert (ROOT / word.split("::")[0]).exists(), f"{where}: {word} does not exist"
        return
    ours = _ours(words)
    if ours is None:
        assert program in OUTSIDE or program == "python3" or words[1:2] == ["-X"], (
            f"{where}: `{program}` is neither a command of this project nor an outside tool this test knows"
        )
    else:
        helps, given = ours
        text = "\n".join(_help(*argv) for argv in helps)
        for option in (w.split("=")[0] for w in given if w.startswith("--")):
            assert option in text, f"{where}: {option} is not an option of {' '.join(helps[0])}"
    for word in words[1:]:
        if word in USERS_OWN or "://" in word or "$" in word or word.startswith("-"):
            continue
        # a file of this repository: a known extension, or under one of its top-level folders
        looks_like_ours = re.fullmatch(r"[\w./-]+\.(ya?ml|json|example|py|md|txt)", word) or (
            "/" in word and (ROOT / word.split("/")[0]).is_dir()
        )
        if looks_like_ours:
            assert (ROOT / word.split("::")[0]).exists(), f"{where}: {word} does not exist"
