"""Writing a checked batch: COPY on PostgreSQL, ``executemany`` on SQLite, column by column."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from sqlalchemy import JSON, Boolean, Date, Integer, Table, Uuid
from sqlalchemy.orm import Session

from crm_core._values import sqlite_column, sqlite_storage
from crm_core.db import is_postgres
from crm_core.models._types import ExactDecimal, UTCDateTime

if TYPE_CHECKING:
    from crm_core.bulk._batch import Batch

__all__ = ["Stamp", "Writer", "insert_rows", "writer_for"]

_BOOKKEEPING_ON_CREATE = ("created_at", "updated_at", "created_by", "updated_by")


@dataclass(frozen=True)
class Stamp:
    """When and on whose behalf a batch is written."""

    now: datetime
    actor_id: UUID | None


class Writer(Protocol):
    """Writes the creates and updates of a batch in the session's transaction."""

    def create(
        self, session: Session, batch: Batch, keys: list[Any], ids: list[UUID], stamp: Stamp
    ) -> None:
        """Insert the rows of ``keys`` as new records with ``ids``."""

    def update(
        self,
        session: Session,
        batch: Batch,
        keys: list[Any],
        targets: list[tuple[UUID, int]],
        stamp: Stamp,
    ) -> int:
        """Update the records ``targets`` (id, expected version); return how many were."""


def writer_for(session: Session) -> Writer:
    """The writer of the session's database."""
    return _PostgresWriter() if is_postgres(session) else _SqliteWriter()


Encoder = Callable[[Any, list[Any]], list[Any]]
"""Turns a column of Python values of a column type into what the database driver is given."""


def _create_rows(
    batch: Batch, keys: list[Any], ids: list[UUID], stamp: Stamp, encode: Encoder
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The column names of a create and its rows, encoded for the driver."""
    plan = batch.plan
    table = plan.table
    names = [*plan.data_fields, "id", *(name for name, _factory in plan.extra_defaults)]
    defaults = [[factory() for _ in keys] for _name, factory in plan.extra_defaults]
    values = [*_field_columns(batch, keys, plan.data_fields), ids, *defaults]
    columns = [
        encode(table.c[name].type, column) for name, column in zip(names, values, strict=True)
    ]
    [now] = encode(table.c.created_at.type, [stamp.now])
    [actor] = encode(table.c.created_by.type, [stamp.actor_id])
    constant = (repeat(now), repeat(now), repeat(actor), repeat(actor))
    return [*names, *_BOOKKEEPING_ON_CREATE], zip(*columns, *constant, strict=False)


def _field_columns(batch: Batch, keys: list[Any], names: tuple[str, ...]) -> list[list[Any]]:
    """The values of ``names`` for the rows of ``keys``, as one list per field."""
    positions = [batch.latest[key] for key in keys]
    return [[batch.columns[name][p] for p in positions] for name in names]


def _driver(session: Session) -> Any:
    """The DBAPI connection under the session's transaction (psycopg or sqlite3)."""
    return session.connection().connection.driver_connection


class _PostgresWriter:
    """COPY for new rows; COPY into a temporary table and one UPDATE ... FROM for changes."""

    def create(
        self, session: Session, batch: Batch, keys: list[Any], ids: list[UUID], stamp: Stamp
    ) -> None:
        names, rows = _create_rows(batch, keys, ids, stamp, _copy_text)
        _copy_in(session, batch.plan.table.name, names, rows)

    def update(
        self,
        session: Session,
        batch: Batch,
        keys: list[Any],
        targets: list[tuple[UUID, int]],
        stamp: Stamp,
    ) -> int:
        plan = batch.plan
        table = plan.table.name
        staging = f"_tongbu_bulk_{table}"
        names = ["id", "version", *plan.data_fields]
        values: list[list[Any]] = [
            [record_id for record_id, _version in targets],
            [version for _record_id, version in targets],
            *_field_columns(batch, keys, plan.data_fields),
        ]
        columns = [
            _copy_text(plan.table.c[name].type, column)
            for name, column in zip(names, values, strict=True)
        ]
        cursor = _driver(session).cursor()
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {', '.join(names)} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {staging} ({', '.join(names)}) FROM STDIN") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
        assignments = ", ".join(f"{name} = s.{name}" for name in plan.data_fields)
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments}, version = t.version + 1, "
            "updated_at = %s, updated_by = %s "
            f"FROM {staging} AS s WHERE t.id = s.id AND t.version = s.version",
            (stamp.now, stamp.actor_id),
        )
        written: int = cursor.rowcount
        cursor.execute(f"DROP TABLE {staging}")
        return written


def _copy_text(column_type: Any, values: list[Any]) -> list[Any]:
    """Values of a column as the text COPY reads: psycopg then writes plain strings, more than
    twice as fast as adapting each UUID, datetime or decimal object itself. (A UUID is written
    as 32 hex digits, which PostgreSQL reads as well as the dashed form and Python makes
    faster.)"""
    if isinstance(column_type, UTCDateTime):
        # Mostly one stamp repeated (created_at, synced_at...): each distinct time is written
        # out once.
        texts: dict[datetime, str] = {}
        return [
            None if v is None else texts[v] if v in texts else texts.setdefault(v, v.isoformat())
            for v in values
        ]
    for python_type, convert in _POSTGRES_TEXT:
        if isinstance(column_type, python_type):
            return [convert(v) if v is not None else None for v in values]
    return values


_EMPTY: dict[type[Any], str] = {dict: "{}", list: "[]"}
"""An empty JSON value's text (most custom fields of a load are empty: no call to write them)."""


def _json_text(value: Any) -> str:
    if not value and type(value) in _EMPTY:
        return _EMPTY[type(value)]
    return json.dumps(value, ensure_ascii=False)


_POSTGRES_TEXT: tuple[tuple[type[Any], Callable[[Any], str]], ...] = (
    (Uuid, lambda value: format(value.int, "032x") if type(value) is UUID else str(value)),
    (ExactDecimal, str),
    (Date, lambda value: value.isoformat()),
    (JSON, _json_text),
    (Boolean, lambda value: "t" if value else "f"),
    (Integer, str),
)


class _SqliteWriter:
    """``executemany`` of plain INSERT and UPDATE statements on the sqlite3 connection."""

    def create(
        self, session: Session, batch: Batch, keys: list[Any], ids: list[UUID], stamp: Stamp
    ) -> None:
        names, rows = _create_rows(batch, keys, ids, stamp, sqlite_column)
        _insert_many(session, batch.plan.table.name, names, rows)

    def update(
        self,
        session: Session,
        batch: Batch,
        keys: list[Any],
        targets: list[tuple[UUID, int]],
        stamp: Stamp,
    ) -> int:
        plan = batch.plan
        table = plan.table
        columns = [
            sqlite_column(table.c[name].type, values)
            for name, values in zip(
                plan.data_fields, _field_columns(batch, keys, plan.data_fields), strict=True
            )
        ]
        ids = sqlite_column(table.c.id.type, [record_id for record_id, _version in targets])
        versions = [version for _record_id, version in targets]
        assignments = ", ".join(f"{name} = ?" for name in plan.data_fields)
        statement = (
            f"UPDATE {table.name} SET {assignments}, version = version + 1, "
            "updated_at = ?, updated_by = ? WHERE id = ? AND version = ?"
        )
        now = sqlite_storage(table.c.updated_at.type)(stamp.now)
        actor = sqlite_storage(table.c.updated_by.type)(stamp.actor_id)
        rows = zip(*columns, repeat(now), repeat(actor), ids, versions, strict=False)
        written: int = _driver(session).executemany(statement, rows).rowcount
        return written


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert plain rows into ``table`` the fastest way the database has: ``COPY`` on
    PostgreSQL, ``executemany`` on SQLite, each column encoded for the driver in one pass.
    Every row names the same columns; nothing is checked or captured beyond what the table's
    own constraints and triggers do."""
    if not rows:
        return
    names = list(rows[0])
    values = [[row[name] for row in rows] for name in names]
    if is_postgres(session):
        columns = [_copy_text(table.c[n].type, v) for n, v in zip(names, values, strict=True)]
        _copy_in(session, table.name, names, zip(*columns, strict=True))
    else:
        columns = [sqlite_column(table.c[n].type, v) for n, v in zip(names, values, strict=True)]
        _insert_many(session, table.name, names, zip(*columns, strict=True))


def _copy_in(session: Session, table: str, names: Sequence[str], rows: Iterable[Any]) -> None:
    """``COPY`` encoded rows into a table (PostgreSQL)."""
    with _driver(session).cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def _insert_many(session: Session, table: str, names: Sequence[str], rows: Iterable[Any]) -> None:
    """``executemany`` one INSERT of encoded rows (SQLite)."""
    statement = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    _driver(session).executemany(statement, rows)
