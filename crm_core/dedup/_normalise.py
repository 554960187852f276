"""The normalisers of the dedup engine: each turns one field of a record into the form that
comparisons and blocking keys use, or None when there is nothing usable in it.

Company names (:mod:`._company_name`) and person names (:mod:`._person_name`) have modules of
their own; phones, e-mail addresses, postal addresses and dates are here. All of them are pure
functions of their input, cheap enough for a million records (see ``bench/dedup_normalise.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from crm_core.dedup._company_name import CompanyName, normalise_company_name
from crm_core.dedup._person_name import (
    PersonName,
    normalise_person_full_name,
    normalise_person_name,
)
from crm_core.dedup._regions import match_prefix
from crm_core.dedup._text import fold, pinyin

__all__ = [
    "CompanyName",
    "PersonName",
    "email_domain",
    "is_free_mail_domain",
    "normalise_address",
    "normalise_company_name",
    "normalise_date",
    "normalise_email",
    "normalise_person_full_name",
    "normalise_person_name",
    "normalise_phone",
    "pinyin",
]

# --- phones -----------------------------------------------------------------------------------


def _cn_pattern(kind: str) -> re.Pattern[str]:
    metadata = PhoneMetadata.metadata_for_region("CN")
    description = getattr(metadata, kind, None)
    pattern = getattr(description, "national_number_pattern", None)
    if not isinstance(pattern, str):  # pragma: no cover - phonenumbers always has them
        raise TypeError(f"phonenumbers has no {kind} pattern for China")
    return re.compile(pattern)


_CN_MOBILE = _cn_pattern("mobile")
_CN_FIXED = _cn_pattern("fixed_line")
"""phonenumbers' own patterns for mainland mobiles and landlines: what the fast path accepts
first (see :func:`_is_landline` for the landlines it accepts besides)."""
_PLAIN = re.compile(r"[+(]*[\d][\d\s()\-./]*")
"""A number written with digits and separators only: the fast path's input."""
_SEPARATORS = str.maketrans("", "", " ()-./+")
_MAX_DASHED_EXTENSION = 5
_SUBSCRIBER_FIRST = "23456789"
_EXTENSION = re.compile(r"\s*(?:;ext=|转|分机|ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)


def normalise_phone(text: str | None, region: str = "CN") -> str | None:
    """A phone number in E.164 form (``+8613800138000``, ``+8657188886666``), ``region`` being
    the country of numbers written without a country code; None when it is not a valid number.

    Any common way of writing it is accepted: ``+86 138 0013 8000``, ``0086-138-0013-8000``,
    ``(0571) 8888 6666``, full-width digits, ``+61 2 9876 5432``. An extension (``转123``,
    ``ext. 12``, ``#12``, ``0571-8888 6666-123``) is dropped: E.164 has none, and dedup compares
    the line. Mainland mobiles and landlines are checked without a full parse (the common case,
    about 50 times faster): mobiles against phonenumbers' own pattern, landlines against its
    pattern or, failing that, its area codes and their lengths (see :func:`_is_landline`);
    anything else is parsed and validated by phonenumbers.
    """
    if not text:
        return None
    if region == "CN" and len(text) == 11 and text.isascii() and _CN_MOBILE.fullmatch(text):
        return f"+86{text}"  # a mobile as people type it: most numbers
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.strip()
    if not _PLAIN.fullmatch(text):
        text = _EXTENSION.sub("", text).strip()
        if not text:
            return None
    if region == "CN" and _PLAIN.fullmatch(text):
        national = _mainland_number(text)
        if national is None and "-" in text:  # 0531-8888 6666-1106: an extension after a dash
            number, _, extension = text.rpartition("-")
            if len(extension) <= _MAX_DASHED_EXTENSION and extension.isdigit():
                national = _mainland_number(number)
        if national is not None:
            return f"+86{national}"
    return _parse_phone(text, region)


def _mainland_number(text: str) -> str | None:
    """The national number of a mainland mobile or landline written with digits and separators
    only, with or without +86, 0086 and the trunk 0; None to leave it to the full parse."""
    digits = text.translate(_SEPARATORS)
    if text.lstrip("(").startswith("+") or digits.startswith("00"):
        digits = digits.removeprefix("00")
        if not digits.startswith("86"):
            return None
        digits = digits[2:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if digits.startswith("0"):
        digits = digits[1:]
        return digits if _is_landline(digits) else None
    if _CN_MOBILE.fullmatch(digits) or _is_landline(digits):
        return digits
    return None


def _is_landline(national: str) -> bool:
    """Whether ``national`` is a mainland landline: in phonenumbers' ranges, or an area code
    that exists and a subscriber number of 8 digits (after 10 and 2x) or 7 to 8 digits (after
    a three-digit code), not starting with 0 or 1.

    The second test accepts numbers that phonenumbers' finer ranges (which number blocks are
    in use, and whether an area has 7 or 8 digits) do not list: dedup compares numbers, and a
    number outside the published blocks is still the same number each time it is written.
    Made-up test data is full of them, and real data has a few."""
    if _CN_FIXED.fullmatch(national):
        return True
    codes = _area_codes()
    lengths: tuple[int, ...]
    if national[:2] in codes:
        subscriber, lengths = national[2:], (8,)
    elif national[:3] in codes:
        subscriber, lengths = national[3:], (7, 8)
    else:
        return False
    return len(subscriber) in lengths and subscriber[:1] in _SUBSCRIBER_FIRST


@cache
def _area_codes() -> frozenset[str]:
    """The mainland area codes (10, 20-29 and the three-digit ones in use), read out of
    phonenumbers' fixed-line pattern (about 50 ms, once)."""
    candidates = ["10", *(f"2{digit}" for digit in range(10)), *map(str, range(300, 1000))]
    return frozenset(
        code
        for code in candidates
        if any(
            _CN_FIXED.fullmatch(code + first + fill * (length - 1))
            for length in (7, 8)
            for first in _SUBSCRIBER_FIRST
            for fill in "0159"
        )
    )


@lru_cache(maxsize=65536)
def _parse_phone(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- e-mail -----------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+")
"""One @, a mailbox, and a domain of two or more non-empty labels."""

FREE_MAIL_DOMAINS = frozenset(
    (
        "qq.com", "vip.qq.com", "foxmail.com", "163.com", "vip.163.com", "126.com", "vip.126.com",
        "yeah.net", "188.com", "sina.com", "sina.cn", "vip.sina.com", "sohu.com", "vip.sohu.com",
        "139.com", "189.cn", "wo.cn", "wo.com.cn", "aliyun.com", "tom.com", "21cn.com",
        "263.net", "2980.com", "gmail.com", "googlemail.com", "outlook.com", "hotmail.com",
        "live.com", "live.cn", "msn.com", "yahoo.com", "yahoo.com.cn", "yahoo.cn", "ymail.com",
        "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.com",
        "gmx.de", "gmx.net", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com",
        "zoho.com", "hotmail.co.uk", "yahoo.co.uk", "yahoo.co.jp", "naver.com", "hanmail.net",
    )
)  # fmt: skip
"""Domains where anyone can have a mailbox: sharing one says nothing about the company."""


def normalise_email(text: str | None) -> str | None:
    """An e-mail address folded (NFKC, trimmed, lower case; ``mailto:`` and angle brackets
    dropped), or None unless it has exactly one @ and a dotted domain."""
    if not text:
        return None
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).replace("。", ".")
    address = text.strip().strip("<>").lower().removeprefix("mailto:").strip()
    return address if _EMAIL.fullmatch(address) else None


def email_domain(email: str) -> str:
    """The domain of a normalised address (``zhang.wei@hzhuaxin.com.cn``: ``hzhuaxin.com.cn``)."""
    return email.rpartition("@")[2]


def is_free_mail_domain(domain: str) -> bool:
    """Whether ``domain`` is a public mail service (qq.com, 163.com, gmail.com, …)."""
    return domain.strip().lower() in FREE_MAIL_DOMAINS


# --- addresses --------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=号|弄|栋|幢|楼|室|层|单元|座|排)")
_NUMBER_SIGN = re.compile(r"(\d)#")
"""3#楼: the sign is 号."""
_ADDRESS_JUNK = re.compile(r"(?<=\d)-(?=\d)|[^\w]+|_+")
_ADDRESS_SPACE = re.compile(r" (?![a-z0-9])|(?<![a-z0-9]) ")
_ENGLISH_WORDS = {
    "street": "st", "road": "rd", "avenue": "ave", "boulevard": "blvd", "drive": "dr",
    "lane": "ln", "place": "pl", "court": "ct", "highway": "hwy", "building": "bldg",
    "floor": "fl", "room": "rm", "suite": "ste", "apartment": "apt", "district": "dist",
    "square": "sq", "north": "n", "south": "s", "east": "e", "west": "w",
}  # fmt: skip
_NUMBER_WORDS = frozenset(("no", "number", "nr"))
"""No. 88 is 88."""


def _chinese_number(match: re.Match[str]) -> str:
    """一 -> 1, 十二 -> 12, 二十一 -> 21, 一百零五 -> 105, 三五 -> 35 (digit by digit)."""
    text = match.group()
    if not any(char in _CN_UNITS for char in text):
        return "".join(str(_CN_DIGITS[char]) for char in text)
    total, digit = 0, 0
    for char in text:
        if char in _CN_UNITS:
            total += (digit or 1) * _CN_UNITS[char]
            digit = 0
        else:
            digit = _CN_DIGITS[char]
    return str(total + digit)


def _address_regions(text: str) -> str:
    """中国浙江省杭州市滨江区… and 浙江杭州滨江区… both as 杭州市滨江区…: the country and a
    province before its city go, and the regions are written in full. A lone short name is left
    alone: 中山东一路 and 南京路 are streets."""
    found = match_prefix(text.removeprefix("中国"))
    if not found or (len(found) == 1 and found[0][0] < len(found[0][1].name)):
        return text
    text = text.removeprefix("中国")
    names = [region for _, region in found]
    if len(names) > 1 and names[0].level == 1 and names[1].level == 2:  # not 北京市朝阳区
        names = names[1:]
    return "".join(region.name for region in names) + text[found[-1][0] :]


def normalise_address(text: str | None) -> str | None:
    """A postal address folded for comparison, or None when empty.

    NFKC, simplified characters, lower case; a leading 中国 and a province before its city
    dropped, regions written in full (浙江杭州滨江区 -> 杭州市滨江区); Chinese numerals before
    号, 弄, 栋, 幢, 楼, 室, 层, 单元, 座 as digits (三号楼 -> 3号楼, 十二层 -> 12层) and ``3#``
    as 3号; whitespace and punctuation removed except a hyphen between digits (1203-1205室) and
    single spaces between Latin words; in English ``No.`` dropped and street words abbreviated
    (Road -> rd, Street -> st, Room -> rm, Floor -> fl).
    """
    if not text:
        return None
    folded = fold(text)
    folded = _NUMBER_SIGN.sub(r"\1号", _CN_NUMBER.sub(_chinese_number, folded))
    words = _ADDRESS_JUNK.sub(lambda m: m.group() if m.group() == "-" else " ", folded).split()
    words = [
        _ENGLISH_WORDS.get(word, word)
        for index, word in enumerate(words)
        if not (word in _NUMBER_WORDS and index + 1 < len(words) and words[index + 1][:1].isdigit())
    ]
    address = _ADDRESS_SPACE.sub("", " ".join(words))
    if not address:
        return None
    return _address_regions(address) if not address.isascii() else address


# --- dates ------------------------------------------------------------------------------------

_YMD = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:z|[+-]\d{2}:?\d{2})?)?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DAY_MONTH = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")),
        start=1,
    )
    for name in names
}  # fmt: skip
_WORDY = re.compile(r"(?:(\d{1,2}) ([a-z]+)|([a-z]+) (\d{1,2})),? (\d{4})")


def _iso(year: str | int, month: str | int, day: str | int) -> str | None:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def normalise_date(text: str | None) -> str | None:
    """A date as ``YYYY-MM-DD``, or None when there is none or it does not exist (2023-02-29).

    Accepted: ``2024-03-05``, ``2024/3/5``, ``2024.3.5``, ``2024年3月5日``, ``20240305``, a time
    after the date (ignored), ``5 March 2024``, ``March 5, 2024``, and day and month before
    the year only when they cannot be swapped (``25/12/2024``, ``5/5/2024``); ``5/3/2024`` is
    ambiguous and gives None.
    """
    if not text:
        return None
    value = (text if text.isascii() else unicodedata.normalize("NFKC", text)).strip().lower()
    found = _YMD.fullmatch(value) or _COMPACT.fullmatch(value)
    if found:
        return _iso(*found.groups())
    if found := _DAY_MONTH.fullmatch(value):
        first, second, year = (int(part) for part in found.groups())
        if first != second and (first > 12) == (second > 12):
            return None  # 5/3/2024: the 5th of March or May the 3rd
        return _iso(year, second, first) if first >= second else _iso(year, first, second)
    if found := _WORDY.fullmatch(value.replace(".", "")):
        day_first, month_first, month_second, day_second, year_text = found.groups()
        month_number = _MONTHS.get(month_first or month_second, 0)
        return _iso(year_text, month_number, day_first or day_second)
    return None
