"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from a
31-character alphabet, the last one a mod-31 check character over the first 17.

A code whose check character is wrong was mistyped or made up: dedup does not trust it as a key,
and the mapping language's ``credit_code`` transform refuses it (:func:`clean_credit_code`).
Standard library only: the mapping language imports it without the dedup engine.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "clean_credit_code",
    "credit_code_check_char",
    "is_valid_credit_code",
    "normalise_credit_code",
]

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


def _compact(text: str) -> str:
    """Half-width (NFKC), without any white space, upper case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def normalise_credit_code(text: str | None) -> str | None:
    """The code in ``text`` (full-width, lower case and spaces allowed), or None when there is
    none or its check character is wrong."""
    if not text:
        return None
    code = _compact(text)
    return code if is_valid_credit_code(code) else None


def clean_credit_code(text: str | None) -> str | None:
    """The code in ``text`` (full-width, lower case and spaces allowed) in its canonical form;
    None when ``text`` is empty or blank. Raises :class:`ValueError` saying why a value is not a
    valid code: its length, a character outside the alphabet, or a wrong check character."""
    if text is None:
        return None
    code = _compact(text)
    if not code:
        return None
    given = text.strip()
    if len(code) != 18:
        raise ValueError(
            f"{given!r} is not a credit code (18 characters expected, not {len(code)})"
        )
    wrong = sorted({char for char in code if char not in _VALUES})
    if wrong:
        listed = ", ".join(map(repr, wrong))
        raise ValueError(
            f"{given!r} is not a credit code ({listed} not allowed: only digits and capital "
            "letters other than I, O, S, V and Z)"
        )
    if credit_code_check_char(code[:17]) != code[17]:
        raise ValueError(f"credit code {given!r} fails its check character")
    return code
