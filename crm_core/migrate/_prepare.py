"""One source row on its way in: mapped through the mapping file (which cleanses it), or failed
with the reason that sends it to quarantine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_core.mapping import CompiledMapping, Lookup, MappingFailure
from crm_core.migrate._sources import SourceRow
from crm_core.sync._canon import canonical

__all__ = ["Failure", "Prepared", "prepare", "reason_kind", "source_of"]

_CUSTOM = "custom."


@dataclass(slots=True)
class Prepared:
    """A row mapped to the CRM fields it writes (``custom.*`` folded into ``custom``)."""

    index: int
    """The row's place in the source, counting from 0."""
    row: SourceRow
    key: str
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Failure:
    """A row that cannot become a CRM record, and why."""

    index: int
    row: SourceRow
    key: str | None
    reason: str
    kind: str
    """``invalid`` (a value does not fit), ``lookup`` (a related record is not linked yet),
    ``duplicate_key`` (the row repeats the key of an earlier row) or ``missing_key``."""


def prepare(
    mapping: CompiledMapping, lookup: Lookup, index: int, row: SourceRow
) -> Prepared | Failure:
    """Map one source row; a row the mapping refuses, or without a key, fails."""
    key = mapping.external_key(row.values)
    if key is None:
        return Failure(index, row, None, f"the row has no {mapping.key}", "missing_key")
    try:
        mapped = mapping.to_crm(row.values, lookup)
    except MappingFailure as failure:
        return Failure(index, row, key, str(failure), failure.kind)
    return Prepared(index, row, key, fold_custom(mapped))


def fold_custom(mapped: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of a mapped record, its ``custom.<key>`` fields gathered into the
    ``custom`` column (empty values left out)."""
    values: dict[str, Any] = {}
    custom: dict[str, Any] | None = None
    for name, value in mapped.items():
        if name.startswith(_CUSTOM):
            if custom is None:
                custom = {}
            if value is not None:
                custom[name[len(_CUSTOM) :]] = canonical(value)
        else:
            values[name] = value
    if custom is not None:
        values["custom"] = custom
    return values


def source_of(row: SourceRow, name: str) -> str:
    """The source a row counts under: its sheet for a workbook read sheet by sheet
    (``book.xlsx!Customers``), else the source's own ``name``."""
    sheet, bang, _rest = row.position.partition("!")
    return f"{name}!{sheet}" if bang and "!" not in name else name


_QUOTED = re.compile(r"'[^']*(?:'|\.\.\.)|\"[^\"]*(?:\"|\.\.\.)")
"""A quoted value, or one cut short with ``...`` (long values are)."""
_IDS = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\d+")


def reason_kind(reason: str) -> str:
    """A reason with its particular values blanked, so that rows failing the same way count
    together: ``credit_code '9133...' already belongs to accounts 1f0c...`` becomes
    ``credit_code '…' already belongs to accounts #``."""
    return _IDS.sub("#", _QUOTED.sub("'…'", reason))
