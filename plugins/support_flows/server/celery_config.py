"""The Celery workers' configuration: Airflow's default, unchanged, plus the preloading of our task
modules before the worker forks its pool (``support_flows.server.preload``). Selected with
``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=support_flows.server.celery_config.CELERY_CONFIG``."""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from support_flows.server import preload

preload.task_modules()

CELERY_CONFIG = DEFAULT_CELERY_CONFIG
