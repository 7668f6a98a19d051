from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture
def quick_retries(monkeypatch):
    """Task retries after one second instead of 30 (the DAG files are parsed afresh for each run)."""
    from support_flows.authoring import dag_defaults

    monkeypatch.setitem(dag_defaults.DEFAULT_ARGS, "retry_delay", timedelta(seconds=1))
    monkeypatch.setitem(dag_defaults.DEFAULT_ARGS, "max_retry_delay", timedelta(seconds=2))
