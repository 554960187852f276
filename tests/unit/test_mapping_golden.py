"""Golden tests of the shipped mappings: for each fixture record, the CRM values, the lines, the
change time and the external record mapped back (tests/fixtures/mappings/<system>/*.json).

Values that JSON cannot hold are written ``<type>:<text>`` (``Decimal:2599.6000``,
``date:2026-11-25``, ``UUID:...``, ``OrderStatus:confirmed``), so a test also checks their type.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from crm_core.mapping import CompiledMapping, DictLookup, load_mapping

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "mappings").glob("*/*.json"))
SHIPPED = sorted((ROOT / "mappings").glob("*/*.yaml"))


def encode(value: Any) -> Any:
    """A mapped value as the fixtures write it."""
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, Enum):
        return f"{type(value).__name__}:{value.value}"
    if isinstance(value, date | datetime):
        return f"{type(value).__name__}:{value.isoformat()}"
    if isinstance(value, Decimal | UUID):
        return f"{type(value).__name__}:{value}"
    return value


def cases() -> list[Any]:
    found = []
    for path in FIXTURES:
        document = json.loads(path.read_text(encoding="utf-8"))
        for case in document["cases"]:
            label = f"{path.parent.name}/{path.stem}: {case['name']}"
            found.append(pytest.param(document["mapping"], case, id=label))
    return found


def lookup_of(case: dict[str, Any]) -> DictLookup:
    links: dict[Any, dict[str, UUID]] = {
        tuple(key.split("/")): {external: UUID(record) for external, record in ids.items()}
        for key, ids in case.get("links", {}).items()
    }
    return DictLookup(links)


def test_every_shipped_mapping_has_a_golden_fixture() -> None:
    covered = {json.loads(path.read_text(encoding="utf-8"))["mapping"] for path in FIXTURES}
    shipped = {str(path.relative_to(ROOT)) for path in SHIPPED}
    assert shipped <= covered


@pytest.mark.parametrize(("mapping_file", "case"), cases())
def test_golden(mapping_file: str, case: dict[str, Any]) -> None:
    mapping = load_mapping(ROOT / mapping_file)
    lookup = lookup_of(case)
    record = case["external"]

    values = mapping.to_crm(record, lookup)
    lines = mapping.lines_to_crm(record, lookup)
    modified = mapping.source_modified(record)

    assert encode(values) == case["crm"]
    assert encode(lines) == case.get("lines")
    assert (modified.isoformat() if modified else None) == case["modified"]
    assert encode(mapping.to_external(values, lines, lookup)) == case["round_trip"]


@pytest.mark.parametrize(("mapping_file", "case"), cases())
def test_two_way_fields_survive_the_round_trip(mapping_file: str, case: dict[str, Any]) -> None:
    """The external record after an outbound update (the fields we send over what it had),
    mapped in again, gives the same values for every field that goes both ways (lines too)."""
    mapping = load_mapping(ROOT / mapping_file)
    lookup = lookup_of(case)
    values = mapping.to_crm(case["external"], lookup)
    lines = mapping.lines_to_crm(case["external"], lookup)

    again = {**case["external"], **mapping.to_external(values, lines, lookup)}
    both = both_ways(mapping)
    assert pick(mapping.to_crm(again, lookup), both) == pick(values, both)
    if mapping.lines is not None and lines is not None:
        line_fields = {f.crm for f in mapping.lines.fields if f.direction == "both"}
        back = mapping.lines_to_crm(again, lookup) or []
        assert [pick(line, line_fields) for line in back] == [
            pick(line, line_fields) for line in lines
        ]


def both_ways(mapping: CompiledMapping) -> set[str | None]:
    return {field.crm for field in mapping.fields if field.direction == "both"}


def pick(values: dict[str, Any], names: set[str | None]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name in names}
