"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from a
31-character alphabet, the last one a mod-31 check character over the first 17.

A code whose check character is wrong was mistyped or made up: dedup does not trust it as a key.
"""

from __future__ import annotations

import unicodedata

__all__ = ["credit_code_check_char", "is_valid_credit_code", "normalise_credit_code"]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""Digits and capitals without I, O, S, V and Z."""
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
"""3 to the power of the position, mod 31."""


def credit_code_check_char(first17: str) -> str:
    """The check character that completes the first 17 characters of a code."""
    if len(first17) != 17 or any(char not in _VALUES for char in first17):
        raise ValueError(f"not the first 17 characters of a credit code: {first17!r}")
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[-total % 31]


def is_valid_credit_code(code: str) -> bool:
    """Whether ``code`` (already upper case, no spaces) is a code with a correct check char."""
    return (
        len(code) == 18
        and all(char in _VALUES for char in code)
        and credit_code_check_char(code[:17]) == code[17]
    )


def normalise_credit_code(text: str | None) -> str | None:
    """The code in ``text`` (full-width, lower case and spaces allowed), or None when there is
    none or its check character is wrong."""
    if not text:
        return None
    code = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    return code if is_valid_credit_code(code) else None
