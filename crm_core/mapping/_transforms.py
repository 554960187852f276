"""The closed vocabulary of named transforms, each with what it does on the way in (external
system -> CRM) and on the way out (CRM -> system): text normalisers, and the cleansers migration
uses on legacy data (``date``, ``amount``, ``credit_code``).

The normalisers leave ``None`` and non-text values as they are (``phone`` also takes a number).
The cleansers turn an empty value (None, blank text) into None and raise :class:`ValueError`
with a reason for a value they cannot clean: the record fails, naming the field, and the reason
goes to quarantine. Outbound they leave the CRM value as it is.
Adding one is adding an entry to :data:`TRANSFORMS`, a test, and a line in mappings/README.md.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import phonenumbers

from crm_core._cleanse import parse_amount, parse_date
from crm_core._credit_code import clean_credit_code

__all__ = ["TRANSFORMS", "Transform", "e164"]


@dataclass(frozen=True)
class Transform:
    """A named transform: one function per direction."""

    name: str
    to_crm: Callable[[Any], Any]
    to_external: Callable[[Any], Any]
    doc: str


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _squash(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _halfwidth(value: Any) -> Any:
    if isinstance(value, str) and not value.isascii():
        return unicodedata.normalize("NFKC", value)
    return value


def _email(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _unchanged(value: Any) -> Any:
    return value


_EXTENSION = re.compile(r"\s*(?:;ext=|转|分机|ext\.?|extension|x|#)\s*(\d{1,6})\s*$", re.IGNORECASE)
_PLAIN = re.compile(r"^\+?[\d\s()\-./]+$")
_NOT_DIGITS = re.compile(r"\D")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_CN_TRUNK_LANDLINE = re.compile(r"^0(?:10|2\d|[3-9]\d\d)\d{7,8}$")


def e164(phone: str) -> str:
    """A phone number in E.164 form (``+8613812345678``), China being the default region.

    Mainland mobiles and landlines with their area code are recognised without a full parse
    (the common case, and 100 times faster); anything else goes to ``phonenumbers``. An
    extension is kept as ``;ext=802``. Text that is not a valid phone number is returned
    stripped but otherwise unchanged: a sync does not throw a contact's number away.
    """
    text = phone.strip()
    if (
        len(text) == 11
        and text[0] == "1"
        and text[1] in "3456789"
        and text.isdigit()
        and text.isascii()
    ):
        return f"+86{text}"  # a mainland mobile as people type it: most numbers
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    extension = ""
    found = _EXTENSION.search(text)
    if found:
        extension = f";ext={found.group(1)}"
        text = text[: found.start()]
    national = _mainland_number(text) if _PLAIN.match(text) else None
    if national is not None:
        return f"+86{national}{extension}"
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return phone.strip()
    if not phonenumbers.is_valid_number(parsed):
        return phone.strip()
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return f"{number}{extension}"


def _mainland_number(text: str) -> str | None:
    """The national number (no trunk 0) of a plain mainland mobile or landline with its area
    code, written with or without +86 / 0086; None for anything else."""
    digits = _NOT_DIGITS.sub("", text)
    international = text.startswith("+") or digits.startswith("00")
    if international:
        digits = digits.removeprefix("00")
        if not digits.startswith("86"):
            return None
        national = digits[2:]
        if _CN_MOBILE.match(national):
            return national
        national = national if national.startswith("0") else "0" + national
    elif len(digits) == 13 and digits.startswith("86"):
        national = digits[2:]
    else:
        national = digits
    if _CN_MOBILE.match(national):
        return national
    return national[1:] if _CN_TRUNK_LANDLINE.match(national) else None


def _phone_in(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return e164(value) if isinstance(value, str) and value.strip() else value


def _date_in(value: Any) -> Any:
    if isinstance(value, str):
        return parse_date(value)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_date(str(value))  # 20240305, as legacy databases keep dates in numbers
    return value


def _amount_in(value: Any) -> Any:
    if isinstance(value, str):
        return parse_amount(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"not an amount: {value!r}")
        return number
    return value


def _credit_code_in(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return clean_credit_code(value) if isinstance(value, str) else value


TRANSFORMS: Mapping[str, Transform] = {
    transform.name: transform
    for transform in (
        Transform("strip", _strip, _strip, "removes white space at both ends (both ways)"),
        Transform(
            "squash", _squash, _squash, "strips, and makes every run of white space one space"
        ),
        Transform("upper", _upper, _upper, "upper-cases (both ways)"),
        Transform("lower", _lower, _lower, "lower-cases (both ways)"),
        Transform(
            "halfwidth",
            _halfwidth,
            _halfwidth,
            "full-width letters, digits and signs to ASCII (Unicode NFKC, both ways)",
        ),
        Transform("email", _email, _email, "strips and lower-cases an e-mail address (both ways)"),
        Transform(
            "phone",
            _phone_in,
            _unchanged,
            "in: to E.164 (+8613812345678; China the default region); out: as stored",
        ),
        Transform(
            "date",
            _date_in,
            _unchanged,
            "in: a date from legacy text (2024年3月5日, 2024/3/5, 20240305; a date-time gives its"
            " date), or a ValueError; out: as stored",
        ),
        Transform(
            "amount",
            _amount_in,
            _unchanged,
            "in: an exact Decimal from legacy text (¥1,234.50, (1,234.00), 1.2万) or a number, or"
            " a ValueError; out: as stored",
        ),
        Transform(
            "credit_code",
            _credit_code_in,
            _unchanged,
            "in: a unified social credit code, half-width and upper case, its check character"
            " verified, or a ValueError; out: as stored",
        ),
    )
}
"""Every transform a mapping may name, by name."""
