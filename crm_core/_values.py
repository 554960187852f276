"""How Python values are stored on each database, and long IN-lists as a single parameter."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    String,
    Uuid,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from crm_core.db import is_postgres
from crm_core.models._types import ExactDecimal, UTCDateTime

__all__ = ["among", "sqlite_column", "sqlite_storage", "sqlite_timestamp"]


def among(
    session: Session, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN values`` with one parameter however many values there are: a JSON list
    read by ``jsonb_array_elements_text`` on PostgreSQL and by ``json_each`` on SQLite (no
    limit on variables, and one statement to prepare rather than one per list length).

    On PostgreSQL a JSON list is also three times faster than an array parameter: psycopg
    writes an array out element by element in Python, ``json.dumps`` in C."""
    if is_postgres(session):
        document = json.dumps(list(values), ensure_ascii=False, default=str)
        listed = cast(bindparam(None, document, type_=String()), JSONB)
        elements = func.jsonb_array_elements_text(listed)
        return column.in_(select(cast(literal_column("value"), column.type)).select_from(elements))
    to_storage = sqlite_storage(column.type)
    document = json.dumps([to_storage(value) for value in values], ensure_ascii=False)
    members: Select[tuple[Any]] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, document, type_=String()))
    )
    return column.in_(members)


def sqlite_storage(column_type: Any) -> Callable[[Any], Any]:
    """How SQLAlchemy stores a Python value of this column type on SQLite."""
    for stored_type, convert in _SQLITE_STORAGE:
        if isinstance(column_type, stored_type):
            return lambda value: convert(value) if value is not None else None
    return _identity


def sqlite_column(column_type: Any, values: list[Any]) -> list[Any]:
    """A whole column of values as SQLite stores them (the list itself when nothing changes)."""
    for stored_type, convert in _SQLITE_STORAGE:
        if isinstance(column_type, stored_type):
            return [convert(v) if v is not None else None for v in values]
    return values


def sqlite_timestamp(value: datetime) -> str:
    """A timestamp as :class:`UTCDateTime` stores it on SQLite."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _identity(value: Any) -> Any:
    return value


_SQLITE_STORAGE: tuple[tuple[type[Any], Callable[[Any], Any]], ...] = (
    (Uuid, lambda value: value.hex),
    (UTCDateTime, sqlite_timestamp),
    (ExactDecimal, str),
    (Date, lambda value: value.isoformat()),
    (JSON, lambda value: json.dumps(value, ensure_ascii=False)),
    (Boolean, int),
)
