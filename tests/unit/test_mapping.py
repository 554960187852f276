"""The mapping language: transforms, validation messages, value maps, lookups, templates, custom
fields, casting to every column type, and decimals kept exact."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import pytest

from crm_core.errors import InvalidInput
from crm_core.mapping import (
    TRANSFORMS,
    CompiledMapping,
    ConflictRule,
    DeletePolicy,
    DictLookup,
    MappingError,
    MappingFailure,
    load_mapping,
)
from crm_core.models import OrderStatus

ACCOUNT = UUID("0193a3c8-5b1e-7c3d-9f00-000000000001")
PRODUCT = UUID("0193a3c8-5b1e-7c3d-9f00-0000000000a1")
NO_LINKS = DictLookup()

HEADER = """\
system: kingdee
external_entity: BD_Customer
crm_entity: accounts
key: FNumber
conflict: newest_wins
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """Write a mapping file; returns its path."""
    counter = iter(range(1000))

    def write_file(text: str) -> Path:
        path = tmp_path / f"mapping{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write_file


class Loader(Protocol):
    def __call__(self, fields: str, header: str = HEADER) -> CompiledMapping: ...


@pytest.fixture
def mapping(write: Callable[[str], Path]) -> Loader:
    """Load a mapping with these fields (YAML, a list), of accounts unless ``header`` says."""

    def load(fields: str, header: str = HEADER) -> CompiledMapping:
        return load_mapping(
            write(header + "fields:\n" + textwrap.indent(textwrap.dedent(fields), "  "))
        )

    return load


def problems_of(path: Path) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def the_problem(path: Path) -> str:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


# --- transforms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inbound", "crm", "crm_value", "outbound"),
    [
        ("strip", "  ACME\u3000", "ACME", " ACME ", "ACME"),
        ("squash", " 杭州  华信\t科技 ", "杭州 华信 科技", "a  b", "a b"),
        ("upper", "91330100ma27", "91330100MA27", "abc", "ABC"),
        ("lower", "ACME.COM", "acme.com", "ABC", "abc"),
        ("halfwidth", "ＡＢＣ１２３（北京）", "ABC123(北京)", "ＡＢ", "AB"),
        ("email", " Li.Na@Example.COM ", "li.na@example.com", "A@B.CN", "a@b.cn"),
        ("phone", "138 1234 5678", "+8613812345678", "0571-87654321", "0571-87654321"),
    ],
)
def test_each_transform_both_ways(
    name: str, inbound: str, crm: str, crm_value: str, outbound: str
) -> None:
    transform = TRANSFORMS[name]
    assert transform.to_crm(inbound) == crm
    assert transform.to_external(crm_value) == outbound
    for direction in (transform.to_crm, transform.to_external):
        assert direction(None) is None
        assert direction(Decimal("1.5")) == Decimal("1.5")  # not text: left alone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812345678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("0086-13812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        ("0571-87654321", "+8657187654321"),
        ("(0571) 8765 4321", "+8657187654321"),
        ("+86 571 8765 4321", "+8657187654321"),
        ("+86 (0571) 8765-4321", "+8657187654321"),
        ("010-12345678", "+861012345678"),
        ("0571-8765 4321 转802", "+8657187654321;ext=802"),
        ("+1 415 555 0100", "+14155550100"),
        ("+852 2123 4567", "+85221234567"),
        ("12345", "12345"),
        (" see the website ", "see the website"),
    ],
)
def test_phone_becomes_e164_and_stays_so(raw: str, e164: str) -> None:
    phone = TRANSFORMS["phone"].to_crm
    assert phone(raw) == e164
    assert phone(e164) == e164  # idempotent: a number synced back and forth does not change


def test_phone_takes_a_number() -> None:
    assert TRANSFORMS["phone"].to_crm(13812345678) == "+8613812345678"


def test_transforms_apply_in_order_in_and_in_reverse_order_out(
    mapping: Loader,
) -> None:
    m = mapping("- {crm: credit_code, external: CODE, transforms: [strip, halfwidth, upper]}")
    assert m.to_crm({"CODE": " 9133ｍａ "}, NO_LINKS) == {"credit_code": "9133MA"}
    assert m.to_external({"credit_code": " 9133ma"}, None, NO_LINKS) == {"CODE": "9133MA"}


# --- validation: every problem names the file, the line and the field ----------------------


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        (
            "fields:\n  - {crm: phone, external: FTEL, transforms: [strip, phon]}\n",
            7,
            "fields[0].transforms[1]",
            "unknown transform 'phon' (known: strip, squash, upper, lower, halfwidth, email, "
            "phone, date, amount, credit_code)",
        ),
        (
            "colour: red\nfields:\n  - {crm: name, external: FName}\n",
            6,
            "colour",
            "unknown key 'colour' (known: name, system, external_entity",
        ),
        (
            "fields:\n  - crm: name\n    external: FName\n    drection: in\n",
            9,
            "fields[0].drection",
            "unknown key 'drection' (known: crm, external, direction",
        ),
        (
            "fields:\n  - {crm: nmae, external: FName}\n",
            7,
            "fields[0].crm",
            "accounts has no field 'nmae' (did you mean 'name'?)",
        ),
        (
            "fields:\n  - {crm: name, external: FName, direction: sideways}\n",
            7,
            "fields[0].direction",
            "'sideways' is not allowed: expected 'in', 'out' or 'both'",
        ),
        (
            "fields:\n  - {crm: name, external: FName, conflict: loudest_wins}\n",
            7,
            "fields[0].conflict",
            "'loudest_wins' is not allowed: expected 'crm_wins', 'source_wins', 'newest_wins' "
            "or 'manual'",
        ),
        (
            "fields:\n  - {crm: parent_id, external: FParent, lookup: {system: kingdee}}\n",
            7,
            "fields[0].lookup.entity",
            "missing",
        ),
        (
            "fields:\n  - {crm: phone, external: FTEL, lookup: {entity: BD_Customer}}\n",
            7,
            "fields[0].lookup",
            "a lookup writes a record id, and accounts.phone (a text column) does not hold one",
        ),
        (
            "fields:\n  - crm: status\n    external: FForbidStatus\n"
            "    map: {A: active, B: active}\n",
            9,
            "fields[0].map.B",
            "the map is not one-to-one: 'A' and 'B' both give 'active'",
        ),
        (
            "fields:\n  - {external: FName, direction: in}\n",
            7,
            "fields[0].crm",
            "give crm: the CRM field this field writes",
        ),
        (
            "fields:\n  - {crm: name, direction: out}\n",
            7,
            "fields[0].external",
            "give external: the external field this field writes",
        ),
        (
            "fields:\n  - {external: FDesc, direction: out, template: '{name} ({cty})'}\n",
            7,
            "fields[0].template",
            "accounts has no field 'cty' (did you mean 'city'?)",
        ),
        (
            "fields:\n  - {crm: description, external: FDesc, template: '{name}'}\n",
            7,
            "fields[0].direction",
            "a template goes one way: give direction: in or out",
        ),
        (
            "fields:\n  - {crm: name, external: FName}\n  - {crm: name, external: FName2}\n",
            8,
            "fields[1].crm",
            "name is already written by fields[0]",
        ),
        (
            "fields:\n  - {crm: id, external: FID, direction: in}\n",
            7,
            "fields[0].crm",
            "id is kept by the hub and is not written by a mapping",
        ),
        (
            "fields:\n  - {crm: name, external: FName, cast: int}\n",
            7,
            "fields[0].cast",
            "cast: int does not fit accounts.name (a text column); leave it out",
        ),
        (
            "fields:\n  - {crm: name, external: FName, function: 'nosuch.module:clean'}\n",
            7,
            "fields[0].function",
            "cannot import nosuch.module:clean: No module named 'nosuch'",
        ),
        (
            "fields:\n  - {crm: name, external: FName, value: ACME, direction: in}\n",
            7,
            "fields[0].external",
            "an in constant takes no external key",
        ),
        (
            "fields:\n  - {crm: name, external: FName, map: {A: x}, scale: 2}\n",
            7,
            "fields[0].scale",
            "scale cannot go with map",
        ),
        (
            "fields:\n  - {crm: name, external: FName, conflict: crm_wins, direction: out}\n",
            7,
            "fields[0].conflict",
            "an out field is never written to the CRM: no conflict",
        ),
    ],
)
def test_a_broken_field_is_reported_with_file_line_and_field(
    write: Callable[[str], Path], body: str, line: int, field: str, message: str
) -> None:
    path = write(HEADER + body)
    problem = the_problem(path)
    assert problem.startswith(f"{path}, line {line}, {field}: {message}"), problem


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (HEADER.replace("conflict: newest_wins\n", ""), 1, "conflict", "missing (who wins"),
        (HEADER.replace("accounts", "acounts"), 3, "crm_entity", "unknown CRM entity 'acounts'"),
        (HEADER + "deletes: archiv\n", 6, "deletes", "'archiv' is not allowed"),
        (HEADER + "timezone: Asia/Shanghia\n", 6, "timezone", "unknown time zone"),
        (HEADER + "create_key: 'CRM-{idd}'\n", 6, "create_key", "accounts has no field 'idd'"),
        (HEADER + "create_key: 'CRM-{id:hx}'\n", 6, "create_key", "unknown format 'hx'"),
        (HEADER + "create_key: 'CRM-{id'\n", 6, "create_key", "unmatched '{'"),
        (HEADER + "match: [[email]]\n", 6, "match[0][0]", "email is not written inbound"),
        (HEADER + "match: [[emial]]\n", 6, "match[0][0]", "accounts has no field 'emial'"),
        (HEADER + "key: FID\n", 6, "key", "duplicate key 'key' (first given on line 4)"),
        (HEADER + "archive: [FForbidStatus, B]\n", 6, "archive",
         "input should be a valid dictionary"),
        (HEADER + "modified: {external: FModifyDate, timezone: Mars/Base}\n", 6,
         "modified.timezone", "unknown time zone 'Mars/Base'"),
    ],
)  # fmt: skip
def test_a_broken_header_is_reported_with_file_line_and_field(
    write: Callable[[str], Path], text: str, line: int, field: str, message: str
) -> None:
    path = write(text + "fields:\n  - {crm: name, external: FName}\n")
    problem = the_problem(path)
    assert problem.startswith(f"{path}, line {line}, {field}: {message}"), problem


def test_a_broken_line_field_is_reported_under_lines(write: Callable[[str], Path]) -> None:
    path = write(
        """\
        system: kingdee
        external_entity: SAL_SaleOrder
        crm_entity: orders
        key: FBillNo
        conflict: source_wins
        fields:
          - {crm: number, external: FBillNo}
        lines:
          external: FSaleOrderEntry
          crm_entity: order_lines
          parent: order_id
          number: line_no
          fields:
            - {crm: quantity, external: FQty}
            - {crm: line_no, external: FSeq}
            - {crm: quantiy, external: FQty2}
        """
    )
    assert problems_of(path) == [
        f"{path}, line 15, lines.fields[1].crm: line_no is not mapped: the mapping numbers the "
        "lines (number:)",
        f"{path}, line 16, lines.fields[2].crm: order_lines has no field 'quantiy' (did you mean "
        "'quantity'?)",
    ]


def test_yaml_syntax_errors_name_the_file_and_line(write: Callable[[str], Path]) -> None:
    path = write(HEADER + "fields:\n  - {crm: name, external: FName\n  - {crm: phone}\n")
    problem = the_problem(path)
    assert re.match(rf"{re.escape(str(path))}, line \d+: .*\(not valid YAML\)$", problem), problem


def test_a_file_that_is_not_a_mapping_or_missing(write: Callable[[str], Path]) -> None:
    assert the_problem(write("")).endswith("line 1: a mapping file holds keys (system, "
                                           "crm_entity, ...), not nothing")  # fmt: skip
    assert "not list" in the_problem(write("- a\n- b\n"))
    missing = write("").with_name("nowhere.yaml")
    assert the_problem(missing).startswith(f"{missing}: cannot read the file")


def test_every_problem_of_a_file_is_reported_at_once_in_line_order(
    write: Callable[[str], Path],
) -> None:
    path = write(
        """\
        system: kingdee
        external_entity: BD_Customer
        crm_entity: accounts
        key: FNumber
        deletes: sometimes
        fields:
          - {crm: name, external: FName, transforms: [trim]}
          - {crm: nmae, external: FName2}
          - {crm: phone, external: FTEL, directon: in}
          - crm: status
            external: FForbidStatus
            map: {A: active, B: active}
        """
    )
    problems = problems_of(path)
    assert [re.sub(r": .*", "", problem.removeprefix(f"{path}, ")) for problem in problems] == [
        "line 1, conflict",
        "line 5, deletes",
        "line 7, fields[0].transforms[0]",
        "line 8, fields[1].crm",
        "line 9, fields[2].directon",
        "line 12, fields[3].map.B",
    ]


def test_mapping_error_is_invalid_input() -> None:
    assert issubclass(MappingError, InvalidInput)
    assert issubclass(MappingFailure, InvalidInput)


def test_yaml_reads_codes_as_text(mapping: Loader) -> None:
    """``no``, ``on`` and ``010`` are codes, not booleans or octal numbers (YAML 1.2)."""
    m = mapping(
        """\
        - crm: status
          external: FLAG
          direction: in
          map: {no: inactive, on: active, 010: archived, 'true': yes}
        """
    )
    assert m.to_crm({"FLAG": "no"}, NO_LINKS) == {"status": "inactive"}
    assert m.to_crm({"FLAG": "on"}, NO_LINKS) == {"status": "active"}
    assert m.to_crm({"FLAG": "010"}, NO_LINKS) == {"status": "archived"}
    assert m.to_crm({"FLAG": True}, NO_LINKS) == {"status": "yes"}


# --- the compiled mapping ------------------------------------------------------------------


def test_the_header_of_a_mapping(write: Callable[[str], Path]) -> None:
    path = write(
        HEADER.replace("conflict: newest_wins", "conflict: manual")
        + """\
        create_key: "CRM-{id:hex12}"
        match: [[credit_code], [name, city]]
        deletes: ignore
        fields:
          - {crm: name, external: FName}
          - {crm: city, external: FCity, direction: in}
          - {crm: credit_code, external: FCode, conflict: source_wins}
          - {crm: email, external: FMail, direction: out}
        """.replace("        ", "")
    )
    m = load_mapping(path)
    assert (m.name, m.path, m.system, m.external_entity, m.crm_entity, m.key) == (
        f"kingdee-{path.stem}",
        path,
        "kingdee",
        "BD_Customer",
        "accounts",
        "FNumber",
    )
    assert m.match_keys == (("credit_code",), ("name", "city"))
    assert (m.conflict, m.delete_policy) == (ConflictRule.MANUAL, DeletePolicy.IGNORE)
    assert m.inbound_fields == ("name", "city", "credit_code")
    assert m.outbound_fields == ("name", "credit_code", "email")
    assert m.rule_for("credit_code") is ConflictRule.SOURCE_WINS
    assert m.rule_for("name") is ConflictRule.MANUAL
    assert [(f.crm, f.external, f.direction) for f in m.fields] == [
        ("name", "FName", "both"),
        ("city", "FCity", "in"),
        ("credit_code", "FCode", "both"),
        ("email", "FMail", "out"),
    ]
    assert m.lines is None
    assert m.lines_to_crm({"FName": "x"}, NO_LINKS) is None


def test_archive_values(mapping: Loader) -> None:
    archived = mapping(
        "- {crm: name, external: FName}\n", header=HEADER + "archive: {FForbidStatus: B}\n"
    )
    assert archived.archive_external == {"FForbidStatus": "B"}
    assert mapping("- {crm: name, external: FName}\n").archive_external is None


def test_external_key_and_create_key(mapping: Loader) -> None:
    m = mapping(
        "- {crm: name, external: FName}\n",
        header=HEADER + 'create_key: "CRM-{id:hex12}"\n',
    )
    assert m.external_key({"FNumber": "CUST0001"}) == "CUST0001"
    assert m.external_key({"FNumber": 1001}) == "1001"
    assert m.external_key({"FNumber": ""}) is None
    assert m.external_key({}) is None
    record_id = UUID("0193a3c8-5b1e-7c3d-9f00-123456789abc")
    assert m.create_key_for(record_id, {"name": "x"}) == "CRM-123456789abc"
    assert m.create_key_for(record_id, {}) == m.create_key_for(record_id, {"name": "y"})


def test_create_key_from_crm_fields_needs_them(mapping: Loader) -> None:
    m = mapping("- {crm: name, external: FName}\n", header=HEADER + 'create_key: "C-{name}"\n')
    assert m.outbound_fields == ("name",)
    assert m.create_key_for(ACCOUNT, {"name": "ACME"}) == "C-ACME"
    with pytest.raises(MappingFailure) as caught:
        m.create_key_for(ACCOUNT, {"name": None})
    assert (caught.value.field, caught.value.kind) == ("FNumber", "invalid")
    assert "needs name, which is empty" in caught.value.reason


def test_without_create_key_the_system_assigns_the_key(
    mapping: Loader,
) -> None:
    assert mapping("- {crm: name, external: FName}\n").create_key_for(ACCOUNT, {}) is None


def test_source_modified_is_aware_utc(mapping: Loader) -> None:
    header = HEADER + "timezone: Asia/Shanghai\nmodified: {external: FModifyDate}\n"
    m = mapping("- {crm: name, external: FName}\n", header=header)
    expected = datetime(2026, 11, 25, 2, 0, 0, 123000, tzinfo=UTC)
    assert m.source_modified({"FModifyDate": "2026-11-25T10:00:00.123"}) == expected
    assert m.source_modified({"FModifyDate": "2026-11-25T02:00:00.123Z"}) == expected
    assert m.source_modified({"FModifyDate": "2026-11-25 10:00:00.1234567"}) == expected.replace(
        microsecond=123456
    )
    assert m.source_modified({}) is None
    with pytest.raises(MappingFailure) as caught:
        m.source_modified({"FModifyDate": "yesterday"})
    assert caught.value.field == "FModifyDate"
    assert mapping("- {crm: name, external: FName}\n").source_modified({"X": 1}) is None


def test_modified_has_its_own_time_zone(mapping: Loader) -> None:
    header = HEADER + "timezone: Asia/Shanghai\nmodified: {external: T, timezone: UTC}\n"
    m = mapping("- {crm: name, external: FName}\n", header=header)
    assert m.source_modified({"T": "2026-11-25T10:00:00"}) == datetime(2026, 11, 25, 10, tzinfo=UTC)


# --- value maps ----------------------------------------------------------------------------


def test_a_two_way_value_map_is_inverted_outbound(
    mapping: Loader,
) -> None:
    m = mapping("- {crm: custom.currency, external: CUR, map: {PRE001: CNY, PRE007: USD}}\n")
    assert m.to_crm({"CUR": "PRE007"}, NO_LINKS) == {"custom.currency": "USD"}
    assert m.to_external({"custom.currency": "USD"}, None, NO_LINKS) == {"CUR": "PRE007"}
    assert m.to_external({"custom.currency": None}, None, NO_LINKS) == {"CUR": None}
    with pytest.raises(MappingFailure) as caught:
        m.to_crm({"CUR": "PRE999"}, NO_LINKS)
    assert caught.value.field == "custom.currency"
    assert caught.value.reason == "'PRE999' is not in the value map (known: 'PRE001', 'PRE007')"
    with pytest.raises(MappingFailure) as caught:
        m.to_external({"custom.currency": "EUR"}, None, NO_LINKS)
    assert (caught.value.field, caught.value.kind) == ("CUR", "invalid")
    assert "'EUR' has no external value in the map" in caught.value.reason


def test_an_inbound_map_may_be_many_to_one(mapping: Loader) -> None:
    m = mapping(
        """\
        - crm: status
          external: FDocumentStatus
          direction: in
          map: {A: draft, B: draft, C: confirmed}
        """
    )
    assert [m.to_crm({"FDocumentStatus": code}, NO_LINKS)["status"] for code in "ABC"] == [
        "draft",
        "draft",
        "confirmed",
    ]
    assert m.outbound_fields == ()


def test_a_map_default_covers_empty_and_unknown_codes_and_goes_out_mapped(
    mapping: Loader,
) -> None:
    m = mapping("- {crm: custom.cur, external: CUR, map: {PRE001: CNY, PRE002: HKD}, default: CNY}")
    for value in ("", None, "PRE999"):
        assert m.to_crm({"CUR": value}, NO_LINKS) == {"custom.cur": "CNY"}
    assert m.to_crm({}, NO_LINKS) == {"custom.cur": "CNY"}
    assert m.to_external({"custom.cur": None}, None, NO_LINKS) == {"CUR": "PRE001"}


def test_map_codes_match_as_text(mapping: Loader) -> None:
    m = mapping("- {crm: custom.level, external: L, map: {1: gold, '2': silver, false: none}}")
    assert m.to_crm({"L": "1"}, NO_LINKS) == {"custom.level": "gold"}
    assert m.to_crm({"L": 2}, NO_LINKS) == {"custom.level": "silver"}
    assert m.to_crm({"L": False}, NO_LINKS) == {"custom.level": "none"}
    assert m.to_crm({"L": "false"}, NO_LINKS) == {"custom.level": "none"}
    assert m.to_external({"custom.level": "gold"}, None, NO_LINKS) == {"L": 1}


def test_map_values_are_checked_against_the_column(write: Callable[[str], Path]) -> None:
    path = write(
        """\
        system: kingdee
        external_entity: SAL_SaleOrder
        crm_entity: orders
        key: FBillNo
        conflict: source_wins
        fields:
          - crm: status
            external: FDocumentStatus
            direction: in
            map: {A: draft, C: confimred}
        """
    )
    assert the_problem(path) == (
        f"{path}, line 10, fields[0].map.C: 'confimred' is not one of orders.status's values "
        "(draft, confirmed, fulfilled, cancelled)"
    )


def test_a_map_default_must_be_mapped_when_it_goes_out(write: Callable[[str], Path]) -> None:
    path = write(
        HEADER + "fields:\n  - {crm: custom.cur, external: C, map: {P: CNY}, default: USD}\n"
    )
    assert the_problem(path).endswith(
        "fields[0].default: the default 'USD' is not a value of the map"
    )


# --- lookups -------------------------------------------------------------------------------

ORDERS = """\
system: kingdee
external_entity: SAL_SaleOrder
crm_entity: orders
key: FBillNo
conflict: newest_wins
fields:
  - {crm: number, external: FBillNo}
  - {crm: account_id, external: FCustId.FNumber, lookup: {entity: BD_Customer}}
lines:
  external: FSaleOrderEntry
  crm_entity: order_lines
  parent: order_id
  number: line_no
  fields:
    - {crm: product_id, external: FMaterialId.FNumber, lookup: {entity: BD_MATERIAL}}
    - {crm: quantity, external: FQty}
    - {crm: unit_price, external: FPrice, direction: in, default: 0}
    - {crm: amount, external: FAmount, conflict: source_wins}
"""

ORDER: dict[str, Any] = {
    "FBillNo": "XSDD001",
    "FCustId.FNumber": "CUST0001",
    "FSaleOrderEntry": [
        {"FMaterialId.FNumber": "MAT-1", "FQty": 2, "FPrice": 5, "FAmount": 10},
        {"FMaterialId.FNumber": "MAT-1", "FQty": "1.5", "FPrice": "", "FAmount": 0},
    ],
}
LINKS = DictLookup(
    {
        ("kingdee", "BD_Customer"): {"CUST0001": ACCOUNT},
        ("kingdee", "BD_MATERIAL"): {"MAT-1": PRODUCT},
    }
)


@pytest.fixture
def orders(write: Callable[[str], Path]) -> CompiledMapping:
    return load_mapping(write(ORDERS))


def test_lookups_find_the_linked_records_both_ways(orders: CompiledMapping) -> None:
    values = orders.to_crm(ORDER, LINKS)
    assert values == {"number": "XSDD001", "account_id": ACCOUNT}
    assert orders.to_external(values, None, LINKS) == {
        "FBillNo": "XSDD001",
        "FCustId.FNumber": "CUST0001",
    }
    assert orders.to_crm({"FBillNo": "X", "FCustId.FNumber": ""}, NO_LINKS)["account_id"] is None
    assert orders.to_external({"number": "X", "account_id": None}, None, NO_LINKS) == {
        "FBillNo": "X",
        "FCustId.FNumber": None,
    }


def test_a_missing_link_is_a_lookup_failure(orders: CompiledMapping) -> None:
    with pytest.raises(MappingFailure) as caught:
        orders.to_crm(ORDER, NO_LINKS)
    failure = caught.value
    assert (failure.field, failure.kind) == ("account_id", "lookup")
    assert failure.reason == "account CUST0001 (BD_Customer) is not linked to a CRM record yet"
    assert str(failure) == f"account_id: {failure.reason}"

    with pytest.raises(MappingFailure) as caught:
        orders.to_external({"number": "X", "account_id": ACCOUNT}, None, NO_LINKS)
    assert (caught.value.field, caught.value.kind) == ("FCustId.FNumber", "lookup")
    assert caught.value.reason == (
        f"account {ACCOUNT} is not linked to a BD_Customer record in kingdee yet"
    )


def test_a_missing_link_of_a_line_names_the_line(orders: CompiledMapping) -> None:
    links = DictLookup({("kingdee", "BD_Customer"): {"CUST0001": ACCOUNT}})
    with pytest.raises(MappingFailure) as caught:
        orders.lines_to_crm(ORDER, links)
    assert (caught.value.field, caught.value.kind) == ("order_lines[0].product_id", "lookup")
    assert caught.value.reason == "product MAT-1 (BD_MATERIAL) is not linked to a CRM record yet"
    lines = [{"product_id": UUID(int=7), "quantity": Decimal(1), "amount": Decimal(1)}]
    with pytest.raises(MappingFailure) as caught:
        orders.to_external({"number": "X"}, lines, links)
    assert caught.value.field == "FSaleOrderEntry[0].FMaterialId.FNumber"


def test_references_tell_what_to_prefetch(orders: CompiledMapping) -> None:
    other = {"FBillNo": "2", "FCustId.FNumber": 7, "FSaleOrderEntry": [{"FMaterialId.FNumber": ""}]}
    assert orders.inbound_references([ORDER, other, {"FBillNo": "3"}]) == {
        ("kingdee", "BD_Customer"): {"CUST0001", "7"},
        ("kingdee", "BD_MATERIAL"): {"MAT-1"},
    }
    lines = [[{"product_id": PRODUCT}], None, [{"product_id": str(UUID(int=5))}]]
    assert orders.outbound_references([{"account_id": ACCOUNT}, {"account_id": None}], lines) == {
        ("kingdee", "BD_Customer"): {ACCOUNT},
        ("kingdee", "BD_MATERIAL"): {PRODUCT, UUID(int=5)},
    }


def test_a_lookup_in_another_system(mapping: Loader) -> None:
    m = mapping("- {crm: parent_id, external: HQ, lookup: {entity: res.partner, system: odoo}}")
    links = DictLookup({("odoo", "res.partner"): {"42": ACCOUNT}})
    assert m.to_crm({"HQ": 42}, links) == {"parent_id": ACCOUNT}
    assert m.fields[0].lookup == ("odoo", "res.partner")


# --- lines ---------------------------------------------------------------------------------


def test_lines_are_numbered_in_list_order(orders: CompiledMapping) -> None:
    assert orders.lines_to_crm(ORDER, LINKS) == [
        {
            "product_id": PRODUCT,
            "quantity": Decimal("2.0000"),
            "unit_price": Decimal("5.0000"),
            "amount": Decimal("10.0000"),
            "line_no": 1,
        },
        {
            "product_id": PRODUCT,
            "quantity": Decimal("1.5000"),
            "unit_price": Decimal("0.0000"),
            "amount": Decimal("0.0000"),
            "line_no": 2,
        },
    ]
    assert orders.lines_to_crm({**ORDER, "FSaleOrderEntry": []}, LINKS) == []
    assert orders.lines_to_crm({"FBillNo": "X"}, LINKS) is None


def test_the_lines_of_a_mapping(orders: CompiledMapping) -> None:
    lines = orders.lines
    assert lines is not None
    assert (lines.crm_entity, lines.external, lines.parent, lines.number) == (
        "order_lines",
        "FSaleOrderEntry",
        "order_id",
        "line_no",
    )
    assert lines.inbound_fields == ("product_id", "quantity", "unit_price", "amount", "line_no")
    assert lines.outbound_fields == ("product_id", "quantity", "amount", "line_no")
    assert orders.rule_for("order_lines.amount") is ConflictRule.SOURCE_WINS
    assert orders.rule_for("order_lines.quantity") is ConflictRule.NEWEST_WINS


def test_lines_go_out_in_number_order(orders: CompiledMapping) -> None:
    lines: list[dict[str, Any]] = [
        {"line_no": 2, "product_id": PRODUCT, "quantity": Decimal(3), "amount": Decimal(9)},
        {"line_no": 1, "product_id": None, "quantity": Decimal(1), "amount": Decimal(2)},
    ]
    external = orders.to_external({"number": "X", "account_id": None}, lines, LINKS)
    assert external["FSaleOrderEntry"] == [
        {"FMaterialId.FNumber": None, "FQty": Decimal(1), "FAmount": Decimal(2)},
        {"FMaterialId.FNumber": "MAT-1", "FQty": Decimal(3), "FAmount": Decimal(9)},
    ]
    assert "FSaleOrderEntry" not in orders.to_external({"number": "X"}, None, LINKS)


def test_a_bad_line_names_its_index(orders: CompiledMapping) -> None:
    bad = {**ORDER, "FSaleOrderEntry": [*ORDER["FSaleOrderEntry"], {"FQty": "lots"}]}
    with pytest.raises(MappingFailure) as caught:
        orders.lines_to_crm(bad, LINKS)
    assert (caught.value.field, caught.value.kind) == ("order_lines[2].quantity", "invalid")
    assert caught.value.reason == "'lots' is not a number"
    with pytest.raises(MappingFailure) as caught:
        orders.lines_to_crm({"FSaleOrderEntry": "nope"}, LINKS)
    assert caught.value.field == "FSaleOrderEntry"


# --- templates and constants ------------------------------------------------------------------


def test_an_out_template_reads_crm_fields(mapping: Loader) -> None:
    m = mapping(
        """\
        - {external: FDescription, direction: out, template: "{name} ({city}) {{VIP}}"}
        - {crm: name, external: FName, direction: in}
        """
    )
    assert m.outbound_fields == ("name", "city")
    values = {"name": "华信", "city": "杭州"}
    assert m.to_external(values, None, NO_LINKS) == {"FDescription": "华信 (杭州) {VIP}"}
    assert m.to_external({"name": "华信"}, None, NO_LINKS) == {"FDescription": "华信 () {VIP}"}
    assert m.fields[0].crm is None


def test_an_in_template_reads_external_fields(mapping: Loader) -> None:
    m = mapping(
        """\
        - crm: address
          direction: in
          template: "{FProvince.FName}{FCity} {FStreet}"
          transforms: [strip]
        """
    )
    record = {"FProvince.FName": "浙江省", "FCity": "杭州市", "FStreet": "文三路 90 号"}
    assert m.to_crm(record, NO_LINKS) == {"address": "浙江省杭州市 文三路 90 号"}
    assert m.to_crm({}, NO_LINKS) == {"address": None}


def test_constants_go_one_way(mapping: Loader) -> None:
    m = mapping(
        """\
        - {external: FCreateOrgId.FNumber, direction: out, value: "100"}
        - {crm: source, direction: in, value: kingdee}
        """
    )
    assert m.to_crm({"FCreateOrgId.FNumber": "999"}, NO_LINKS) == {"source": "kingdee"}
    assert m.to_external({"source": "x"}, None, NO_LINKS) == {"FCreateOrgId.FNumber": "100"}
    assert m.inbound_fields == ("source",)
    assert m.outbound_fields == ()


# --- custom fields -------------------------------------------------------------------------


def test_custom_fields_keep_their_own_key(mapping: Loader) -> None:
    m = mapping(
        """\
        - {crm: custom.region, external: FPROVINCIAL}
        - {crm: custom.credit_limit, external: FCreditLimit, cast: decimal}
        - {crm: custom.since, external: FSince, cast: date, direction: in}
        - {crm: custom.vip, external: FVip, cast: bool}
        """
    )
    record = {"FPROVINCIAL": "华东", "FCreditLimit": 50000.5, "FSince": "2020/03/01", "FVip": "Y"}
    values = m.to_crm(record, NO_LINKS)
    assert values == {
        "custom.region": "华东",
        "custom.credit_limit": "50000.5",
        "custom.since": "2020-03-01",
        "custom.vip": True,
    }
    assert m.inbound_fields == (
        "custom.region",
        "custom.credit_limit",
        "custom.since",
        "custom.vip",
    )
    expected = {"FPROVINCIAL": "华东", "FCreditLimit": Decimal("50000.5"), "FVip": True}
    assert m.to_external(values, None, NO_LINKS) == expected
    stored = {"custom": {"region": "华东", "credit_limit": "50000.5", "vip": True}}
    assert m.to_external(stored, None, NO_LINKS) == expected
    assert m.to_crm({"FPROVINCIAL": ""}, NO_LINKS)["custom.region"] is None


def test_any_field_name_is_just_a_name(write: Callable[[str], Path]) -> None:
    """Names reach the compiled code only as literals: quotes, backslashes and line breaks in
    them are text, never code."""
    odd = "F'x\\\"\n');import os;('"
    crm = f"custom.{odd}"
    fields = f"fields:\n  - crm: {json.dumps(crm)}\n    external: {json.dumps(odd)}\n"
    m = load_mapping(write(HEADER + fields))
    assert (m.fields[0].crm, m.fields[0].external) == (crm, odd)
    assert m.to_crm({odd: "v"}, NO_LINKS) == {crm: "v"}
    assert m.to_external({crm: "w"}, None, NO_LINKS) == {odd: "w"}


def test_a_custom_field_keeps_json_values_as_they_are(
    mapping: Loader,
) -> None:
    m = mapping("- {crm: custom.tags, external: FTags}")
    assert m.to_crm({"FTags": ["a", "b"]}, NO_LINKS) == {"custom.tags": ["a", "b"]}


# --- casting to the column types -------------------------------------------------------------


def one_field(mapping: Loader, crm: str, extra: str = "") -> Any:
    """A function mapping one external value to the CRM value of ``crm`` (an accounts, leads
    or orders column: ``orders.total_amount``)."""
    entity, _, field = crm.rpartition(".")
    header = HEADER.replace("accounts", entity) + "timezone: Asia/Shanghai\n"
    m = mapping(f"- {{crm: {field}, external: X, direction: in{extra}}}\n", header=header)

    def convert(value: Any) -> Any:
        return m.to_crm({"X": value}, NO_LINKS)[field]

    return convert


def fails(convert: Callable[[Any], Any], value: Any) -> str:
    with pytest.raises(MappingFailure) as caught:
        convert(value)
    assert caught.value.kind == "invalid"
    return caught.value.reason


def test_text_columns(mapping: Loader) -> None:
    phone = one_field(mapping, "accounts.phone")  # String(64)
    assert phone("0571") == "0571"
    assert phone(13812345678) == "13812345678"
    assert phone("") is None
    assert phone(None) is None
    reason = fails(phone, "1" * 65)
    assert reason.endswith("... is 65 characters long; accounts.phone holds at most 64")
    assert "is not text" in fails(phone, {"a": 1})
    assert one_field(mapping, "accounts.description")("x" * 10_000) == "x" * 10_000  # Text


def test_a_required_column_must_get_a_value(mapping: Loader) -> None:
    name = one_field(mapping, "accounts.name")
    assert fails(name, "") == "no value, and accounts.name needs one"
    assert one_field(mapping, "accounts.name", ", default: 无名")("") == "无名"


def test_a_column_of_a_closed_set(mapping: Loader) -> None:
    status = one_field(mapping, "orders.status")
    assert status("confirmed") is OrderStatus.CONFIRMED
    assert "is not one of orders.status's values" in fails(status, "shipped")


def test_integer_columns(mapping: Loader) -> None:
    score = one_field(mapping, "leads.score")
    assert [score(value) for value in (7, "7", " 8 ", 9.0, Decimal("10.00"), "", None)] == [
        7,
        7,
        8,
        9,
        10,
        None,
        None,
    ]
    assert fails(score, 7.5) == "7.5 is not a whole number"
    assert fails(score, "seven") == "'seven' is not a number"
    assert fails(score, True) == "True is not a number"


def test_decimal_columns_are_exact(mapping: Loader) -> None:
    total = one_field(mapping, "orders.total_amount")  # ExactDecimal(20, 4)
    assert total(1130.1) == Decimal("1130.1000")  # from the text of the float, not its binary
    assert str(total("0.30")) == "0.3000"
    assert total(12) == Decimal("12.0000")
    assert total("-5.5") == Decimal("-5.5000")
    assert total("") is None
    assert fails(total, "1.23456") == (
        "'1.23456' has more than 4 decimal places, which orders.total_amount keeps"
    )
    assert fails(total, "1" * 17) == (
        f"'{'1' * 17}' is too large for orders.total_amount (at most 16 digits before the point)"
    )
    assert fails(total, "NaN") == "'NaN' is not a finite number"
    assert fails(total, "12 元") == "'12 元' is not a number"


def test_boolean_columns(mapping: Loader) -> None:
    active = one_field(mapping, "products.is_active", ", default: true")
    for value in (True, 1, "1", "true", "Y", "yes", "on"):
        assert active(value) is True
    for value in (False, 0, "0", "false", "N", "no", "off"):
        assert active(value) is False
    assert active("") is True  # the default
    assert "is not a yes/no value" in fails(active, "maybe")


def test_date_columns(mapping: Loader) -> None:
    order_date = one_field(mapping, "orders.order_date")
    day = date(2026, 11, 25)
    assert order_date("2026-11-25") == day
    assert order_date("2026/11/25") == day
    assert order_date("2026-11-25T00:00:00") == day
    assert order_date("2026-11-24T20:00:00Z") == day  # 04:00 on the 25th in Shanghai
    assert order_date(day) == day
    assert order_date("") is None
    assert fails(order_date, "25.11.2026") == "'25.11.2026' is not a date (YYYY-MM-DD)"


def test_datetime_columns_are_aware_utc(mapping: Loader) -> None:
    closed_at = one_field(mapping, "opportunities.closed_at")
    utc = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert closed_at("2026-11-25T10:00:00") == utc  # local time in the mapping's time zone
    assert closed_at("2026-11-25T10:00:00+08:00") == utc
    assert closed_at("2026-11-25T02:00:00Z") == utc
    eastern = timezone(timedelta(hours=-5))
    assert closed_at(datetime(2026, 11, 24, 21, tzinfo=eastern)) == utc
    assert closed_at(datetime(2026, 11, 25, 10)) == utc  # noqa: DTZ001 - a naive local time
    assert closed_at("2026-11-25T10:00:00").tzinfo is UTC
    assert "is not a date and time" in fails(closed_at, "soon")


def test_record_id_columns(mapping: Loader) -> None:
    parent = one_field(mapping, "accounts.parent_id")
    assert parent(str(ACCOUNT)) == ACCOUNT
    assert parent(ACCOUNT) == ACCOUNT
    assert "is not a record id" in fails(parent, "CUST0001")


def test_outbound_values_are_json_friendly(mapping: Loader) -> None:
    header = HEADER.replace("accounts", "opportunities") + "timezone: Asia/Shanghai\n"
    m = mapping(
        """\
        - {crm: name, external: N}
        - {crm: amount, external: A}
        - {crm: expected_close_date, external: D}
        - {crm: closed_at, external: T}
        - {crm: account_id, external: ACC, direction: out}
        - {crm: probability, external: P}
        """,
        header=header,
    )
    values = {
        "name": "扩容项目",
        "amount": Decimal("120000.5000"),
        "expected_close_date": date(2026, 12, 31),
        "closed_at": datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
        "account_id": ACCOUNT,
        "probability": 60,
    }
    assert m.to_external(values, None, NO_LINKS) == {
        "N": "扩容项目",
        "A": Decimal("120000.5000"),
        "D": "2026-12-31",
        "T": "2026-11-25T10:00:00",
        "ACC": str(ACCOUNT),
        "P": 60,
    }


def test_scale_is_exact_both_ways(mapping: Loader) -> None:
    header = HEADER.replace("accounts", "products")
    m = mapping("- {crm: tax_rate, external: FTaxRate, scale: 0.01}\n", header=header)
    assert m.to_crm({"FTaxRate": 13}, NO_LINKS) == {"tax_rate": Decimal("0.130000")}
    assert m.to_crm({"FTaxRate": 6.5}, NO_LINKS) == {"tax_rate": Decimal("0.065000")}
    assert m.to_crm({"FTaxRate": ""}, NO_LINKS) == {"tax_rate": None}
    assert m.to_external({"tax_rate": Decimal("0.13")}, None, NO_LINKS) == {"FTaxRate": Decimal(13)}
    back = m.to_external({"tax_rate": Decimal("0.065000")}, None, NO_LINKS)["FTaxRate"]
    assert back == Decimal("6.5")


# --- the escape hatch ------------------------------------------------------------------------


def test_function_and_reverse(
    mapping: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_transforms.py").write_text(
        "def clean_url(value):\n"
        "    return value.removeprefix('http://') if value else value\n"
        "def dirty_url(value):\n"
        "    return 'http://' + value if value else value\n"
        "def broken(value):\n"
        "    raise KeyError(value)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    m = mapping(
        """\
        - crm: website
          external: FWEBSITE
          function: "my_transforms:clean_url"
          reverse: "my_transforms:dirty_url"
          transforms: [lower]
        - {crm: description, external: FD, direction: in, function: "my_transforms:broken"}
        """
    )
    assert m.to_crm({"FWEBSITE": "http://ACME.com", "FD": None}, NO_LINKS) == {
        "website": "acme.com",  # function, then the transforms
        "description": None,  # a function is not called for a missing value
    }
    assert m.to_external({"website": "acme.com"}, None, NO_LINKS) == {"FWEBSITE": "http://acme.com"}
    with pytest.raises(MappingFailure) as caught:
        m.to_crm({"FWEBSITE": "", "FD": "x"}, NO_LINKS)
    assert caught.value.field == "description"
    assert caught.value.reason == "my_transforms:broken failed on 'x': 'x'"


# --- the lookup of tests and previews ---------------------------------------------------------


def test_dict_lookup() -> None:
    links = DictLookup({("kingdee", "BD_Customer"): {"CUST0001": ACCOUNT}})
    links.link("kingdee", "BD_MATERIAL", "MAT-1", PRODUCT)
    assert links.crm_id("kingdee", "BD_Customer", "CUST0001") == ACCOUNT
    assert links.crm_id("kingdee", "BD_Customer", "CUST0002") is None
    assert links.crm_id("odoo", "BD_Customer", "CUST0001") is None
    assert links.external_id("kingdee", "BD_MATERIAL", PRODUCT) == "MAT-1"
    assert links.external_id("kingdee", "BD_Customer", PRODUCT) is None
