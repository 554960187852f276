"""The file format of a mapping, as pydantic models: what a YAML file may say, checked for
shape (keys, types, closed values). What the names mean (does the CRM field exist, is the
value map one-to-one) is checked when the mapping is compiled."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Cast",
    "ConflictRule",
    "DeletePolicy",
    "Direction",
    "FieldSpec",
    "LinesSpec",
    "LookupSpec",
    "MappingSpec",
    "ModifiedSpec",
]


class ConflictRule(StrEnum):
    """Who wins when both sides changed a field since the last sync."""

    CRM_WINS = "crm_wins"
    SOURCE_WINS = "source_wins"
    NEWEST_WINS = "newest_wins"
    """The side whose change is newer, by the systems' timestamps."""
    MANUAL = "manual"
    """Neither: a person decides (a row in ``conflict``)."""


class DeletePolicy(StrEnum):
    """What a delete in the external system does to the linked CRM record."""

    PROPAGATE = "propagate"
    """Delete the CRM record too."""
    ARCHIVE = "archive"
    """Soft-delete the CRM record (it can be restored)."""
    IGNORE = "ignore"
    """Keep the CRM record as it is."""


class MergePolicy(StrEnum):
    """What merging CRM records does to the external records linked to the merged-away ones."""

    ARCHIVE = "archive"
    """Set the ``archive`` values on them (a loser is deactivated, e.g. forbidden in the ERP)."""
    IGNORE = "ignore"
    """Leave them as they are."""


Direction = Literal["in", "out", "both"]
"""Which way a field flows: ``in`` (external system -> CRM), ``out`` (CRM -> system), ``both``."""

Cast = Literal["str", "int", "decimal", "bool", "date", "datetime"]
"""The value types a field can be cast to."""


def _exact_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("give a number, e.g. 0.01")  # noqa: TRY004 - pydantic wants ValueError
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite() or number == 0:
        raise ValueError("give a finite number other than 0")
    return number


ExactNumber = Annotated[Decimal, BeforeValidator(_exact_number)]
Name = Annotated[str, Field(min_length=1)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LookupSpec(_Spec):
    """A related record found through ``xref``: the external id in the field names a record of
    ``entity`` (in ``system``, the mapping's own by default) linked to a CRM record."""

    entity: Name
    system: Name | None = None


class FieldSpec(_Spec):
    """One field of a mapping (see mappings/README.md for every key)."""

    crm: Name | None = None
    external: Name | None = None
    direction: Direction = "both"
    transforms: list[Name] = Field(default_factory=list)
    map: dict[Any, Any] | None = None
    default: Any = None
    scale: ExactNumber | None = None
    lookup: LookupSpec | None = None
    cast: Cast | None = None
    template: str | None = None
    value: Any = None
    function: Name | None = None
    reverse: Name | None = None
    conflict: ConflictRule | None = None


class ModifiedSpec(_Spec):
    """The external field holding the record's change time, for ``newest_wins``."""

    external: Name
    timezone: Name | None = None


class LinesSpec(_Spec):
    """Child lines of a record (the entries of a sale order), mapped to a CRM line entity."""

    external: Name
    crm_entity: Name
    parent: Name
    number: Name | None = None
    fields: list[FieldSpec] = Field(min_length=1)


class MappingSpec(_Spec):
    """A whole mapping file."""

    name: Name | None = None
    system: Name
    external_entity: Name
    crm_entity: Name
    key: Name
    create_key: Name | None = None
    match: list[list[Name]] = Field(default_factory=list)
    conflict: ConflictRule
    deletes: DeletePolicy = DeletePolicy.ARCHIVE
    archive: dict[Name, Any] | None = None
    merges: MergePolicy = MergePolicy.ARCHIVE
    timezone: Name = "UTC"
    modified: ModifiedSpec | None = None
    fields: list[FieldSpec] = Field(min_length=1)
    lines: LinesSpec | None = None
