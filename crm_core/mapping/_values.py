"""Values between the two sides: what a CRM column accepts (inbound casts) and how a CRM value
is written for an external system (outbound: JSON-friendly).

Inbound, every caster takes whatever JSON or a connector gives (text, numbers, booleans, dates)
and returns the Python value of the column's type, or None for an empty value; it raises
ValueError with a sentence when the value does not fit. Decimals are built from the value's text
(``Decimal(str(11.3))``), never through binary floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Boolean, Column, Date, Integer, Numeric, String, Uuid
from sqlalchemy import Enum as SqlEnum

from crm_core.models._types import ExactDecimal, UTCDateTime

__all__ = [
    "CASTS",
    "ColumnInfo",
    "Convert",
    "caster",
    "column_info",
    "custom_caster",
    "custom_exporter",
    "exporter",
    "show",
    "to_decimal",
]

Convert = Callable[[Any], Any]
"""One step of a field's conversion: a value in, a value out."""

CASTS = ("str", "int", "decimal", "bool", "date", "datetime")
"""What ``cast:`` may name."""


@dataclass(frozen=True)
class ColumnInfo:
    """What a mapping needs to know of a CRM column."""

    qualified: str
    """``table.column``, for messages."""
    kind: str
    """``str``, ``int``, ``decimal``, ``bool``, ``date``, ``datetime``, ``uuid`` or ``json``."""
    nullable: bool
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    choices: type[StrEnum] | None = None

    @property
    def description(self) -> str:
        """The column and its type in words: ``orders.total_amount (a decimal column)``."""
        words = {
            "str": "a text column",
            "int": "an integer column",
            "decimal": "a decimal column",
            "bool": "a boolean column",
            "date": "a date column",
            "datetime": "a date-time column",
            "uuid": "a record id column",
            "json": "a JSON column",
        }
        return f"{self.qualified} ({words[self.kind]})"


def column_info(column: Column[Any]) -> ColumnInfo:
    """The kind of a CRM column, from its SQLAlchemy type."""
    column_type = column.type
    qualified = f"{column.table.name}.{column.name}"
    nullable = bool(column.nullable)
    if isinstance(column_type, SqlEnum):
        choices = column_type.enum_class
        enum = choices if isinstance(choices, type) and issubclass(choices, StrEnum) else None
        return ColumnInfo(qualified, "str", nullable, column_type.length, choices=enum)
    if isinstance(column_type, ExactDecimal):
        return ColumnInfo(
            qualified, "decimal", nullable, precision=column_type.precision, scale=column_type.scale
        )
    if isinstance(column_type, UTCDateTime):
        return ColumnInfo(qualified, "datetime", nullable)
    kinds: tuple[tuple[type[Any], str], ...] = (
        (String, "str"),
        (Boolean, "bool"),
        (Integer, "int"),
        (Numeric, "decimal"),
        (Date, "date"),
        (Uuid, "uuid"),
        (JSON, "json"),
    )
    for sql_type, kind in kinds:
        if isinstance(column_type, sql_type):
            length = column_type.length if isinstance(column_type, String) else None
            return ColumnInfo(qualified, kind, nullable, length=length)
    return ColumnInfo(qualified, "json", nullable)  # pragma: no cover - every column is one above


def show(value: Any) -> str:
    """A value as messages quote it: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_decimal(value: Any) -> Decimal | None:
    """An exact decimal from a number or its text (None for an empty value)."""
    kind = type(value)
    number: Decimal
    if kind is Decimal:
        number = value
    elif kind is int:
        return Decimal(value)
    elif kind is float or kind is str:
        text = repr(value) if kind is float else value.strip()
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{show(value)} is not a number") from None
    elif value is None:
        return None
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        raise TypeError(f"{show(value)} is not a number")
    if not number.is_finite():
        raise ValueError(f"{show(value)} is not a finite number")
    return number


def _to_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = to_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"{show(value)} is not a whole number")
    return int(number)


_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if value is None:
        return None
    raise ValueError(f"{show(value)} is not a yes/no value (true/false, 1/0, Y/N)")


def _parse_datetime(value: Any, zone: tzinfo) -> datetime | None:
    """A point in time, aware; a naive one is taken as local time in ``zone``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - zone set below
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise ValueError(f"{show(value)} is not a date and time (ISO 8601)") from None
    elif value is None:
        return None
    else:
        raise ValueError(f"{show(value)} is not a date and time (ISO 8601)")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _to_datetime(value: Any, zone: tzinfo) -> datetime | None:
    moment = _parse_datetime(value, zone)
    return None if moment is None else moment.astimezone(UTC)


def _to_date(value: Any, zone: tzinfo) -> date | None:
    """A calendar date; a date-time gives its date (an aware one, its date in ``zone``)."""
    moment: date | None
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        if not text:
            return None
        try:
            moment = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{show(value)} is not a date (YYYY-MM-DD)") from None
    elif isinstance(value, date) or value is None:
        moment = value
    else:
        raise ValueError(f"{show(value)} is not a date (YYYY-MM-DD)")
    if not isinstance(moment, datetime):
        return moment
    return moment.date() if moment.tzinfo is None else moment.astimezone(zone).date()


def _to_uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    if _is_empty(value):
        return None
    try:
        return UUID(str(value).strip())
    except ValueError:
        raise ValueError(f"{show(value)} is not a record id (a UUID)") from None


def _text_caster(info: ColumnInfo) -> Convert:
    limit = info.length

    def cast_text(value: Any) -> Any:
        if type(value) is not str:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
                raise ValueError(f"{show(value)} is not text")
            value = str(value)
        if not value:
            return None
        if limit is not None and len(value) > limit:
            raise ValueError(
                f"{show(value)} is {len(value)} characters long; "
                f"{info.qualified} holds at most {limit}"
            )
        return value

    return cast_text


def _choice_caster(info: ColumnInfo, choices: type[StrEnum]) -> Convert:
    members = {member.value: member for member in choices}
    allowed = ", ".join(members)

    def cast_choice(value: Any) -> Any:
        if _is_empty(value):
            return None
        try:
            return members[value]
        except (KeyError, TypeError):
            raise ValueError(
                f"{show(value)} is not one of {info.qualified}'s values ({allowed})"
            ) from None

    return cast_choice


def _decimal_caster(info: ColumnInfo) -> Convert:
    scale = info.scale if info.scale is not None else 4
    precision = info.precision if info.precision is not None else 20
    quantum = Decimal(1).scaleb(-scale)
    whole_digits = precision - scale

    def cast_decimal(value: Any) -> Any:
        number = to_decimal(value)
        if number is None:
            return None
        try:
            exact = number.quantize(quantum)
        except InvalidOperation:
            exact = None
        if exact is None or exact.adjusted() >= whole_digits:
            raise ValueError(
                f"{show(value)} is too large for {info.qualified} "
                f"(at most {whole_digits} digits before the point)"
            )
        if exact != number:
            raise ValueError(
                f"{show(value)} has more than {scale} decimal places, which {info.qualified} keeps"
            )
        return exact

    return cast_decimal


def caster(info: ColumnInfo, zone: tzinfo) -> Convert:
    """The inbound cast to a column's type (``zone`` is the time zone of naive times)."""
    if info.choices is not None:
        return _choice_caster(info, info.choices)
    if info.kind == "str":
        return _text_caster(info)
    if info.kind == "decimal":
        return _decimal_caster(info)
    if info.kind in _ZONED:
        return partial(_ZONED[info.kind], zone=zone)
    return _PLAIN_CASTS[info.kind]


def _json_value(value: Any) -> Any:
    return None if value == "" else value


_ZONED: dict[str, Callable[..., Any]] = {"date": _to_date, "datetime": _to_datetime}
_PLAIN_CASTS: dict[str, Convert] = {
    "int": _to_int,
    "bool": _to_bool,
    "uuid": _to_uuid,
    "json": _json_value,
}
_TO_JSON: dict[str, Convert] = {
    "decimal": str,
    "date": date.isoformat,
    "datetime": datetime.isoformat,
}


def custom_caster(cast: str | None, zone: tzinfo) -> Convert:
    """The inbound cast of a custom field (a key in the JSON ``custom`` column): JSON values, so
    a decimal is kept as its exact text, a date or a date-time as ISO 8601 text (UTC)."""
    if cast is None:
        return _json_value
    typed = to_decimal if cast == "decimal" else caster(ColumnInfo("custom", cast, True), zone)
    to_json = _TO_JSON.get(cast)
    if to_json is None:
        return typed
    return lambda value: _optional(typed(value), to_json)


def _optional(value: Any, convert: Callable[[Any], Any]) -> Any:
    return None if value is None else convert(value)


def _local_time(zone: tzinfo) -> Convert:
    def local(value: Any) -> Any:
        if isinstance(value, str):
            value = _parse_datetime(value, UTC)
        if not isinstance(value, datetime):
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).replace(tzinfo=None).isoformat()

    return local


def _iso_date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _uuid_text(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value


def exporter(info: ColumnInfo, zone: tzinfo) -> Convert | None:
    """How a CRM value of this column is written out (None: as it is). Dates become ISO text;
    date-times ISO text in local time of ``zone`` without an offset (``2026-11-25T10:00:00``);
    record ids text; choices their text; decimals stay :class:`~decimal.Decimal`."""
    if info.kind == "date":
        return _iso_date
    if info.kind == "datetime":
        return _local_time(zone)
    if info.kind == "uuid":
        return _uuid_text
    if info.choices is not None:
        return _plain
    return None


def custom_exporter(cast: str | None, zone: tzinfo) -> Convert | None:
    """How a custom field's stored JSON value is written out: as its cast type, JSON-friendly."""
    if cast == "decimal":
        return to_decimal
    if cast == "datetime":
        return _local_time(zone)
    return None
