"""Every shell block of docs/operations.md is a command an operator can paste: bash parses it, and it
holds no <placeholder> (which bash would read as a redirection from a file); what is the operator's
is a shell variable the guide sets or names first."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BLOCKS = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), re.S)


def test_the_guide_has_its_commands():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[0][:40] for b in BLOCKS])
def test_each_block_parses_and_names_no_placeholder(block):
    done = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    placeholders = [line for line in block.splitlines() if re.search(r"<[^<>\s=]+[^<>]*>", line)]
    assert not placeholders, f"a <placeholder> is a redirection in bash: {placeholders}"
