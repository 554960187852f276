"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, DateTime, Dialect, Numeric, String, TextClause, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "ExactDecimal",
    "JSONType",
    "UTCDateTime",
    "new_id",
    "server_literal",
    "server_now",
    "server_uuid",
    "to_decimal",
    "utcnow",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""


def new_id() -> UUID:
    """A new record id: a UUIDv7 (RFC 9562), so ids sort by creation time and index inserts
    stay local. 48 bits of Unix milliseconds, then 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | _random_bits()
    return UUID(int=value & _UUID7_CLEAR | _UUID7_SET)


_RANDOM_POOL: list[int] = []
"""80-bit random numbers from one ``os.urandom`` call, taken one per id: a system call per id
cost more than the rest of making it. (``list.pop`` and ``extend`` are atomic, so threads may
share the pool; a forked child empties it, so no two processes take the same numbers.)"""


def _random_bits() -> int:
    try:
        return _RANDOM_POOL.pop()
    except IndexError:
        block = os.urandom(10 * 512)
        _RANDOM_POOL.extend(int.from_bytes(block[i : i + 10]) for i in range(0, len(block), 10))
        return _RANDOM_POOL.pop()


os.register_at_fork(after_in_child=_RANDOM_POOL.clear)


_UUID7_CLEAR = ~(0xF << 76 | 0x3 << 62)
_UUID7_SET = 0x7 << 76 | 0x2 << 62  # version 7, variant 10 (RFC 9562)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC, always returned timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps ISO text in UTC. Naive datetimes are refused:
    their time zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal (money, quantities): ``numeric`` on PostgreSQL, decimal text on SQLite.

    SQLite would turn a NUMERIC column into binary floating point; text keeps every digit.
    """

    impl = Numeric(20, 4)
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 4) -> None:
        super().__init__(precision, scale)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = to_decimal(value)
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.scale:
            raise ValueError(f"{number} has more than {self.scale} decimal places")
        return str(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Convert to :class:`Decimal` exactly; floats are refused (they are not exact)."""
    if isinstance(value, bool | float):
        raise TypeError(f"{value!r} is not exact: give a Decimal, an int or a decimal string")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


class server_uuid(FunctionElement[UUID]):  # noqa: N801 - reads as the SQL function it renders
    """Server-side default for ids, so rows inserted outside the hub get one too."""

    inherit_cache = True


@compiles(server_uuid, "postgresql")
def _server_uuid_pg(_element: server_uuid, _compiler: SQLCompiler | DDLCompiler, **_kw: Any) -> str:
    return "gen_random_uuid()"


@compiles(server_uuid, "sqlite")
def _server_uuid_sqlite(
    _element: server_uuid, _compiler: SQLCompiler | DDLCompiler, **_kw: Any
) -> str:
    # 32 lower-case hex digits: how SQLAlchemy's Uuid type stores a UUID on SQLite.
    return "(lower(hex(randomblob(16))))"


class server_now(FunctionElement[datetime]):  # noqa: N801 - reads as the SQL function it renders
    """Server-side default for timestamps, in the format :class:`UTCDateTime` reads back."""

    inherit_cache = True


@compiles(server_now, "postgresql")
def _server_now_pg(_element: server_now, _compiler: SQLCompiler | DDLCompiler, **_kw: Any) -> str:
    return "now()"


@compiles(server_now, "sqlite")
def _server_now_sqlite(
    _element: server_now, _compiler: SQLCompiler | DDLCompiler, **_kw: Any
) -> str:
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


def server_literal(value: Any) -> TextClause:
    """The database-side twin of a Python column default, so rows inserted outside the hub
    (``INSERT`` from ``psql``, a bulk ``COPY``) get the same value."""
    if callable(value):
        value = value()
    if isinstance(value, bool):
        return text("true" if value else "false")
    if isinstance(value, int | Decimal):
        return text(str(value))
    if isinstance(value, dict | list):
        return text("'" + json.dumps(value) + "'")
    if isinstance(value, str):
        return text("'" + value.replace("'", "''") + "'")
    raise TypeError(f"no server default for {value!r}")  # pragma: no cover
