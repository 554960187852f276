"""Alembic environment: runs migrations on the connection Tongbu hands over, or on the
database named by ``TONGBU_DATABASE_URL`` when Alembic is run directly."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from crm_core.db import create_engine
from crm_core.models import Base
from crm_core.schema import include_name, object_filter

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        include_object=object_filter(connection.dialect.name),
        compare_type=True,
        compare_server_default=True,
    )


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine()
    with engine.connect() as owned:
        _configure(owned)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Tongbu's migrations run online only: they inspect the live schema.")
run_migrations_online()
