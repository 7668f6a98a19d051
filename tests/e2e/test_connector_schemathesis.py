"""The PowerApps connector's definition against the live API, by a real tool: the schemathesis CLI
generates requests from powerapps/apiDefinition.swagger.json (valid and invalid bodies, odd path
values, the key in its header as Power Platform sends it) and checks every answer against the
definition: no server error, every status declared, every body of the declared shape and type.
A new seed each run (printed, so a failure can be replayed with --seed)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "powerapps" / "apiDefinition.swagger.json"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


def test_every_answer_to_generated_requests_is_declared_and_of_its_declared_shape(stack, tmp_path):
    seed = int(os.environ.get("SCHEMATHESIS_SEED") or random.randrange(2**31))
    print(f"schemathesis seed: {seed} (SCHEMATHESIS_SEED={seed} replays it)")
    key = stack.api_key_file.read_text().strip()
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            str(DEFINITION),
            "--url",
            stack.airflow_url,
            "--header",
            f"X-Api-Key: {key}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "12",
            "--seed",
            str(seed),
            "--generation-database",
            "none",
            "--request-timeout",
            "60",
            "--max-failures",
            "20",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    print(done.stdout[-6000:])
    assert done.returncode == 0, f"schemathesis found answers the definition does not declare:\n{done.stdout[-6000:]}"
    assert report.exists(), "schemathesis wrote no report: it did not run"
    summary = json.loads(report.read_text())
    assert summary["complete"] and summary["operations"]["tested"] == 7, summary["operations"]
    assert summary["test_cases"]["generated"] >= 100 and summary["test_cases"]["unique_failures"] == 0
    # the premise: generated bodies reached Airflow both ways, accepted (runs made) and refused (4xx)
    for operation, rates in summary["valid_rates"].items():
        if operation.startswith("POST "):
            accepted = sum(phase["accepted"] for phase in rates.values())
            rejected = sum(phase["rejected"] for phase in rates.values())
            assert accepted and rejected, (operation, rates)
