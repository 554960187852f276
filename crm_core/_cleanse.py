"""Cleansers: pure functions that turn one legacy text value into its clean form before
validation (standard library only, so that both :mod:`crm_core.migrate` and the mapping
language's transforms can use them).

Each returns the cleaned value, or None when the value is empty, and raises :class:`ValueError`
with a short human reason when the value cannot be cleaned (the reason goes to quarantine).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

__all__ = ["halfwidth", "parse_amount", "parse_date", "squeeze"]

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def squeeze(text: str | None) -> str | None:
    """Trim and collapse every run of whitespace (full-width and no-break spaces included) into
    one space, dropping zero-width characters; None when nothing is left."""
    if text is None:
        return None
    cleaned = " ".join(text.translate(_INVISIBLE).split())
    return cleaned or None


def _fold_char(char: str) -> str:
    code = ord(char)
    if code == 0x3000 or 0xFF01 <= code <= 0xFFEE:
        return unicodedata.normalize("NFKC", char)
    return char


def halfwidth(text: str | None) -> str | None:
    """Fold full-width letters, digits, punctuation and the ideographic space to their ASCII
    forms (NFKC, limited to the width forms so that other characters are left as written);
    None when the text is empty."""
    if not text:
        return None
    if text.isascii():
        return text
    return "".join(map(_fold_char, text))


def _prepare(text: str | None) -> str | None:
    return squeeze(halfwidth(text))


_CHINESE_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_SEPARATED_DATE = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_YEAR_LAST = re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")


def _date_parts(text: str) -> tuple[str, str, str]:
    for pattern in (_CHINESE_DATE, _COMPACT_DATE):
        if match := pattern.fullmatch(text):
            return match.group(1), match.group(2), match.group(3)
    if match := _SEPARATED_DATE.fullmatch(text):
        return match.group(1), match.group(3), match.group(4)
    if _YEAR_LAST.fullmatch(text):
        raise ValueError(f"ambiguous date {text!r}: day and month order unknown, write YYYY-MM-DD")
    raise ValueError(f"not a date: {text!r}")


def parse_date(text: str | None) -> dt.date | None:
    """A date written as ``2024年3月5日``, ``2024/3/5``, ``2024-03-05``, ``2024.3.5``,
    ``20240305`` or ``2024-03-05 14:30`` (the time is dropped); None when empty.

    Day-first or month-first forms such as ``5/3/2024`` are refused as ambiguous.
    """
    cleaned = _prepare(text)
    if cleaned is None:
        return None
    year, month, day = _date_parts(cleaned)
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"not a calendar date: {cleaned!r}") from None


_CURRENCY_PREFIX = re.compile(r"^(?:¥|RMB|CNY)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}


def _strip_sign(text: str) -> tuple[bool, str]:
    if text.startswith("(") and text.endswith(")"):
        return True, text[1:-1].strip()
    if text.startswith(("+", "-")):
        return text[0] == "-", text[1:].strip()
    return False, text


def _strip_decorations(text: str) -> tuple[bool, str]:
    """The sign and the bare number-with-unit, currency symbols and signs removed in either
    order (``-¥1,234``, ``¥-1,234``, ``(¥1,234.00)``)."""
    negative, rest = _strip_sign(text)
    rest = _CURRENCY_PREFIX.sub("", rest).removesuffix("元").strip()
    if not negative:
        negative, rest = _strip_sign(rest)
    return negative, rest


def parse_amount(text: str | None) -> Decimal | None:
    """An amount of money as an exact :class:`~decimal.Decimal`; None when empty.

    Accepted: ``1,234.50``, ``¥1,234.50``, ``￥1234``, ``RMB 1,234``, ``1234元``, ``-1,234.5``,
    accounting negatives ``(1,234.00)``, and the units ``万`` (10,000) and ``亿`` (10^8) as in
    ``1.2万``. ``.`` is the only decimal separator and ``,`` only separates groups of three.
    """
    cleaned = _prepare(text)
    if cleaned is None:
        return None
    negative, rest = _strip_decorations(cleaned)
    unit = Decimal(1)
    if rest[-1:] in _UNITS:
        unit = _UNITS[rest[-1]]
        rest = rest[:-1].strip()
    if not _NUMBER.fullmatch(rest):
        raise ValueError(f"not an amount: {cleaned!r}")
    try:
        value = Decimal(rest.replace(",", "")) * unit
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise ValueError(f"not an amount: {cleaned!r}") from None
    return -value if negative else value
