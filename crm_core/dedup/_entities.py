"""What dedup knows about accounts and contacts: the input columns, the features normalised from
them, the blocking keys, the comparisons of the match model and the guards.

The guards are the rules no weight of evidence can overrule:

* two valid, different credit codes are two legal entities;
* companies in different regions (杭州X科技, 苏州X科技) are different companies;
* a branch (分公司) is not its head office, nor another branch;
* shared contact points (a switchboard, an address, a mail domain, a boss) are not enough: an
  account pair must agree on the company's name (or its credit code), a contact pair on the
  person (name, name pinyin or birth date).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from crm_core._credit_code import normalise_credit_code
from crm_core.dedup._blocking import BlockingKey
from crm_core.dedup._compare import Comparison, Exact, Similar, WithinEdits
from crm_core.dedup._normalise import (
    email_domain,
    is_free_mail_domain,
    normalise_address,
    normalise_company_name,
    normalise_date,
    normalise_email,
    normalise_person_full_name,
    normalise_person_name,
    normalise_phone,
    pinyin,
)
from crm_core.dedup._regions import match_whole
from crm_core.dedup._table import Codes, FeatureTable, Pairs

__all__ = ["ACCOUNT", "CONTACT", "ENTITIES", "EntitySpec", "Guard"]

Row = Mapping[str, str | None]
Featuriser = Callable[[Sequence[Row]], dict[str, list[str | None]]]


@dataclass(frozen=True)
class Guard:
    """A rule that forbids a match: ``forbids`` says for which pairs (given their levels)."""

    reason: str
    forbids: Callable[[FeatureTable, Pairs, npt.NDArray[np.int8]], npt.NDArray[np.bool_]]


@dataclass(frozen=True)
class EntitySpec:
    """Everything dedup needs to know about one kind of record."""

    name: str
    columns: tuple[str, ...]
    """The input columns it reads (besides ``id``)."""
    featurise: Featuriser
    blocking: tuple[BlockingKey, ...]
    comparisons: tuple[Comparison, ...]
    guards: tuple[Guard, ...]
    exclusive: tuple[str, ...]
    """Features of which one customer holds at most one value (a valid credit code)."""

    def comparison_index(self, name: str) -> int:
        """The column of comparison ``name`` in a levels matrix."""
        return next(i for i, c in enumerate(self.comparisons) if c.name == name)


# --------------------------------------------------------------------------- accounts


@lru_cache(maxsize=4096)
def _region_path(text: str | None) -> str | None:
    """A region as ``province/city/district`` (as far as known), for prefix comparison."""
    if not text:
        return None
    region = match_whole(text)
    if region is None:
        return None
    parts = [region.province]
    if region.level >= 2 and region.city and region.city != region.province:
        parts.append(region.city)
    if region.level >= 3:
        parts.append(region.short)
    return "/".join(parts)


# Duplicates repeat names, phones and addresses (a file's duplicates often sit together), and
# people's names repeat a lot: a cache per worker process saves a good share of the work.
_company_name = lru_cache(maxsize=1 << 16)(normalise_company_name)
_contact_name = lru_cache(maxsize=1 << 16)(normalise_person_full_name)
_address = lru_cache(maxsize=1 << 16)(normalise_address)
_phone = lru_cache(maxsize=1 << 16)(normalise_phone)


def _account_features(rows: Sequence[Row]) -> dict[str, list[str | None]]:
    names = [
        *("name_full", "name_core", "name_pinyin", "name_sound", "name_head"),
        *("region", "region_province", "region_city", "branch"),
        *("credit_code", "phone", "email", "email_domain", "address", "contact", "contact_pinyin"),
    ]
    out: dict[str, list[str | None]] = {name: [] for name in names}
    for row in rows:
        company = _company_name(row.get("name"))
        if company is not None and company.core:
            core: str | None = company.core
            out["name_full"].append(company.full)
            out["name_core"].append(core)
            out["name_pinyin"].append(company.pinyin or None)
            out["name_sound"].append(sounds_like(company.pinyin) or None)
            out["name_head"].append(company.core[:4] if len(company.core) >= 5 else None)
            region = _region_path(company.region) or _region_path(_city(row.get("city")))
            out["branch"].append(None if company.branch is None else f"branch:{company.branch}")
        else:
            core = None
            for name in (
                "name_full",
                "name_core",
                "name_pinyin",
                "name_sound",
                "name_head",
            ):
                out[name].append(None)
            region = _region_path(_city(row.get("city")))
            out["branch"].append(None)
        out["region"].append(region)
        out["region_province"].append(region.split("/", 1)[0] if region else None)
        out["region_city"].append(
            region.rsplit("/", 1)[0] if region and region.count("/") == 2 else region
        )
        out["credit_code"].append(normalise_credit_code(row.get("credit_code")))
        out["phone"].append(_phone(row.get("phone")))
        email = normalise_email(row.get("email"))
        out["email"].append(email)
        domain = email_domain(email) if email else None
        out["email_domain"].append(domain if domain and not is_free_mail_domain(domain) else None)
        out["address"].append(_squeezed(_address(row.get("address"))))
        person = _contact_name(row.get("contact_name"))
        out["contact"].append(person.full if person else None)
        out["contact_pinyin"].append(person.pinyin if person and person.pinyin else None)
    return out


def _city(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


def _regions_differ(
    table: FeatureTable, pairs: Pairs, _levels: npt.NDArray[np.int8]
) -> npt.NDArray[np.bool_]:
    """Both regions known and neither inside the other (杭州 and 浙江 agree; 杭州, 苏州 not)."""
    codes = table.codes("region")
    a, b = codes[pairs.left], codes[pairs.right]
    differ: npt.NDArray[np.bool_] = (a >= 0) & (b >= 0) & (a != b)
    if not differ.any():
        return differ
    depth, province, city = _region_levels(table)
    left, right = pairs.left[differ], pairs.right[differ]
    shallower = np.minimum(depth[left], depth[right])
    same_province = province[left] == province[right]
    same_city = city[left] == city[right]
    # Compatible when they agree down to the shallower one's level (a district differs there).
    compatible = np.where(shallower == 1, same_province, np.where(shallower == 2, same_city, False))
    result: npt.NDArray[np.bool_] = differ.copy()
    result[differ] = ~compatible
    return result


def _region_levels(table: FeatureTable) -> tuple[npt.NDArray[np.int8], Codes, Codes]:
    """Per record: how deep its region path goes, and the codes of its first two levels."""
    region = table.codes("region")
    province = table.codes("region_province")
    city = table.codes("region_city")
    depth = np.where(
        region < 0, 0, np.where(region == province, 1, np.where(region == city, 2, 3))
    ).astype(np.int8)
    return depth, province, city


def _branches_differ(
    table: FeatureTable, pairs: Pairs, _levels: npt.NDArray[np.int8]
) -> npt.NDArray[np.bool_]:
    codes = table.codes("branch")
    a, b = codes[pairs.left], codes[pairs.right]
    result: npt.NDArray[np.bool_] = a != b
    return result


def _codes_differ(
    table: FeatureTable, pairs: Pairs, _levels: npt.NDArray[np.int8]
) -> npt.NDArray[np.bool_]:
    codes = table.codes("credit_code")
    a, b = codes[pairs.left], codes[pairs.right]
    result: npt.NDArray[np.bool_] = (a >= 0) & (b >= 0) & (a != b)
    return result


_ACCOUNT_COMPARISONS = (
    Comparison(
        "name",
        ("name_core",),
        (
            Exact("name_full", "same name"),
            Exact("name_core", "same name but the legal form or region"),
            Exact("name_pinyin", "same pinyin (a homophone)"),
            Exact("name_sound", "sounds alike (xin/xing, zh/z)"),
            Similar("name_core", 0.92),
            Similar("name_core", 0.85),
        ),
    ),
    Comparison("credit_code", ("credit_code",), (Exact("credit_code"),)),
    Comparison("phone", ("phone",), (Exact("phone"),)),
    Comparison(
        "email", ("email",), (Exact("email"), Exact("email_domain", "same company mail domain"))
    ),
    Comparison("address", ("address",), (Exact("address"), Similar("address", 0.9))),
    Comparison(
        "contact",
        ("contact",),
        (Exact("contact"), Exact("contact_pinyin", "same contact pinyin")),
    ),
    Comparison("region", ("region",), (Exact("region"),)),
)

_NAME_AGREES = 3
"""Account name levels from here up (Jaro-Winkler ≥ 0.92 and stronger) count as agreement."""

_SOUNDS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an"))


def sounds_like(pinyin_text: str) -> str:
    """Pinyin with the sounds many speakers merge folded together (zh/z, ch/c, sh/s, ing/in,
    eng/en, ang/an), so 华兴 (huaxing) and 华信 (huaxin) sound alike."""
    for merged, into in _SOUNDS:
        pinyin_text = pinyin_text.replace(merged, into)
    return pinyin_text


def _account_name_disagrees(
    _table: FeatureTable, _pairs: Pairs, levels: npt.NDArray[np.int8]
) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = (levels[:, 0] < _NAME_AGREES) & (levels[:, 1] < 2)
    return result


ACCOUNT = EntitySpec(
    name="account",
    columns=("name", "credit_code", "phone", "email", "address", "city", "contact_name"),
    featurise=_account_features,
    blocking=(
        BlockingKey(("credit_code",)),
        BlockingKey(("name_core",)),
        BlockingKey(("name_sound",)),
        BlockingKey(("name_head", "region")),
        BlockingKey(("phone",)),
        BlockingKey(("email",)),
        BlockingKey(("address",)),
    ),
    comparisons=_ACCOUNT_COMPARISONS,
    guards=(
        Guard("two different valid credit codes", _codes_differ),
        Guard("different regions", _regions_differ),
        Guard("a branch is not its head office or another branch", _branches_differ),
        Guard("the names disagree (shared contact points are not enough)", _account_name_disagrees),
    ),
    exclusive=("credit_code",),
)


# --------------------------------------------------------------------------- contacts


def _contact_features(rows: Sequence[Row]) -> dict[str, list[str | None]]:
    names = [
        *("first", "last", "first_pinyin", "last_pinyin", "name_sorted", "birth_date"),
        *("national_id", "street", "city", "postcode", "state", "phone", "email"),
    ]
    out: dict[str, list[str | None]] = {name: [] for name in names}
    for row in rows:
        person = normalise_person_name(row.get("first_name"), row.get("last_name"))
        if person is None:
            for name in ("first", "last", "first_pinyin", "last_pinyin", "name_sorted"):
                out[name].append(None)
        else:
            out["first"].append(person.given or None)
            out["last"].append(person.surname or None)
            out["first_pinyin"].append(pinyin(person.given) or None if person.given else None)
            out["last_pinyin"].append(pinyin(person.surname) or None if person.surname else None)
            parts = sorted(part.replace(" ", "") for part in (person.given, person.surname) if part)
            out["name_sorted"].append(" ".join(parts) if len(parts) == 2 else None)
        out["birth_date"].append(normalise_date(row.get("birth_date")))
        out["national_id"].append(_plain(row.get("national_id")))
        out["street"].append(_squeezed(normalise_address(row.get("street"))))
        out["city"].append(_plain(row.get("city")))
        out["postcode"].append(_plain(row.get("postcode")))
        out["state"].append(_plain(row.get("state")))
        out["phone"].append(normalise_phone(row.get("phone")))
        out["email"].append(normalise_email(row.get("email")))
    return out


def _squeezed(text: str | None) -> str | None:
    """Without spaces: "bellbird ctge" and "bellbirdctge" are one address."""
    return text.replace(" ", "") or None if text else None


def _plain(text: str | None) -> str | None:
    if text is None:
        return None
    value = " ".join(text.split()).lower()
    return value or None


def _person_disagrees(
    _table: FeatureTable, _pairs: Pairs, levels: npt.NDArray[np.int8]
) -> npt.NDArray[np.bool_]:
    first, last, birth, national_id = levels[:, 0], levels[:, 1], levels[:, 2], levels[:, 3]
    agrees = (first >= 3) | (last >= 3) | (birth == 3) | (national_id == 3)
    result: npt.NDArray[np.bool_] = ~agrees
    return result


def _name_ladder(name: str, feature: str, pinyin_feature: str) -> Comparison:
    return Comparison(
        name,
        (feature,),
        (
            Exact(feature),
            Exact("name_sorted", "names swapped"),
            Exact(pinyin_feature, "same pinyin"),
            Similar(feature, 0.92),
            Similar(feature, 0.8),
        ),
    )


CONTACT = EntitySpec(
    name="contact",
    columns=(
        "first_name",
        "last_name",
        "birth_date",
        "phone",
        "email",
        "street",
        "city",
        "postcode",
        "state",
        "national_id",
    ),
    featurise=_contact_features,
    blocking=(
        BlockingKey(("national_id",)),
        BlockingKey(("birth_date",)),
        BlockingKey(("first", "last")),
        BlockingKey(("name_sorted",)),
        BlockingKey(("last", "postcode")),
        BlockingKey(("first", "postcode")),
        BlockingKey(("street", "postcode")),
        BlockingKey(("first_pinyin", "last_pinyin")),
        BlockingKey(("phone",)),
        BlockingKey(("email",)),
    ),
    comparisons=(
        _name_ladder("first_name", "first", "first_pinyin"),
        _name_ladder("last_name", "last", "last_pinyin"),
        Comparison(
            "birth_date", ("birth_date",), (Exact("birth_date"), WithinEdits("birth_date", 1))
        ),
        Comparison(
            "national_id",
            ("national_id",),
            (Exact("national_id"), WithinEdits("national_id", 1)),
        ),
        Comparison("street", ("street",), (Exact("street"), Similar("street", 0.9))),
        Comparison("city", ("city",), (Exact("city"), Similar("city", 0.9))),
        Comparison("postcode", ("postcode",), (Exact("postcode"), WithinEdits("postcode", 1))),
        Comparison("state", ("state",), (Exact("state"),)),
        Comparison("phone", ("phone",), (Exact("phone"),)),
        Comparison("email", ("email",), (Exact("email"),)),
    ),
    guards=(
        Guard(
            "the names, birth dates and national ids disagree (not one person)", _person_disagrees
        ),
    ),
    exclusive=(),
)

ENTITIES: dict[str, EntitySpec] = {"account": ACCOUNT, "contact": CONTACT}
"""The kinds of record dedup knows, by the name the command line uses."""
