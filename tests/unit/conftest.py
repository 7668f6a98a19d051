"""Reporting databases for the unit tests: SQLite in a temporary file, and a database of its own
on the test PostgreSQL server (``engine`` runs a test on both)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from support_flows.storage import migrations


@pytest.fixture
def sqlite_engine(tmp_path):
    return migrations.prepare_engine(sa.create_engine(f"sqlite:///{tmp_path / 'reporting.sqlite'}"))


@pytest.fixture
def pg_engine(postgres_url):
    """A database of its own on the test server, dropped afterwards."""
    name = f"reporting_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = sa.create_engine(sa.engine.make_url(postgres_url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
