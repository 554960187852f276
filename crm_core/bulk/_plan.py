"""What a bulk write of one entity with a given set of fields needs to know, worked out once:
the key, the checks of each field, the unique fields, the references, the defaults."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum as PyEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Enum,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from crm_core.errors import InvalidInput
from crm_core.models._types import ExactDecimal, UTCDateTime, to_decimal

__all__ = ["HUB_KEPT", "ColumnCheck", "Plan", "make_plan"]

HUB_KEPT = frozenset({"version", "created_at", "updated_at", "created_by", "updated_by"})
"""Columns the hub writes itself; a bulk row may not set them."""


ColumnCheck = Callable[[list[Any]], dict[int, str]]
"""Checks a column of values in place (converting them to their Python type); returns the
reason for each position whose value does not fit."""


@dataclass(frozen=True)
class Plan:
    """How to write rows of one table that carry ``fields``."""

    table: Table
    key: str
    fields: tuple[str, ...]
    """The fields the rows carry (``id`` among them or not)."""
    data_fields: tuple[str, ...]
    """The fields other than ``id``."""
    checks: tuple[ColumnCheck, ...]
    """One check per field, in field order."""
    unique: tuple[str, ...]
    """Unique fields other than the key, whose values must not belong to another record."""
    references: tuple[tuple[str, Column[Any]], ...]
    """(field, referred id column) for every foreign key among the fields."""
    extra_defaults: tuple[tuple[str, Callable[[], Any]], ...]
    """Columns a create must fill from the model's Python default (the database has none)."""
    json_columns: frozenset[str]

    @property
    def new_only(self) -> bool:
        """Rows matched on an id they do not carry are all new: nothing to look up."""
        return self.key == "id" and "id" not in self.fields


def make_plan(table: Table, fields: Sequence[str], key: str) -> Plan:
    """Check that rows with ``fields`` can be written to ``table`` matched on ``key``."""
    columns = table.columns
    for name in fields:
        if name not in columns:
            raise InvalidInput(f"{table.name} has no field {name!r}")
        if name in HUB_KEPT:
            raise InvalidInput(f"{name!r} is kept by the hub and cannot be loaded")
    unique = {
        constraint.columns.keys()[0]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint) and len(constraint.columns) == 1
    } | {column.name for column in columns if column.unique}
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
    return Plan(
        table=table,
        key=key,
        fields=tuple(fields),
        data_fields=tuple(name for name in fields if name != "id"),
        checks=tuple(_check(columns[name]) for name in fields),
        unique=tuple(sorted(name for name in unique if name in fields and name != key)),
        references=tuple(
            (name, next(iter(columns[name].foreign_keys)).column)
            for name in fields
            if columns[name].foreign_keys
        ),
        extra_defaults=tuple(
            (column.name, _default_factory(column))
            for column in columns
            if column.name not in fields
            and column.name not in HUB_KEPT
            and column.name != "id"
            and column.default is not None
            and column.server_default is None
        ),
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


# --------------------------------------------------------------------------- column checks


def _check(column: Column[Any]) -> ColumnCheck:
    """The check of one column: text is checked without a call per value (it is most data)."""
    name, column_type, required = column.name, column.type, not column.nullable
    if isinstance(column_type, String) and not isinstance(column_type, Enum):
        return _text_check(name, column_type.length, required)
    convert = _converter(column)

    def check(values: list[Any]) -> dict[int, str]:
        try:
            values[:] = [convert(v) if v is not None else None for v in values]
        except (TypeError, ValueError, ArithmeticError):
            return _check_one_by_one(name, convert, values, required)
        if required and None in values:
            return {i: f"{name} is required" for i, v in enumerate(values) if v is None}
        return {}

    return check


def _text_check(name: str, limit: int | None, required: bool) -> ColumnCheck:
    def check(values: list[Any]) -> dict[int, str]:
        # The usual column, all plain text that fits, is seen in two loops that run in C.
        if set(map(type, values)) <= {str} and (
            limit is None or not values or max(map(len, values)) <= limit
        ):
            return {}
        if limit is None:
            odd = [i for i, v in enumerate(values) if type(v) is not str]
        else:
            odd = [i for i, v in enumerate(values) if type(v) is not str or len(v) > limit]
        errors: dict[int, str] = {}
        for i in odd:
            value = values[i]
            if value is None:
                if required:
                    errors[i] = f"{name} is required"
            elif not isinstance(value, str):
                errors[i] = f"{name}: expected text, got {type(value).__name__}"
            elif limit is not None and len(value) > limit:
                errors[i] = f"{name}: longer than {limit} characters"
            else:  # a str subclass (an enum member): store its plain text
                values[i] = str(value)
        return errors

    return check


def _check_one_by_one(
    name: str, convert: Callable[[Any], Any], values: list[Any], required: bool
) -> dict[int, str]:
    errors: dict[int, str] = {}
    for i, value in enumerate(values):
        if value is None:
            if required:
                errors[i] = f"{name} is required"
            continue
        try:
            values[i] = convert(value)
        except (TypeError, ValueError, ArithmeticError) as error:
            errors[i] = f"{name}: {error}"
    return errors


def _converter(column: Column[Any]) -> Callable[[Any], Any]:
    """The function that converts one (non-null) value of ``column`` to its Python type."""
    column_type = column.type
    if isinstance(column_type, Enum):
        return _enum_converter(frozenset(column_type.enums))
    if isinstance(column_type, ExactDecimal):
        return _decimal_converter(column_type.scale)
    for python_type, convert in _CONVERTERS:
        if isinstance(column_type, python_type):
            return convert
    raise InvalidInput(f"{column.name} cannot be bulk-loaded (type {column_type})")


def _enum_converter(allowed: frozenset[str]) -> Callable[[Any], str]:
    def enum_value(value: Any) -> str:
        text = value.value if isinstance(value, PyEnum) else value
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(sorted(allowed))}")
        return str(text)

    return enum_value


def _decimal_converter(scale: int) -> Callable[[Any], Decimal]:
    def decimal_value(value: Any) -> Decimal:
        number = to_decimal(value)
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > scale:
            raise ValueError(f"{number} has more than {scale} decimal places")
        return number

    return decimal_value


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
    if value:  # most custom fields of a load are empty
        json.dumps(value)
    return value


_CONVERTERS: tuple[tuple[type[Any], Callable[[Any], Any]], ...] = (
    (UTCDateTime, _timestamp),
    (Uuid, _uuid),
    (Boolean, _boolean),
    (Integer, _integer),
    (Date, _date),
    (JSON, _json),
)
