"""Text folding shared by the normalisers: width (NFKC), script (traditional -> simplified with
OpenCC), case, and toneless pinyin memoised per character.

OpenCC costs a few microseconds a call and pypinyin tens, so both are kept off the common path:
a text is converted only when it holds a character that OpenCC changes (found once, in one
OpenCC call over every CJK character), and pinyin is a ``str.translate`` through a table that
looks each character up in pypinyin the first time it is seen. OpenCC, the table of traditional
characters and pypinyin are all loaded on first use (pypinyin's dictionaries take 0.3 s).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

__all__ = ["CJK_RANGES", "fold", "is_cjk", "pinyin", "to_simplified"]

CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))
"""Han ideographs: extension A, the unified block, the compatibility block (which NFKC folds
into the unified one) and the supplementary planes."""

_OPENCC_CONFIG = "t2s"
"""Character and phrase conversion only: names are proper nouns, so no regional vocabulary
(tw2sp would turn 軟體 into 软件)."""


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a Han ideograph."""
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


@cache
def _converter() -> opencc.OpenCC:
    import opencc  # noqa: PLC0415 (loaded on first use: its dictionaries take a moment)

    return opencc.OpenCC(_OPENCC_CONFIG)


@cache
def _traditional() -> re.Pattern[str]:
    """A character class of every character that OpenCC's t2s changes on its own, found with
    one OpenCC call over every CJK character (about 10 ms); searching it costs a fraction of a
    microsecond, a fifth of a set's ``isdisjoint``."""
    chars = [chr(code) for low, high in CJK_RANGES[:2] for code in range(low, high + 1)]
    converted = _converter().convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # pragma: no cover - a conversion that merges lines
        converted = [_converter().convert(char) for char in chars]
    changed = sorted(old for old, new in zip(chars, converted, strict=True) if old != new)
    return re.compile(f"[{''.join(changed)}]")


@lru_cache(maxsize=65536)
def _convert(text: str) -> str:
    converted: str = _converter().convert(text)
    return converted


def to_simplified(text: str) -> str:
    """``text`` in simplified characters (華信電子 -> 华信电子); unchanged and without an OpenCC
    call when it has no traditional character."""
    if text.isascii() or not _traditional().search(text):
        return text
    return _convert(text)


def fold(text: str) -> str:
    """NFKC (full-width letters, digits and brackets to ASCII), simplified, lower case."""
    if text.isascii():
        return text.lower()
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def _reading(char: str) -> str | None:
    """What one character contributes to pinyin: its toneless reading (the first, pypinyin's
    default, for a Han character), a letter or digit lower-cased without accents, or nothing."""
    if char.isascii():
        return char.lower() if char.isalnum() else None
    if is_cjk(char):
        from pypinyin import Style, lazy_pinyin  # noqa: PLC0415 (loaded on first use)

        readings = lazy_pinyin(char, style=Style.NORMAL)
        return readings[0] if readings and readings[0].isascii() else char
    if not char.isalnum():
        return None
    stripped = "".join(
        part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part)
    )
    return stripped.lower() or char.lower()


class _Readings(dict[int, "str | None"]):
    """The ``str.translate`` table of :func:`pinyin`, filled as characters are first met."""

    def __missing__(self, code: int) -> str | None:
        reading = _reading(chr(code))
        self[code] = reading
        return reading


_READINGS = _Readings()


def pinyin(text: str) -> str:
    """Toneless pinyin without separators (华信电子 -> huaxindianzi; ü is written v, as 吕 lv).

    Latin letters and digits pass through lower-cased and without accents; spaces and
    punctuation are dropped. Each Han character takes its most common reading (pypinyin's
    default, not looked up in context: 重庆 gives zhongqing), so the same text always gives the
    same pinyin and homophones (华信, 华鑫) give the same.
    """
    return text.translate(_READINGS)
