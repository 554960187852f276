"""The cleansing transforms of the mapping language (``date``, ``amount``, ``credit_code``), as a
migration uses them: through a compiled mapping, into columns of their type and custom fields,
and the failures that send a record to quarantine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest

import crm_core._cleanse
import crm_core.migrate
from crm_core._credit_code import credit_code_check_char
from crm_core.errors import InvalidInput
from crm_core.mapping import (
    TRANSFORMS,
    CompiledMapping,
    DictLookup,
    MappingError,
    MappingFailure,
    load_mapping,
)

NO_LINKS = DictLookup()
CODE = "91330100MA27XL6J0G"
"""A unified social credit code with a correct check character."""

DEALS = """\
system: legacy
external_entity: deals
crm_entity: opportunities
key: ID
conflict: source_wins
timezone: Asia/Shanghai
"""
COMPANIES = """\
system: legacy
external_entity: companies
crm_entity: accounts
key: ID
conflict: source_wins
"""


class Loader(Protocol):
    def __call__(self, fields: str, header: str = DEALS) -> CompiledMapping: ...


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """Write a mapping file; returns its path."""
    counter = iter(range(1000))

    def write_file(text: str) -> Path:
        path = tmp_path / f"mapping{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def mapping(write: Callable[[str], Path]) -> Loader:
    """Load a mapping with these fields (YAML, a list), of opportunities unless ``header`` says."""

    def load(fields: str, header: str = DEALS) -> CompiledMapping:
        return load_mapping(
            write(header + "fields:\n" + textwrap.indent(textwrap.dedent(fields), "  "))
        )

    return load


def failure_of(m: CompiledMapping, record: dict[str, Any]) -> MappingFailure:
    with pytest.raises(MappingFailure) as caught:
        m.to_crm(record, NO_LINKS)
    return caught.value


EMPTY = [None, "", "   ", "\u3000"]


# --- date --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024年3月5日", date(2024, 3, 5)),
        ("2024 年 3 月 5 号", date(2024, 3, 5)),
        ("２０２４年３月５日", date(2024, 3, 5)),
        ("2024/3/5", date(2024, 3, 5)),
        ("2024-03-05", date(2024, 3, 5)),
        ("2024.3.5", date(2024, 3, 5)),
        ("20240305", date(2024, 3, 5)),
        (" 2024-03-05 14:30 ", date(2024, 3, 5)),
        ("2024-03-05T14:30:15.123", date(2024, 3, 5)),
        (date(2024, 3, 5), date(2024, 3, 5)),  # from a SQL source: as it is
        (datetime(2024, 3, 5, 23, 59), date(2024, 3, 5)),  # noqa: DTZ001 - naive, as SQL gives it
        (20240305, date(2024, 3, 5)),  # a legacy number column
        *((empty, None) for empty in EMPTY),
    ],
)
def test_date_into_a_date_column(mapping: Loader, raw: Any, expected: date | None) -> None:
    m = mapping("- {crm: expected_close_date, external: CloseDate, transforms: [date]}")
    assert m.to_crm({"CloseDate": raw}, NO_LINKS) == {"expected_close_date": expected}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("5/3/2024", "ambiguous date '5/3/2024': day and month order unknown, write YYYY-MM-DD"),
        ("2024-02-30", "not a calendar date: '2024-02-30'"),
        ("2024年13月1日", "not a calendar date: '2024年13月1日'"),
        ("yesterday", "not a date: 'yesterday'"),
        ("2024-3", "not a date: '2024-3'"),
        (45356, "not a date: '45356'"),  # an Excel serial number is not guessed at
    ],
)
def test_date_failures_name_the_field(mapping: Loader, raw: Any, reason: str) -> None:
    m = mapping(
        """\
        - {crm: name, external: Name}
        - {crm: expected_close_date, external: CloseDate, transforms: [date]}
        """
    )
    failure = failure_of(m, {"Name": "Deal", "CloseDate": raw})
    assert (failure.field, failure.reason, failure.kind) == (
        "expected_close_date",
        reason,
        "invalid",
    )
    assert str(failure) == f"expected_close_date: {reason}"
    assert isinstance(failure, InvalidInput)


def test_date_into_a_date_time_column_is_midnight_in_the_mapping_time_zone(
    mapping: Loader,
) -> None:
    m = mapping("- {crm: closed_at, external: Closed, transforms: [date]}")
    moment = m.to_crm({"Closed": "2024年3月5日"}, NO_LINKS)["closed_at"]
    assert moment == datetime(2024, 3, 4, 16, tzinfo=UTC)  # 00:00 in Shanghai


def test_date_goes_out_as_stored(mapping: Loader) -> None:
    m = mapping("- {crm: expected_close_date, external: CloseDate, transforms: [date]}")
    values = m.to_crm({"CloseDate": "2024年3月5日"}, NO_LINKS)
    assert m.to_external(values, None, NO_LINKS) == {"CloseDate": "2024-03-05"}
    assert m.to_external({"expected_close_date": None}, None, NO_LINKS) == {"CloseDate": None}


# --- amount ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", "1234.5000"),
        ("¥1,234.50", "1234.5000"),
        ("￥1234", "1234.0000"),
        ("RMB 1,234", "1234.0000"),
        ("cny1234", "1234.0000"),
        ("1234元", "1234.0000"),
        ("-1,234.5", "-1234.5000"),
        ("-¥1,234", "-1234.0000"),
        ("(1,234.00)", "-1234.0000"),
        ("1.2万", "12000.0000"),
        ("3亿", "300000000.0000"),
        ("１，２３４．５", "1234.5000"),
        (1234, "1234.0000"),
        (11.3, "11.3000"),  # through its text, never binary floating point
        (Decimal("5.25"), "5.2500"),
    ],
)
def test_amount_into_a_money_column(mapping: Loader, raw: Any, expected: str) -> None:
    m = mapping("- {crm: amount, external: Amount, transforms: [amount]}")
    value = m.to_crm({"Amount": raw}, NO_LINKS)["amount"]
    assert isinstance(value, Decimal)
    assert str(value) == expected  # exact, at the column's scale


@pytest.mark.parametrize("raw", EMPTY)
def test_an_empty_amount_is_none(mapping: Loader, raw: Any) -> None:
    m = mapping("- {crm: amount, external: Amount, transforms: [amount]}")
    assert m.to_crm({"Amount": raw}, NO_LINKS) == {"amount": None}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12,34", "not an amount: '12,34'"),
        ("1.234,50", "not an amount: '1.234,50'"),
        ("about 100", "not an amount: 'about 100'"),
        ("N/A", "not an amount: 'N/A'"),
        (float("nan"), "not an amount: nan"),
        # the amount is clean, but the column keeps 4 decimal places: the cast refuses it
        (
            "1.23456",
            "Decimal('1.23456') has more than 4 decimal places, which opportunities.amount keeps",
        ),
    ],
)
def test_amount_failures_name_the_field(mapping: Loader, raw: Any, reason: str) -> None:
    m = mapping(
        """\
        - {crm: name, external: Name}
        - {crm: amount, external: Amount, transforms: [amount]}
        """
    )
    failure = failure_of(m, {"Name": "Deal", "Amount": raw})
    assert (failure.field, failure.reason, failure.kind) == ("amount", reason, "invalid")


def test_amount_into_an_integer_column(mapping: Loader) -> None:
    m = mapping("- {crm: probability, external: P, transforms: [amount]}")
    assert m.to_crm({"P": " 80 "}, NO_LINKS) == {"probability": 80}
    assert m.to_crm({"P": "1万"}, NO_LINKS) == {"probability": 10000}
    failure = failure_of(m, {"P": "7.5"})
    assert (failure.field, failure.reason) == (
        "probability",
        "Decimal('7.5') is not a whole number",
    )


def test_amount_goes_out_as_stored(mapping: Loader) -> None:
    m = mapping("- {crm: amount, external: Amount, transforms: [amount]}")
    values = m.to_crm({"Amount": "¥1,234.50"}, NO_LINKS)
    assert m.to_external(values, None, NO_LINKS) == {"Amount": Decimal("1234.5000")}


# --- credit_code -------------------------------------------------------------------------------


def test_the_codes_here_are_valid_and_the_wrong_ones_wrong() -> None:
    assert credit_code_check_char(CODE[:17]) == CODE[17] != "H"
    assert credit_code_check_char("91110000100000000") == "R"
    assert credit_code_check_char("91330100MA72XL6J0") != "G"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (CODE, CODE),
        (f"  {CODE.lower()}  ", CODE),
        ("9133 0100 MA27 XL6J 0G", CODE),
        ("９１３３０１００ＭＡ２７ＸＬ６Ｊ０Ｇ", CODE),
        ("91330100\u3000MA27XL6J0G", CODE),
        ("91110000100000000R", "91110000100000000R"),
        *((empty, None) for empty in EMPTY),
    ],
)
def test_credit_code_into_a_text_column(mapping: Loader, raw: Any, expected: str | None) -> None:
    m = mapping("- {crm: credit_code, external: USCC, transforms: [credit_code]}", COMPANIES)
    assert m.to_crm({"USCC": raw}, NO_LINKS) == {"credit_code": expected}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("N/A", "'N/A' is not a credit code (18 characters expected, not 3)"),
        (" n/a ", "'n/a' is not a credit code (18 characters expected, not 3)"),
        (CODE[:16], "'91330100MA27XL6J' is not a credit code (18 characters expected, not 16)"),
        (CODE + "1", f"'{CODE}1' is not a credit code (18 characters expected, not 19)"),
        (
            "91330100MA27XO6J0G",
            "'91330100MA27XO6J0G' is not a credit code ('O' not allowed: only digits and capital "
            "letters other than I, O, S, V and Z)",
        ),
        (
            "91330100MA27中L6J0G",
            "'91330100MA27中L6J0G' is not a credit code ('中' not allowed: only digits and capital "
            "letters other than I, O, S, V and Z)",
        ),
        (CODE[:17] + "H", "credit code '91330100MA27XL6J0H' fails its check character"),
        (" 91330100 ma27xl6j0h", "credit code '91330100 ma27xl6j0h' fails its check character"),
        ("91330100MA72XL6J0G", "credit code '91330100MA72XL6J0G' fails its check character"),
    ],
)
def test_credit_code_failures_name_the_field(mapping: Loader, raw: str, reason: str) -> None:
    m = mapping(
        """\
        - {crm: name, external: Name}
        - {crm: credit_code, external: USCC, transforms: [credit_code]}
        """,
        COMPANIES,
    )
    failure = failure_of(m, {"Name": "华信", "USCC": raw})
    assert (failure.field, failure.reason, failure.kind) == ("credit_code", reason, "invalid")
    assert str(failure) == f"credit_code: {reason}"


def test_credit_code_goes_out_as_stored(mapping: Loader) -> None:
    m = mapping("- {crm: credit_code, external: USCC, transforms: [credit_code]}", COMPANIES)
    assert m.to_external({"credit_code": CODE}, None, NO_LINKS) == {"USCC": CODE}
    assert m.to_external({"credit_code": None}, None, NO_LINKS) == {"USCC": None}


# --- together ----------------------------------------------------------------------------------


def test_custom_fields_keep_cleansed_values_as_json_text(mapping: Loader) -> None:
    m = mapping(
        """\
        - {crm: custom.signed_on, external: Signed, cast: date, transforms: [date]}
        - {crm: custom.budget, external: Budget, cast: decimal, transforms: [amount]}
        - {crm: custom.uscc, external: USCC, transforms: [credit_code]}
        """
    )
    record = {"Signed": "2024年3月5日", "Budget": "¥1.2万", "USCC": CODE.lower()}
    values = m.to_crm(record, NO_LINKS)
    assert values == {
        "custom.signed_on": "2024-03-05",
        "custom.budget": "12000.0",
        "custom.uscc": CODE,
    }
    assert m.to_external(values, None, NO_LINKS) == {
        "Signed": "2024-03-05",
        "Budget": Decimal("12000.0"),
        "USCC": CODE,
    }
    failure = failure_of(m, {"Signed": "2024/02/30"})
    assert (failure.field, failure.reason) == (
        "custom.signed_on",
        "not a calendar date: '2024/02/30'",
    )


def test_a_record_of_migrated_values(mapping: Loader) -> None:
    """The cleansers after other transforms, and the first field that fails names itself."""
    m = mapping(
        """\
        - {crm: name, external: Name, transforms: [squash]}
        - {crm: amount, external: Amount, transforms: [strip, amount]}
        - {crm: expected_close_date, external: CloseDate, transforms: [date]}
        - {crm: probability, external: P, transforms: [amount], default: 10}
        """
    )
    record = {"Name": " 年度  框架 ", "Amount": " (5,000) ", "CloseDate": "2024.12.31"}
    assert m.to_crm(record, NO_LINKS) == {
        "name": "年度 框架",
        "amount": Decimal("-5000.0000"),
        "expected_close_date": date(2024, 12, 31),
        "probability": 10,
    }
    failure = failure_of(m, {**record, "CloseDate": "31/12/2024", "P": "x"})
    assert failure.field == "expected_close_date"
    assert failure.reason.startswith("ambiguous date '31/12/2024'")


def test_each_cleanser_both_ways_on_its_own() -> None:
    for name in ("date", "amount", "credit_code"):
        transform = TRANSFORMS[name]
        for empty in EMPTY:
            assert transform.to_crm(empty) is None
        for value in (None, "anything", Decimal("1.5"), date(2024, 3, 5)):
            assert transform.to_external(value) is value
    assert TRANSFORMS["amount"].to_crm(True) is True  # not a number: the cast says so
    assert TRANSFORMS["credit_code"].to_crm(date(2024, 3, 5)) == date(2024, 3, 5)


def test_an_unknown_transform_lists_the_cleansers(write: Callable[[str], Path]) -> None:
    path = write(DEALS + "fields:\n  - {crm: amount, external: Amount, transforms: [money]}\n")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert caught.value.problems == (
        f"{path}, line 8, fields[0].transforms[0]: unknown transform 'money' (known: strip, "
        "squash, upper, lower, halfwidth, email, phone, date, amount, credit_code)",
    )


def test_migrate_re_exports_the_neutral_cleansers() -> None:
    for name in ("squeeze", "halfwidth", "parse_date", "parse_amount"):
        assert getattr(crm_core.migrate, name) is getattr(crm_core._cleanse, name)


def test_the_mapping_language_imports_neither_migrate_nor_dedup() -> None:
    """crm_core.migrate will import the mapping language, and the dedup package is heavy."""
    code = (
        "import sys, crm_core.mapping; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy' "
        "or m.startswith(('crm_core.migrate', 'crm_core.dedup'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
