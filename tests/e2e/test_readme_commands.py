"""The README's commands, run as written against the README stack: what a reader pastes works.
Only the addresses change (the stack runs on free ports, its state in its own folder)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> str:
    """The first ```bash block under ``heading``."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL)[1]


def json_documents(text: str) -> list:
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        document, at = decoder.raw_decode(text, start)
        found.append(document)
    return found


def test_the_one_call_trigger_in_the_readme_answers_the_ticket_and_the_mock_shows_its_mail(stack):
    script = (
        readme_block("## Trigger a DAG the way PowerApps does")
        .replace("http://localhost:8080", stack.airflow_url)
        .replace("http://localhost:5000", stack.mock_url)
        .replace(".local/powerapps-api-key", str(stack.api_key_file))
        .replace("powerapps-0001", "readme-one-call")
    )
    assert "curl" in script and stack.airflow_url in script  # the block is the one the test meant
    done = subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    answer, mail = json_documents(done.stdout)[:2]  # curl -s prints each body without a newline
    assert answer["state"] == "success" and answer["status"] in ("ai_responded", "queued"), answer
    mails = mail["items"]
    assert any(f"#{answer['ticket_id']}" in m["subject"] for m in mails)
