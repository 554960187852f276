"""The migrations build the schema the models describe, and take it down again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect

from crm_core import schema
from crm_core.db import create_engine
from crm_core.errors import InvalidInput, SchemaNotReady
from crm_core.models import Base, entity_tables
from tests.conftest import Database


@pytest.fixture
def fresh(migrated: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """An empty database of the same backend: SQLite a new file, PostgreSQL its schema reset."""
    if migrated.is_postgres:
        schema.downgrade(migrated.engine, "base")
        try:
            yield migrated
        finally:
            schema.upgrade(migrated.engine)
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('fresh') / 'fresh.db'}"
    engine = create_engine(url)
    try:
        yield Database("sqlite", url, engine)
    finally:
        engine.dispose()


def test_up_down_and_up_again(fresh: Database) -> None:
    engine = fresh.engine
    assert schema.current_revision(engine) is None
    with pytest.raises(SchemaNotReady, match="tongbu db upgrade"):
        schema.require_current(engine)

    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    schema.require_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables

    schema.downgrade(engine, "base")
    assert schema.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()


def test_the_models_and_the_migrations_agree(db: Database) -> None:
    assert schema.schema_drift(db.engine) == []


def test_every_entity_table_has_change_capture(db: Database) -> None:
    engine = db.engine
    with engine.connect() as connection:
        if db.is_postgres:
            rows = connection.exec_driver_sql(
                "SELECT event_object_table, count(DISTINCT trigger_name) "
                "FROM information_schema.triggers WHERE trigger_name LIKE 'tongbu_%%' "
                "GROUP BY event_object_table"
            )
        else:
            rows = connection.exec_driver_sql(
                "SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'tongbu_%' GROUP BY tbl_name"
            )
        counts: dict[str, int] = {str(table): int(count) for table, count in rows}
    for table in entity_tables():
        assert counts.get(table, 0) >= 4, f"{table} lacks its capture triggers"


def test_an_unknown_revision_is_a_clear_error(db: Database) -> None:
    with pytest.raises(InvalidInput, match="cannot upgrade to 'nope'"):
        schema.upgrade(db.engine, "nope")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
