"""The deploy steps the launcher runs before Airflow's processes start, in the order production
runs them (compose's airflow-init, the Helm chart's migration job): Airflow's migration, the
reporting database's, the preflight, then the users, the PowerApps role and its key. Each is the
package's own command in a process of its own; a failure stops the start with its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(what: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else f"{what}: done"


def migrate_airflow(airflow: str, env: dict[str, str]) -> None:
    _run("airflow db migrate", [airflow, "db", "migrate"], env)


def migrate_reporting(env: dict[str, str]) -> str:
    """The reporting tables, schemas and roles: a deploy step, as in production (tasks only check
    the version)."""
    return _run(
        "migrating the reporting database", [sys.executable, "-m", "support_flows.storage.migrations", "migrate"], env
    )


def preflight(env: dict[str, str]) -> str:
    """Every tenant setting, Graph, the Support API and the reporting database (support_flows.server.preflight)."""
    return _run("the preflight", [sys.executable, "-m", "support_flows.server.preflight"], env)


def bootstrap_access(env: dict[str, str], passwords: dict[str, str], api_key_file: Path) -> str:
    """The PowerApps role, the two users and the PowerApps connection's key (support_flows.server.access)."""
    return _run(
        "creating the users and roles",
        [sys.executable, "-m", "support_flows.server.access", "bootstrap", "--api-key-file", str(api_key_file)],
        {**env, "SUPPORT_ADMIN_PASSWORD": passwords["admin"], "SUPPORT_POWERAPPS_PASSWORD": passwords["powerapps"]},
    )
