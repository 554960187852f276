"""Values in one canonical JSON form, so that equal values compare and hash equal whatever
their Python type or the database they came from (``Decimal('12.50')`` and ``Decimal('12.5')``,
an aware datetime in any zone and its UTC form)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = ["canonical", "digest"]


def canonical(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """``value`` as plain JSON data: decimals as normalised strings, times in UTC ISO form,
    ids as strings, mappings and sequences recursively."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo is not None else value
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {
            str(key): item if type(item) in _PLAIN else canonical(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [item if type(item) in _PLAIN else canonical(item) for item in value]
    return str(value)


_PLAIN = frozenset({str, int, bool, type(None)})


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def digest(value: Any) -> str:
    """A SHA-256 hex digest of the canonical form of ``value``."""
    # json calls ``canonical`` only for what it cannot write itself (decimals, times, ids), so
    # plain values are not copied first. (Mapped values carry decimals, never floats.)
    encoded = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=canonical
    ).encode()
    return hashlib.sha256(encoded).hexdigest()
