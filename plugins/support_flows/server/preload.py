"""Import the modules our tasks use once, in a worker's parent process, so that every task process
it forks starts with them: the Graph hook with Kiota, the HTTP hook with aiohttp, SQLAlchemy and
the PostgreSQL driver, each imported once instead of in every task (docs/performance.md).

Used by the Celery workers (``support_flows.server.celery_config``) and, on the README's stack, by the
scheduler, whose LocalExecutor workers fork from it. Only imports and the e-mail templates
compiled: no client, connection or thread is created before the fork. A change to ``plugins/``
needs a worker restart, as plugins always do.
"""

from __future__ import annotations

import importlib

TASK_MODULES = (
    "support_flows.core.runtime",
    "support_flows.flows.tickets",
    "support_flows.flows.ai_answers",
    "support_flows.flows.assignment",
    "support_flows.flows.feedback",
    "support_flows.flows.escalation",
    "support_flows.flows.daily_summary",
    "support_flows.flows.analytics",
    "support_flows.operations.events",
    # what a task process imports to parse its DAG file (the @dag/@task decorators and the
    # standard provider's PythonOperator behind @task) and on its first call (Jinja's extensions as
    # the template fields render; anyio's asyncio backend and azure-core's aiohttp transport as
    # the Graph client gets its token and sends); docs/performance.md has what each saves
    "airflow.sdk.definitions.decorators",
    "airflow.providers.standard.decorators.python",
    "jinja2.ext",
    "anyio._backends._asyncio",
    "azure.core.pipeline.transport._aiohttp",
    "azure.core.rest._aiohttp",
    # the reporting database's driver and dialect (PostgreSQL): the first connection of a task
    # process would otherwise import them
    "airflow.providers.postgres.hooks.postgres",
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
)


def task_modules() -> None:
    for name in TASK_MODULES:
        importlib.import_module(name)
    # and the e-mail templates, compiled (Jinja would compile them again in every task process)
    from support_flows.core.notifications import compile_templates

    compile_templates()
