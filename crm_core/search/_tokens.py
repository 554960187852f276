"""Search tokens: what a record is indexed under, and what a query looks for.

Chinese has no spaces, and a salesperson types two characters of a brand (华信) as often as a
whole name, so names are indexed as overlapping character bigrams (杭州华信 -> 杭州 州华 华信):
any substring of two or more characters is then an AND of indexed bigrams, and one character is a
prefix of a bigram. (Trigram indexes cannot answer two-character queries: SQLite's trigram
tokenizer returns nothing for them and pg_trgm falls back to scanning every row.) Latin words,
digits and identifiers are indexed whole and queried by prefix. Phones are indexed by their
national number, forwards and backwards, so both ``138 0013`` and the last four digits ``8000``
are prefix lookups; e-mail addresses whole, by domain and by their words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

__all__ = [
    "QueryPlan",
    "Term",
    "email_tokens",
    "normalize",
    "phone_digits",
    "phone_tokens",
    "plan_query",
    "text_tokens",
]

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W_{_CJK}]+")
_PHONE_QUERY = re.compile(r"^[+\d\s().\-/]{4,}$")
_EMAIL_QUERY = re.compile(r"^[^\s@]+@[^\s@]*$")
_PHONE_PREFIX = "tel"
_PHONE_SUFFIX = "ler"
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_NON_DIGITS = re.compile(r"\D+")
_WHOLE_NUMBER = 7
"""Digits from which a query is taken as a whole phone number rather than a fragment."""
_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"^[\d\s()+\-./]+$")
_LANDLINE = re.compile(r"^[2-9]\d{8,10}$|^10\d{7,8}$")
_TRUNK_LANDLINE = re.compile(r"^0(?:[2-9]\d{8,10}|10\d{7,8})$")


def normalize(text: str) -> str:
    """Fold width (NFKC) and case: full-width letters and digits search as ASCII ones."""
    return unicodedata.normalize("NFKC", text).casefold()


def text_tokens(text: str | None) -> list[str]:
    """The tokens of a name or other free text: CJK bigrams and whole words."""
    if not text:
        return []
    normalized = normalize(text)
    tokens: list[str] = []
    for run in _CJK_RUN.findall(normalized):
        if len(run) == 1:
            tokens.append(run)
        else:
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    tokens.extend(_WORD.findall(normalized))
    return tokens


def phone_digits(phone: str | None) -> str | None:
    """The national number of a phone in any format (China is the default region).

    ``+86 138 0013 8000``, ``0086-13800138000`` and ``13800138000`` all give ``13800138000``;
    ``(0571) 8765-4321`` and ``0571-8765 4321 转802`` give ``57187654321``. Returns None for
    text that is not a phone.
    """
    if not phone:
        return None
    phone = _EXTENSION.sub("", phone)  # 0571-8765 4321 转802: the extension is not the number
    digits = _NON_DIGITS.sub("", phone)
    if _PLAIN_NUMBER.match(phone):
        national = _chinese_national_number(phone, digits)
        if national is not None:
            return national
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return digits or None
    return str(parsed.national_number) if parsed.national_number else digits or None


def _chinese_national_number(phone: str, digits: str) -> str | None:
    """The national number of a plain Chinese mobile or landline, without a full parse (most
    numbers are one; a full parse costs about 50 microseconds). None: leave it to the parser."""
    international = phone.lstrip(" (").startswith("+") or digits.startswith("00")
    if international:
        for prefix in ("0086", "86"):
            if digits.startswith(prefix):
                national = digits[len(prefix) :]
                break
        else:
            return None  # another country's number
        if _MOBILE.match(national) or _LANDLINE.match(national):
            return national
        return None
    if _MOBILE.match(digits):
        return digits
    if _TRUNK_LANDLINE.match(digits):  # 0 + area code + subscriber number
        return digits[1:]
    return None


def phone_tokens(phone: str | None) -> list[str]:
    """A phone's tokens: its national number forwards and backwards."""
    digits = phone_digits(phone)
    if not digits:
        return []
    return [_PHONE_PREFIX + digits, _PHONE_SUFFIX + digits[::-1]]


def email_tokens(email: str | None) -> list[str]:
    """An e-mail address whole, its domain, the words of its mailbox and the domain's name
    (``zhang.wei@hzhuaxin.com.cn``: ``hzhuaxin.com.cn``, ``zhang``, ``wei``, ``hzhuaxin``)."""
    if not email:
        return []
    address = normalize(email).strip()
    mailbox, _, domain = address.partition("@")
    tokens = [address, *_WORD.findall(mailbox)]
    if domain:
        tokens.append(domain)
        tokens.extend(_WORD.findall(domain.split(".", 1)[0]))
    return tokens


Term = tuple[str, bool]
"""A token to look up, and whether it may be the prefix of an indexed token."""


@dataclass(frozen=True)
class QueryPlan:
    """What to look for: records that match all terms of any one of the lookups."""

    kind: str
    """``text``, ``phone`` or ``email``."""
    text: str
    """The normalized query (for a phone: its national number)."""
    lookups: tuple[tuple[Term, ...], ...]


def plan_query(query: str) -> QueryPlan | None:
    """Turn what the user typed into index lookups; None if nothing in it is searchable."""
    raw = query.strip()
    if not raw:
        return None
    if _PHONE_QUERY.match(raw) and sum(ch.isdigit() for ch in raw) >= 4:
        # A whole number is normalized (+86 138... is 138...); a few digits are taken as typed:
        # the last four digits 0521 are not a number with a trunk prefix 0.
        typed = _NON_DIGITS.sub("", raw)
        digits = (phone_digits(raw) or "") if len(typed) >= _WHOLE_NUMBER else typed
        lookups: list[tuple[Term, ...]] = [
            ((_PHONE_PREFIX + digits, True),),
            ((_PHONE_SUFFIX + digits[::-1], True),),
        ]
        if raw.isdigit():  # bare digits may also be part of a name or a credit code
            lookups.append(((raw, True),))
        return QueryPlan(kind="phone", text=digits, lookups=tuple(lookups))
    text = normalize(raw)
    if _EMAIL_QUERY.match(text):
        return QueryPlan(kind="email", text=text, lookups=(((text, True),),))
    terms: list[Term] = []
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            terms.append((run, True))
        else:
            terms.extend((run[i : i + 2], False) for i in range(len(run) - 1))
    terms.extend((word, True) for word in _WORD.findall(text))
    if not terms:
        return None
    return QueryPlan(kind="text", text=text, lookups=(tuple(_unique(terms)),))


def _unique(items: Iterable[Term]) -> list[Term]:
    seen: dict[str, bool] = {}
    for token, prefix in items:
        seen[token] = seen.get(token, True) and prefix
    return list(seen.items())
