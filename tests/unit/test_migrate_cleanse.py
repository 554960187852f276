"""The cleansers of ``tongbu migrate``: every accepted and every refused form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm_core.dedup._normalise import normalise_email as dedup_email
from crm_core.dedup._normalise import normalise_phone as dedup_phone
from crm_core.migrate import (
    halfwidth,
    normalise_email,
    normalise_phone,
    parse_amount,
    parse_date,
    squeeze,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  杭州  华信 ", "杭州 华信"),
        ("杭州\u3000\u3000华信", "杭州 华信"),
        ("a\t\nb\xa0c", "a b c"),
        ("\u200b华信\ufeff", "华信"),
        ("plain", "plain"),
        ("", None),
        ("   \u3000 ", None),
        (None, None),
    ],
)
def test_squeeze(text: str | None, expected: str | None) -> None:
    assert squeeze(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),
        ("华信（杭州）有限公司", "华信(杭州)有限公司"),
        ("ｚｈａｎｇ＠ｈｚ．ｃｏｍ", "zhang@hz.com"),
        ("１\u3000２", "1 2"),
        ("￥１，２３４", "¥1,234"),
        ("①号楼", "①号楼"),  # only the width forms are folded, not every compatibility form
        ("。、", "。、"),  # CJK punctuation stays as written
        ("ascii", "ascii"),
        ("", None),
        (None, None),
    ],
)
def test_halfwidth(text: str | None, expected: str | None) -> None:
    assert halfwidth(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024年3月5日", dt.date(2024, 3, 5)),
        ("2024年03月05日", dt.date(2024, 3, 5)),
        ("2024 年 3 月 5 日", dt.date(2024, 3, 5)),
        ("2024年3月5号", dt.date(2024, 3, 5)),
        ("２０２４年３月５日", dt.date(2024, 3, 5)),
        ("2024/3/5", dt.date(2024, 3, 5)),
        ("2024/03/05", dt.date(2024, 3, 5)),
        ("2024-03-05", dt.date(2024, 3, 5)),
        ("2024-3-5", dt.date(2024, 3, 5)),
        ("2024.3.5", dt.date(2024, 3, 5)),
        ("20240305", dt.date(2024, 3, 5)),
        ("2024-03-05 14:30", dt.date(2024, 3, 5)),
        ("2024-03-05 14:30:59", dt.date(2024, 3, 5)),
        ("2024-03-05T14:30:59.123", dt.date(2024, 3, 5)),
        ("2024/3/5 9:05", dt.date(2024, 3, 5)),
        ("  2024-03-05  ", dt.date(2024, 3, 5)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_date_accepts(text: str | None, expected: dt.date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("5/3/2024", "ambiguous"),
        ("05-03-2024", "ambiguous"),
        ("12.31.2024", "ambiguous"),
        ("2024-02-30", "not a calendar date"),
        ("2023-02-29", "not a calendar date"),
        ("2024-13-01", "not a calendar date"),
        ("20241301", "not a calendar date"),
        ("2024-03/05", "not a date"),
        ("2024年3月", "not a date"),
        ("March 5, 2024", "not a date"),
        ("45356", "not a date"),  # Excel serial numbers are not dates here
        ("2024-03-05 noon", "not a date"),
        ("昨天", "not a date"),
    ],
)
def test_parse_date_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234", Decimal("1234")),
        ("1,234.50", Decimal("1234.50")),
        ("1,234,567.89", Decimal("1234567.89")),
        ("¥1,234.50", Decimal("1234.50")),
        ("￥1234", Decimal("1234")),
        ("￥１，２３４．５", Decimal("1234.5")),
        ("RMB 1,234", Decimal("1234")),
        ("rmb1234", Decimal("1234")),
        ("CNY 99.9", Decimal("99.9")),
        ("1234元", Decimal("1234")),
        ("-1,234.5", Decimal("-1234.5")),
        ("+12", Decimal("12")),
        ("-¥1,234", Decimal("-1234")),
        ("¥-1,234", Decimal("-1234")),
        ("(1,234.00)", Decimal("-1234.00")),
        ("（1,234.00）", Decimal("-1234.00")),
        ("(¥1,234.00)", Decimal("-1234.00")),
        ("1.2万", Decimal("12000")),
        ("1.2万元", Decimal("12000")),
        ("3亿", Decimal("300000000")),
        ("0.05亿", Decimal("5000000")),
        ("¥ 1,000万", Decimal("10000000")),
        ("0", Decimal("0")),
        ("0.10", Decimal("0.10")),
        ("", None),
        (" ", None),
        (None, None),
    ],
)
def test_parse_amount_accepts(text: str | None, expected: Decimal | None) -> None:
    value = parse_amount(text)
    assert value == expected
    assert value is None or isinstance(value, Decimal)


def test_parse_amount_keeps_the_digits_as_written() -> None:
    assert str(parse_amount("1,234.50")) == "1234.50"
    assert str(parse_amount("0.1")) == "0.1"  # never through a float


@pytest.mark.parametrize(
    "text",
    [
        "1,23",
        "1,2345",
        "12,34.5",
        ",123",
        "1,234,",
        "1 234,50",
        "1.234,50",
        "1234,50",
        "1.2.3",
        ".5",
        "5.",
        "abc",
        "-",
        "¥",
        "()",
        "--5",
        "$100",
        "USD 100",
        "1e5",
        "NaN",
        "Infinity",
        "1.2千",
        "万",
    ],
)
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount(text)


def test_phone_and_email_normalisers_are_the_dedup_ones() -> None:
    assert normalise_phone is dedup_phone
    assert normalise_email is dedup_email
    assert normalise_phone("+86 138 0013 8000") == "+8613800138000"
    assert normalise_email(" Zhang.Wei@HZ.com ") == "zhang.wei@hz.com"
