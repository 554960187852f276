"""Engines and sessions for the CRM core database, and the write context of change capture.

The database is chosen by ``TONGBU_DATABASE_URL`` (default: the embedded SQLite file
``tongbu.db`` in the working directory). SQLite runs in WAL mode with foreign keys on;
PostgreSQL is reached through psycopg 3.

Every write to a CRM entity is captured by database triggers into ``change_log`` together with
its *origin*: ``crm`` for a person working through the hub, the external system's name (e.g.
``kingdee``) for the sync engine writing on that system's behalf, and ``external`` for anything
that bypasses the hub. A session opened with :func:`open_session` and an ``origin`` tells the
triggers who is writing:

* on PostgreSQL through transaction-local settings (``tongbu.origin``, ``tongbu.actor``);
* on SQLite, which has no session variables, through the one-row table
  ``tongbu_write_context``. SQLite admits one writer at a time, so the row written at the start
  of a write transaction and deleted just before its commit is seen by that transaction's
  triggers only; it is never committed, and a crash rolls it back with everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.orm import exc as orm_exc

from crm_core.config import DATABASE_URL_ENV, database_url_from_env
from crm_core.errors import ConfigError, DatabaseError, InvalidInput, StaleVersionError

__all__ = [
    "ORIGIN_CRM",
    "ORIGIN_EXTERNAL",
    "TongbuSession",
    "analyze",
    "create_engine",
    "describe_url",
    "is_postgres",
    "open_session",
    "resolve_url",
    "validate_origin",
]

ORIGIN_CRM = "crm"
"""Origin of writes made by a person through the hub."""

ORIGIN_EXTERNAL = "external"
"""Origin the triggers record when a write does not come through the hub."""

_ORIGIN_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_WRITER_OPTION = "tongbu_writer"
_SQLITE_BUSY_TIMEOUT_MS = 30_000
_SQLITE_CACHE_KIB = 64 * 1024  # the default 2 MB page cache thrashes on the indexes of a large load


def validate_origin(origin: str) -> str:
    """Return ``origin`` if it is a valid origin name (lower-case identifier), else raise."""
    if not _ORIGIN_PATTERN.match(origin):
        raise InvalidInput(
            f"origin {origin!r} is not valid: use a lower-case name such as 'crm' or 'kingdee' "
            "(letters, digits, '_', '-', '.'; at most 64 characters)"
        )
    return origin


def resolve_url(url: str | URL | None = None) -> URL:
    """Parse a database URL (default: ``TONGBU_DATABASE_URL``) and pick Tongbu's driver.

    ``postgresql://`` and ``postgres://`` are served by psycopg 3; ``sqlite:///path`` by the
    standard library. Anything else is refused with a :class:`ConfigError`.
    """
    raw = url if url is not None else database_url_from_env()
    try:
        parsed = make_url(raw) if isinstance(raw, str) else raw
    except sa_exc.ArgumentError:
        raise ConfigError(
            f"{DATABASE_URL_ENV} is not a valid database URL: {_mask(str(raw))!r}; expected "
            "e.g. sqlite:///tongbu.db or postgresql://user@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend in {"postgresql", "postgres"}:
        if driver not in {"psycopg", "postgresql", "postgres"}:
            raise ConfigError(
                f"the PostgreSQL driver {driver!r} is not supported; use postgresql+psycopg://"
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in {"pysqlite", "sqlite"}:
            raise ConfigError(f"the SQLite driver {driver!r} is not supported; use sqlite:///")
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigError(
        f"database {backend!r} is not supported: Tongbu runs on SQLite (the embedded default) "
        "and PostgreSQL"
    )


def describe_url(url: URL) -> str:
    """Render a URL for messages and logs, with any password hidden."""
    return url.render_as_string(hide_password=True)


def _mask(raw: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", raw)


def create_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """Create an engine for the CRM core database at ``url`` (default: the environment).

    The SQLite file's folder is created if missing. Connection problems surface on first use,
    as :class:`DatabaseError` when they happen inside :func:`open_session`.
    """
    resolved = resolve_url(url)
    if resolved.get_backend_name() == "sqlite":
        return _create_sqlite_engine(resolved, **kwargs)
    return sa_create_engine(resolved, pool_pre_ping=True, **kwargs)


def _create_sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa_create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that a
        # write session can take the write lock up front with BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
                cursor.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writer = conn.get_execution_options().get(_WRITER_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def analyze(engine: Engine, *tables: str) -> None:
    """Refresh the planner's statistics of ``tables`` (after a bulk write changed them a lot).

    Without it, PostgreSQL plans the first queries after a large load as if the tables were
    still small, until autovacuum gets to them; SQLite's planner keeps no statistics to refresh.
    """
    if engine.dialect.name != "postgresql" or not tables:
        return
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            f"ANALYZE {', '.join(tables)}"
        )


def plan_each_query(session: Session) -> None:
    """Make PostgreSQL plan every statement of this transaction for its own parameters.

    psycopg prepares a statement once it has run a few times, and PostgreSQL may then reuse a
    generic plan that cannot see the values: an ``= ANY(:list)`` of a thousand keys becomes a
    scan of every row, comparing each with every key. A custom plan uses the index (or hashes
    the list). SQLite needs nothing.
    """
    if is_postgres(session):
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def is_postgres(bind: Engine | Connection | Session) -> bool:
    """Whether ``bind`` talks to PostgreSQL (else it is SQLite)."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return dialect.name == "postgresql"


class TongbuSession(Session):
    """A session that tags the writes of each of its transactions with an origin and actor.

    Set ``info["origin"]`` (and optionally ``info["actor_id"]``) before the first statement;
    :func:`open_session` does this for you.
    """


@event.listens_for(TongbuSession, "after_begin")
def _set_write_context(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    origin = session.info.get("origin")
    if origin is None:
        return
    actor = session.info.get("actor_id")
    actor_text = str(actor) if actor is not None else ""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "SELECT set_config('tongbu.origin', :o, true), set_config('tongbu.actor', :a, true)"
            ),
            {"o": origin, "a": actor_text},
        )
    else:
        connection.execute(
            text(
                "INSERT OR REPLACE INTO tongbu_write_context (id, origin, actor_id) "
                "VALUES (1, :o, :a)"
            ),
            {"o": origin, "a": actor.hex if isinstance(actor, UUID) else None},
        )


@event.listens_for(TongbuSession, "before_commit")
def _clear_write_context(session: Session) -> None:
    if session.info.get("origin") is None:
        return
    # The final flush must still see the context, so flush before clearing it.
    session.flush()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(text("DELETE FROM tongbu_write_context"))


@contextmanager
def open_session(
    engine: Engine,
    *,
    origin: str | None = None,
    actor_id: UUID | None = None,
) -> Iterator[TongbuSession]:
    """Open a session; commit when the block ends normally, roll back when it raises.

    With an ``origin`` the session is a writer: its writes are tagged with that origin (and
    ``actor_id``, the user on whose behalf they are made) in ``change_log``, and on SQLite it
    takes the write lock when its transaction begins. Without one it is meant for reading.
    """
    bind: Engine = engine
    info: dict[str, Any] = {}
    if origin is not None:
        info["origin"] = validate_origin(origin)
        info["actor_id"] = actor_id
        bind = engine.execution_options(**{_WRITER_OPTION: True})
    factory = sessionmaker(bind=bind, class_=TongbuSession, expire_on_commit=False, info=info)
    session = factory()
    try:
        yield session
        session.commit()
    except sa_exc.OperationalError as error:
        session.rollback()
        raise DatabaseError(_explain_operational_error(engine, error)) from error
    except orm_exc.StaleDataError as error:
        session.rollback()
        raise StaleVersionError(
            f"a record was changed by someone else since it was read ({error}); nothing was written"
        ) from error
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _explain_operational_error(engine: Engine, error: sa_exc.OperationalError) -> str:
    detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return f"the database at {describe_url(engine.url)} failed: {detail}"
