"""Search tokens and query plans."""

from __future__ import annotations

import json
import re
from pathlib import Path

import phonenumbers
import pytest

from crm_core import sample
from crm_core.search._tokens import email_tokens, phone_digits, plan_query, text_tokens


def test_chinese_names_become_overlapping_bigrams() -> None:
    assert text_tokens("杭州华信") == ["杭州", "州华", "华信"]
    assert text_tokens("张") == ["张"]


def test_mixed_text_keeps_words_whole_and_folds_width_and_case() -> None:
    assert text_tokens("ＡＣＭＥ Robotics 华信") == ["华信", "acme", "robotics"]
    assert text_tokens("Sakura Trading Co., Ltd.") == ["sakura", "trading", "co", "ltd"]


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("(0571) 8765 4321", "57187654321"),
        ("+86 571 8765 4321", "57187654321"),
        ("0571-87654321", "57187654321"),
        ("+1 415 555 0132", "4155550132"),
        ("0571-8765 4321 转802", "57187654321"),
        ("+1 415 555 0132 ext. 204", "4155550132"),
        ("", None),
        (None, None),
    ],
)
def test_phones_reduce_to_their_national_number(raw: str | None, digits: str | None) -> None:
    assert phone_digits(raw) == digits


def test_emails_are_indexed_whole_by_domain_and_by_word() -> None:
    assert email_tokens(" Zhang.Wei@HZhuaxin.com.cn ") == [
        "zhang.wei@hzhuaxin.com.cn",
        "zhang",
        "wei",
        "hzhuaxin.com.cn",
        "hzhuaxin",
    ]


def test_query_plans() -> None:
    text = plan_query("华信电子")
    assert text is not None
    assert (text.kind, text.lookups) == (
        "text",
        ((("华信", False), ("信电", False), ("电子", False)),),
    )
    single = plan_query("华")
    assert single is not None
    assert single.lookups == ((("华", True),),)
    phone = plan_query("+86 138 0013 8000")
    assert phone is not None
    assert (phone.kind, phone.text) == ("phone", "13800138000")
    email = plan_query("Info@HZhuaxin")
    assert email is not None
    assert (email.kind, email.text) == ("email", "info@hzhuaxin")
    assert plan_query("  ") is None
    assert plan_query("？！") is None


def test_the_fast_path_agrees_with_the_full_phone_parser() -> None:
    """Every phone of the bundled sample gives what phonenumbers gives, extensions left out."""
    data = json.loads(Path(sample.__file__).with_name("sample_crm.json").read_text("utf-8"))
    phones = [account["phone"] for account in data["accounts"]]
    phones += [c[k] for a in data["accounts"] for c in a["contacts"] for k in ("phone", "mobile")]
    phones += [lead[k] for lead in data["leads"] for k in ("phone", "mobile")]
    for phone in filter(None, phones):
        main_number = re.split(r"\s*(?:转|ext\.)\s*", phone)[0]
        expected = str(phonenumbers.parse(main_number, "CN").national_number)
        assert phone_digits(phone) == expected, phone
