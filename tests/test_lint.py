"""The code passes ruff, including its AIR rules for Airflow and a complexity limit (C901, 10), and
is formatted by ``ruff format`` (configuration in ruff.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")


def test_ruff_finds_nothing():
    result = subprocess.run(
        [str(RUFF), "check", "--output-format", "concise", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = subprocess.run([str(RUFF), "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, f"run `ruff format` (from the venv):\n{result.stdout}{result.stderr}"
