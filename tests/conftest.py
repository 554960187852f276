"""Fixtures: a fresh SQLite file and a fresh PostgreSQL database per test session.

Database tests run on both backends through the ``db`` fixture. The PostgreSQL server is the real
one at 127.0.0.1:5432 (``TONGBU_TEST_PG_ADMIN_URL`` names another); each session creates its own
database there, migrates it, and drops it at the end. Between tests every table is emptied.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from crm_core import schema
from crm_core.db import create_engine
from crm_core.models import Base

# The command's tables are as wide as the terminal says (COLUMNS), 200 characters when piped:
# the tests read the piped form, whatever terminal (or pytest-xdist worker) started them.
for _variable in ("COLUMNS", "LINES"):
    os.environ.pop(_variable, None)

PG_ADMIN_URL = os.environ.get(
    "TONGBU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Database:
    """A migrated test database."""

    backend: str
    url: str
    engine: Engine

    @property
    def is_postgres(self) -> bool:
        """Whether this is the PostgreSQL database."""
        return self.backend == "postgresql"


def _admin_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test session."""
    name = f"tongbu_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _admin_url_for(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A new SQLite file for this test session."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "tongbu.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest) -> Iterator[Database]:
    """Each backend's session database, migrated to the newest schema."""
    backend: str = request.param
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = create_engine(url)
    schema.upgrade(engine)
    try:
        yield Database(backend, url, engine)
    finally:
        engine.dispose()


@pytest.fixture
def db(migrated: Database) -> Iterator[Database]:
    """A migrated, empty database (run on SQLite and on PostgreSQL)."""
    yield migrated
    _empty(migrated.engine)


def _empty(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA defer_foreign_keys = ON"))
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    """The migrated, empty PostgreSQL database, for behaviour only PostgreSQL has."""
    engine = create_engine(postgres_url)
    schema.upgrade(engine)
    try:
        yield Database("postgresql", postgres_url, engine)
        _empty(engine)
    finally:
        engine.dispose()
