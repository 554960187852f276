"""Schema migrations: upgrade, downgrade and inspect the CRM core schema with Alembic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from crm_core.db import describe_url
from crm_core.errors import DatabaseError, InvalidInput, SchemaNotReady
from crm_core.models import Base

__all__ = [
    "current_revision",
    "downgrade",
    "head_revision",
    "include_name",
    "object_filter",
    "require_current",
    "schema_drift",
    "upgrade",
]

_MIGRATIONS = Path(__file__).parent / "migrations"

# Objects that exist on one database only and that migrations create in raw SQL.
_UNMODELLED_PREFIXES = ("tongbu_write_context", "search_fts", "sqlite_")
_UNMODELLED_INDEXES = ("ix_search_doc_tokens",)


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """Leave out of comparisons the tables and indexes the models do not describe."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(_UNMODELLED_PREFIXES)
    if type_ == "index":
        return name not in _UNMODELLED_INDEXES
    return True


def object_filter(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Leave out of comparisons the indexes the models create on another database only."""

    def include_object(
        obj: Any, _name: str | None, type_: str, _reflected: bool, _other: Any
    ) -> bool:
        if type_ == "index":
            condition = getattr(obj, "_ddl_if", None)
            if condition is not None and condition.dialect not in (None, dialect):
                return False
        return True

    return include_object


def schema_drift(engine: Engine) -> list[Any]:
    """The differences Alembic's autogenerate finds between the models and the database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": include_name,
                "include_object": object_filter(connection.dialect.name),
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, Base.metadata))


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of Tongbu knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no Tongbu schema yet."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except sa_exc.OperationalError as error:
        raise DatabaseError(_unreachable(engine, error)) from error


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (default: the newest)."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` removes the whole schema)."""
    _run(engine, "downgrade", revision)


def require_current(engine: Engine) -> None:
    """Raise :class:`SchemaNotReady` unless the database is at the newest revision."""
    current = current_revision(engine)
    head = head_revision()
    where = describe_url(engine.url)
    if current is None:
        raise SchemaNotReady(
            f"the database at {where} has no Tongbu schema yet; run `tongbu db upgrade` first"
        )
    if current != head:
        raise SchemaNotReady(
            f"the database at {where} is at schema revision {current} but this Tongbu needs "
            f"{head}; run `tongbu db upgrade`"
        )


def _run(engine: Engine, direction: str, revision: str) -> None:
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    except CommandError as error:
        raise InvalidInput(f"cannot {direction} to {revision!r}: {error}") from None
    except sa_exc.OperationalError as error:
        raise DatabaseError(_unreachable(engine, error)) from error


def _unreachable(engine: Engine, error: sa_exc.OperationalError) -> str:
    detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return f"cannot use the database at {describe_url(engine.url)}: {detail}"
