"""Worker processes import our task modules before they fork task processes: the scheduler (for
the LocalExecutor's workers) through the listener, Celery workers through their config module.
Each check runs in a fresh interpreter, where nothing of ours is imported yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRELOADED = "support_flows.core.runtime"


def fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("argv", "executor", "component", "preloads"),
    [
        (["airflow", "scheduler"], "LocalExecutor", "job", True),
        (["airflow", "scheduler"], "CeleryExecutor", "job", False),  # its workers are not its children
        (["airflow", "scheduler"], "LocalExecutor", "task", False),  # a task process forked from it
        (["airflow", "dag-processor"], "LocalExecutor", "job", False),
        (["airflow", "api-server"], "LocalExecutor", "job", False),
    ],
)
def test_the_scheduler_of_the_local_executor_preloads_the_task_modules(argv, executor, component, preloads):
    make = {"job": "object.__new__(Job)", "task": "TaskRunnerMarker()"}[component]
    code = (
        f"import sys; sys.argv = {argv!r}\n"
        "from airflow.jobs.job import Job\n"
        "from airflow.sdk.execution_time.task_runner import TaskRunnerMarker\n"
        "from support_flows.server import listener\n"
        f"assert {PRELOADED!r} not in sys.modules\n"
        f"listener.on_starting(component={make})\n"
        f"print({PRELOADED!r} in sys.modules)"
    )
    out = fresh_python(code, AIRFLOW__CORE__EXECUTOR=executor)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(preloads)


def test_the_celery_config_is_airflows_default_and_preloads_the_task_modules():
    code = (
        "import sys\n"
        "from support_flows.server.celery_config import CELERY_CONFIG\n"
        "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG\n"
        f"print(CELERY_CONFIG is DEFAULT_CELERY_CONFIG, {PRELOADED!r} in sys.modules)"
    )
    out = fresh_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True True"


def test_the_preload_compiles_every_e_mail_template_so_task_processes_do_not():
    code = (
        "from support_flows.server import preload\n"
        "from support_flows.core.notifications import environment\n"
        "assert len(environment().cache) == 0\n"
        "preload.task_modules()\n"
        "env = environment()\n"
        "print(len(env.cache), len(env.list_templates(extensions=['html'])))"
    )
    out = fresh_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    compiled, templates = out.stdout.strip().splitlines()[-1].split()
    assert int(templates) >= 10 and compiled == templates
