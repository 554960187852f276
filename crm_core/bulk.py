"""Bulk upsert: write many rows of one entity fast, with change capture, and clear rejects.

:func:`bulk_upsert` writes one batch inside the caller's transaction: rows whose key is new are
created (``COPY`` on PostgreSQL, ``executemany`` on SQLite), rows whose values differ from the
stored record are updated (version bumped), rows that match the stored record are left alone.
A row that does not fit the schema (wrong type, too long, a required field missing, a unique
value that belongs to another record) is *rejected* with its reason and never written; the
others go ahead. Change capture stays on: the database triggers log every written row (set-wise
on PostgreSQL), with the session's origin.

:func:`load` streams any iterable through :func:`bulk_upsert` batch by batch, one transaction per
batch, so memory stays flat however many rows there are.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum as PyEnum
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Engine,
    Enum,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from crm_core.db import is_postgres, open_session
from crm_core.errors import InvalidInput, TongbuError
from crm_core.models import Entity, new_id, table_of, utcnow
from crm_core.models._types import ExactDecimal, UTCDateTime, to_decimal

__all__ = ["BulkResult", "ConcurrentWriteError", "Rejected", "bulk_upsert", "load"]

_HUB_KEPT = frozenset({"version", "created_at", "updated_at", "created_by", "updated_by"})
_IN_CHUNK = 2000
_ATTEMPTS = 3


@dataclass(frozen=True)
class Rejected:
    """A row that was not written, and why."""

    index: int
    """Position of the row in its batch (in the whole stream, for :func:`load`)."""
    row: Mapping[str, Any]
    reason: str


@dataclass
class BulkResult:
    """What a bulk write did: counts, rejected rows, and the record id of every row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    """Rows replaced by a later row with the same key in the same batch."""
    rejected: list[Rejected] = field(default_factory=list)
    ids: list[UUID | None] = field(default_factory=list)
    """Per input row, the id of the record it was written to (None when rejected)."""

    @property
    def written(self) -> int:
        """Rows that were accepted: created, updated, unchanged or superseded."""
        return self.created + self.updated + self.unchanged + self.superseded

    def absorb(self, other: BulkResult) -> None:
        """Add the counts and rejects of a later batch (ids are not kept across batches)."""
        offset = self.written + len(self.rejected)
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.superseded += other.superseded
        self.rejected.extend(Rejected(r.index + offset, r.row, r.reason) for r in other.rejected)


def load(
    engine: Engine,
    model: type[Entity],
    rows: Iterable[Mapping[str, Any]],
    *,
    origin: str,
    key: str = "id",
    batch_size: int = 5000,
    actor_id: UUID | None = None,
    progress: Callable[[BulkResult], None] | None = None,
) -> BulkResult:
    """Upsert a stream of rows in batches of ``batch_size``, committing each batch.

    ``progress`` is called after each batch with that batch's result. A crash loses at most the
    batch in flight; every committed batch is complete, with its change log.
    """
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1")
    total = BulkResult()
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, batch_size)):
        result = _write_batch(engine, model, batch, origin=origin, key=key, actor_id=actor_id)
        total.absorb(result)
        if progress is not None:
            progress(result)
    return total


def _write_batch(
    engine: Engine,
    model: type[Entity],
    batch: list[Mapping[str, Any]],
    *,
    origin: str,
    key: str,
    actor_id: UUID | None,
) -> BulkResult:
    """One batch in its own transaction, retried when a concurrent writer got in the way."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with open_session(engine, origin=origin, actor_id=actor_id) as session:
                return bulk_upsert(session, model, batch, key=key, actor_id=actor_id)
        except (ConcurrentWriteError, sa_exc.IntegrityError):
            # Another writer created or changed some of these rows between our read and our
            # write; the transaction rolled back, and the next attempt reads them again.
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def bulk_upsert(
    session: Session,
    model: type[Entity],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    actor_id: UUID | None = None,
) -> BulkResult:
    """Create or update ``rows`` of ``model`` matched on ``key`` (``id`` or a unique column).

    All rows of a batch must name the same fields. Runs in the caller's transaction.
    """
    result = BulkResult(ids=[None] * len(rows))
    if not rows:
        return result
    plan = _plan(table_of(model), tuple(rows[0].keys()), key)
    batch = _Batch(plan, rows, result)
    batch.coerce()
    _reject_dangling_references(session, batch)
    # Rows without an id, matched on id, are all new: there is nothing to look up.
    new_only = plan.key == "id" and "id" not in plan.fields
    existing = {} if new_only else _fetch_existing(session, plan, list(batch.latest))
    _reject_unique_clashes(session, batch, existing)

    creates: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key_value, values in batch.latest.items():
        current = existing.get(key_value)
        if current is None:
            values.setdefault("id", new_id())
            creates.append(values)
            record_id = values["id"]
        else:
            record_id = current["id"]
            if all(current[name] == values[name] for name in plan.data_fields):
                result.unchanged += 1
            else:
                values["id"] = record_id
                values["version"] = current["version"]
                updates.append(values)
        for index in batch.indices[key_value]:
            result.ids[index] = record_id
        result.superseded += len(batch.indices[key_value]) - 1

    writer = _PostgresWriter() if is_postgres(session) else _SqliteWriter()
    now = utcnow()
    if creates:
        writer.create(session, plan, creates, now, actor_id)
        result.created = len(creates)
    if updates:
        written = writer.update(session, plan, updates, now, actor_id)
        if written != len(updates):
            raise ConcurrentWriteError(
                f"{len(updates) - written} {plan.table.name} rows changed while the batch was "
                "being written; nothing of the batch was kept"
            )
        result.updated = len(updates)
    return result


class ConcurrentWriteError(TongbuError):
    """Another writer changed rows of the batch between reading and writing them."""


# --------------------------------------------------------------------------- planning


Coercer = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    table: Table
    key: str
    fields: tuple[str, ...]
    """The fields the rows carry (``id`` among them or not)."""
    data_fields: tuple[str, ...]
    """The fields other than ``id``."""
    coercers: dict[str, Coercer]
    required: frozenset[str]
    unique: tuple[str, ...]
    references: tuple[tuple[str, Column[Any]], ...]
    """(field, referred id column) for every foreign key among the fields."""
    extra_defaults: tuple[tuple[str, Callable[[], Any]], ...]
    """Columns a create must fill from the model's Python default (the database has none)."""
    json_columns: frozenset[str]


def _plan(table: Table, fields: tuple[str, ...], key: str) -> _Plan:
    columns = table.columns
    for name in fields:
        if name not in columns:
            raise InvalidInput(f"{table.name} has no field {name!r}")
        if name in _HUB_KEPT:
            raise InvalidInput(f"{name!r} is kept by the hub and cannot be loaded")
    unique = tuple(
        sorted(
            {
                constraint.columns.keys()[0]
                for constraint in table.constraints
                if isinstance(constraint, UniqueConstraint) and len(constraint.columns) == 1
            }
            | {column.name for column in columns if column.unique}
        )
    )
    if key != "id" and key not in unique:
        raise InvalidInput(f"{key!r} is not a unique field of {table.name}; match on id instead")
    if key != "id" and key not in fields:
        raise InvalidInput(f"the rows must carry the key field {key!r}")
    missing = [
        column.name
        for column in columns
        if not column.nullable
        and column.name not in fields
        and column.default is None
        and column.server_default is None
    ]
    if missing:
        raise InvalidInput(f"{table.name} rows need the field(s) {', '.join(missing)}")
    extra_defaults = tuple(
        (column.name, _default_factory(column))
        for column in columns
        if column.name not in fields
        and column.name not in _HUB_KEPT
        and column.name != "id"
        and column.default is not None
        and column.server_default is None
    )
    references = tuple(
        (name, next(iter(columns[name].foreign_keys)).column)
        for name in fields
        if columns[name].foreign_keys
    )
    return _Plan(
        table=table,
        key=key,
        fields=fields,
        data_fields=tuple(name for name in fields if name != "id"),
        coercers={name: _coercer(columns[name]) for name in fields},
        required=frozenset(name for name in fields if not columns[name].nullable),
        unique=tuple(name for name in unique if name in fields and name != key),
        references=references,
        extra_defaults=extra_defaults,
        json_columns=frozenset(column.name for column in columns if isinstance(column.type, JSON)),
    )


def _default_factory(column: Column[Any]) -> Callable[[], Any]:
    """The model's Python default of ``column`` as a function of no arguments."""
    default: Any = column.default
    if default.is_callable:
        function = default.arg
        return lambda: function(None)
    value = default.arg
    return lambda: value


@dataclass
class _Batch:
    """One batch on its way in: the last row of each key, and where each key's rows were."""

    plan: _Plan
    rows: Sequence[Mapping[str, Any]]
    result: BulkResult
    latest: dict[Any, dict[str, Any]] = field(default_factory=dict)
    indices: dict[Any, list[int]] = field(default_factory=dict)

    def coerce(self) -> None:
        """Check and convert every row; reject those that do not fit the schema."""
        plan = self.plan
        names = plan.fields
        wanted = set(names)
        for index, row in enumerate(self.rows):
            if row.keys() != wanted:
                self._reject_row(index, "the row's fields differ from the first row's")
                continue
            try:
                values = {name: _coerce_value(plan, name, row[name]) for name in names}
            except ValueError as error:
                self._reject_row(index, str(error))
                continue
            key_value = values.get(plan.key)
            if key_value is None:
                if plan.key != "id":
                    self._reject_row(index, f"{plan.key} is missing")
                    continue
                key_value = values["id"] = new_id()
            self.latest[key_value] = values
            self.indices.setdefault(key_value, []).append(index)

    def reject(self, key_value: Any, reason: str) -> None:
        """Reject every row of one key."""
        del self.latest[key_value]
        for index in self.indices.pop(key_value):
            self._reject_row(index, reason)

    def _reject_row(self, index: int, reason: str) -> None:
        self.result.rejected.append(Rejected(index, self.rows[index], reason))


def _coerce_value(plan: _Plan, name: str, value: Any) -> Any:
    if value is None:
        if name in plan.required:
            raise ValueError(f"{name} is required")
        return None
    try:
        return plan.coercers[name](value)
    except (TypeError, ValueError, ArithmeticError) as error:
        raise ValueError(f"{name}: {error}") from None


def _coercer(column: Column[Any]) -> Coercer:
    """The function that checks a value for ``column`` and converts it to its Python type."""
    column_type = column.type
    if isinstance(column_type, Enum):
        return _enum_coercer(frozenset(column_type.enums))
    if isinstance(column_type, ExactDecimal):
        return _decimal_coercer(column_type.scale)
    if isinstance(column_type, String):
        return _text_coercer(column_type.length)
    for python_type, coercer in _COERCERS:
        if isinstance(column_type, python_type):
            return coercer
    raise InvalidInput(f"{column.name} cannot be bulk-loaded (type {column_type})")


def _enum_coercer(allowed: frozenset[str]) -> Coercer:
    def enum_value(value: Any) -> str:
        text = value.value if isinstance(value, PyEnum) else value
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(sorted(allowed))}")
        return str(text)

    return enum_value


def _decimal_coercer(scale: int) -> Coercer:
    def decimal_value(value: Any) -> Decimal:
        number = to_decimal(value)
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > scale:
            raise ValueError(f"{number} has more than {scale} decimal places")
        return number

    return decimal_value


def _text_coercer(limit: int | None) -> Coercer:
    def text_value(value: Any) -> str:
        if type(value) is not str:
            raise TypeError(f"expected text, got {type(value).__name__}")
        if limit is not None and len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        return value

    return text_value


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _timestamp(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(parsed, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if parsed.tzinfo is None:
        raise ValueError("the time has no time zone")
    return parsed.astimezone(UTC)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {value!r}")
    return value


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise TypeError("expected a date, got a datetime")
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _json(value: Any) -> Any:
    if not isinstance(value, dict | list):
        raise TypeError(f"expected a JSON object or array, got {type(value).__name__}")
    json.dumps(value)
    return value


_COERCERS: tuple[tuple[type[Any], Coercer], ...] = (
    (UTCDateTime, _timestamp),
    (Uuid, _uuid),
    (Boolean, _boolean),
    (Integer, _integer),
    (Date, _date),
    (JSON, _json),
)


# --------------------------------------------------------------------------- reading


def _fetch_existing(session: Session, plan: _Plan, keys: list[Any]) -> dict[Any, dict[str, Any]]:
    """The stored values of the rows with these keys, keyed by key."""
    if not keys:
        return {}
    table = plan.table
    wanted = {"id", "version", plan.key, *plan.fields}
    columns = [table.c[name] for name in sorted(wanted)]
    key_column = table.c[plan.key]
    found: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        for row in session.execute(select(*columns).where(key_column.in_(chunk))).mappings():
            found[row[plan.key]] = dict(row)
    return found


def _reject_dangling_references(session: Session, batch: _Batch) -> None:
    """Reject rows that point at records that do not exist (an owner, an account...)."""
    latest = batch.latest
    for name, referred in batch.plan.references:
        wanted = {values[name] for values in latest.values() if values[name] is not None}
        found = set(_holders(session, referred, wanted))
        for key_value, values in list(latest.items()):
            if values[name] is not None and values[name] not in found:
                reason = f"{name} {values[name]} does not exist in {referred.table.name}"
                batch.reject(key_value, reason)


def _reject_unique_clashes(
    session: Session, batch: _Batch, existing: dict[Any, dict[str, Any]]
) -> None:
    """Reject rows whose unique values (other than the key) belong to another record."""
    table = batch.plan.table
    latest = batch.latest
    for name in batch.plan.unique:
        claimants: dict[Any, list[Any]] = {}
        for key_value, values in latest.items():
            if values[name] is not None:
                claimants.setdefault(values[name], []).append(key_value)
        holders = _holders(session, table.c[name], set(claimants))
        for value, key_values in claimants.items():
            holder = holders.get(value)
            for position, key_value in enumerate(key_values):
                current = existing.get(key_value)
                target = current["id"] if current is not None else latest[key_value].get("id")
                if holder is not None and holder != target:
                    reason = f"{name} {value!r} already belongs to {table.name} {holder}"
                elif position > 0:
                    reason = f"{name} {value!r} is also given to an earlier row of the batch"
                else:
                    continue
                batch.reject(key_value, reason)


def _holders(session: Session, column: Column[Any], values: set[Any]) -> dict[Any, Any]:
    """For each of ``values`` stored in ``column``, the id of the row that holds it."""
    found: dict[Any, Any] = {}
    ordered = list(values)
    id_column = column.table.c.id
    for start in range(0, len(ordered), _IN_CHUNK):
        query = select(column, id_column).where(column.in_(ordered[start : start + _IN_CHUNK]))
        found.update({row[0]: row[1] for row in session.execute(query)})
    return found


# --------------------------------------------------------------------------- writing


_BOOKKEEPING_ON_CREATE = ("created_at", "updated_at", "created_by", "updated_by")


def _create_columns(plan: _Plan) -> list[str]:
    """Columns of a create, in the order :func:`_create_values` yields them."""
    extra = [name for name, _factory in plan.extra_defaults]
    return [*plan.data_fields, "id", *extra, *_BOOKKEEPING_ON_CREATE]


def _create_values(
    plan: _Plan, rows: list[dict[str, Any]], now: datetime, actor_id: UUID | None
) -> Iterable[tuple[Any, ...]]:
    """The rows to create, as tuples of Python values in :func:`_create_columns` order."""
    fields = plan.data_fields
    factories = [factory for _name, factory in plan.extra_defaults]
    stamps = (now, now, actor_id, actor_id)
    for row in rows:
        yield (
            *(row[name] for name in fields),
            row["id"],
            *(factory() for factory in factories),
            *stamps,
        )


def _update_values(plan: _Plan, rows: list[dict[str, Any]]) -> Iterable[tuple[Any, ...]]:
    """The rows to update as (id, expected version, data fields...)."""
    fields = plan.data_fields
    for row in rows:
        yield (row["id"], row["version"], *(row[name] for name in fields))


class _PostgresWriter:
    """COPY for new rows; COPY into a temporary table and one UPDATE ... FROM for changes."""

    def create(
        self,
        session: Session,
        plan: _Plan,
        rows: list[dict[str, Any]],
        now: datetime,
        actor_id: UUID | None,
    ) -> None:
        columns = _create_columns(plan)
        adapt = _postgres_adapters(plan, columns)
        cursor = _driver_connection(session).cursor()
        with cursor.copy(f"COPY {plan.table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            if adapt:
                for values in _create_values(plan, rows, now, actor_id):
                    copy.write_row(_apply(adapt, values))
            else:
                for values in _create_values(plan, rows, now, actor_id):
                    copy.write_row(values)

    def update(
        self,
        session: Session,
        plan: _Plan,
        rows: list[dict[str, Any]],
        now: datetime,
        actor_id: UUID | None,
    ) -> int:
        table = plan.table.name
        staging = f"_tongbu_bulk_{table}"
        columns = ["id", "version", *plan.data_fields]
        adapt = _postgres_adapters(plan, columns)
        cursor = _driver_connection(session).cursor()
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {staging} ({', '.join(columns)}) FROM STDIN") as copy:
            for values in _update_values(plan, rows):
                copy.write_row(_apply(adapt, values) if adapt else values)
        assignments = ", ".join(f"{name} = s.{name}" for name in plan.data_fields)
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments}, version = t.version + 1, "
            "updated_at = %s, updated_by = %s "
            f"FROM {staging} AS s WHERE t.id = s.id AND t.version = s.version",
            (now, actor_id),
        )
        written: int = cursor.rowcount
        cursor.execute(f"DROP TABLE {staging}")
        return written


def _postgres_adapters(plan: _Plan, columns: list[str]) -> dict[int, Callable[[Any], Any]]:
    """Positions whose Python values psycopg needs wrapped for COPY (JSON)."""
    return {position: _jsonb for position, name in enumerate(columns) if name in plan.json_columns}


def _jsonb(value: Any) -> Any:
    return Jsonb(value) if value is not None else None


def _apply(adapt: dict[int, Callable[[Any], Any]], values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(adapt[i](v) if i in adapt else v for i, v in enumerate(values))


class _SqliteWriter:
    """``executemany`` of plain INSERT and UPDATE statements on the sqlite3 connection."""

    def create(
        self,
        session: Session,
        plan: _Plan,
        rows: list[dict[str, Any]],
        now: datetime,
        actor_id: UUID | None,
    ) -> None:
        columns = _create_columns(plan)
        convert = [_sqlite_value(plan.table.c[name]) for name in columns]
        statement = (
            f"INSERT INTO {plan.table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        params = (
            tuple(to_db(value) for to_db, value in zip(convert, values, strict=True))
            for values in _create_values(plan, rows, now, actor_id)
        )
        _driver_connection(session).executemany(statement, params)

    def update(
        self,
        session: Session,
        plan: _Plan,
        rows: list[dict[str, Any]],
        now: datetime,
        actor_id: UUID | None,
    ) -> int:
        columns = ["id", "version", *plan.data_fields]
        convert = [_sqlite_value(plan.table.c[name]) for name in columns]
        assignments = ", ".join(f"{name} = ?" for name in plan.data_fields)
        statement = (
            f"UPDATE {plan.table.name} SET {assignments}, version = version + 1, "
            "updated_at = ?, updated_by = ? WHERE id = ? AND version = ?"
        )
        stamp = _sqlite_value(plan.table.c.updated_at)(now)
        actor = _sqlite_value(plan.table.c.updated_by)(actor_id)
        params = []
        for values in _update_values(plan, rows):
            record_id, version, *data = (f(v) for f, v in zip(convert, values, strict=True))
            params.append((*data, stamp, actor, record_id, version))
        cursor = _driver_connection(session).executemany(statement, params)
        written: int = cursor.rowcount
        return written


def _driver_connection(session: Session) -> Any:
    """The DBAPI connection under the session's transaction (psycopg or sqlite3)."""
    return session.connection().connection.driver_connection


def _sqlite_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _sqlite_value(column: Column[Any]) -> Callable[[Any], Any]:
    """How a Python value of ``column`` is stored by SQLAlchemy on SQLite."""
    for column_type, convert in _SQLITE_STORAGE:
        if isinstance(column.type, column_type):
            return lambda value: convert(value) if value is not None else None
    return _identity


_SQLITE_STORAGE: tuple[tuple[type[Any], Callable[[Any], Any]], ...] = (
    (Uuid, lambda value: value.hex),
    (UTCDateTime, _sqlite_timestamp),
    (ExactDecimal, str),
    (Date, lambda value: value.isoformat()),
    (JSON, lambda value: json.dumps(value, ensure_ascii=False)),
    (Boolean, int),
)


def _identity(value: Any) -> Any:
    return value
