"""Company names, taken apart into the features dedup compares: the brand and business words
(the core), the region, the legal form and the branch.

杭州华信电子科技有限公司, 浙江华信电子科技股份有限公司 and 華信電子科技（杭州）有限責任公司 share
the core 华信电子科技; 杭州 and 苏州 in front of one core are two companies (different regions),
and 杭州华信电子科技有限公司滨江分公司 is a branch of the first (same core, branch 滨江).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from crm_core.dedup._regions import (
    Region,
    match_place_words,
    match_prefix,
    match_prefix_words,
    match_whole,
)
from crm_core.dedup._text import fold, pinyin

__all__ = ["CompanyName", "normalise_company_name"]

_NATIONAL = "中国"
"""The region of 华信（中国）有限公司 and Huaxin (China) Co., Ltd.: the country."""


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name taken apart (see :func:`normalise_company_name`)."""

    full: str
    """The whole name normalised, the legal form in its canonical spelling."""
    core: str
    """The brand and business words: no region, legal form or branch (华信电子科技)."""
    region: str | None
    """The most specific region named at the start or in brackets, short form (杭州)."""
    province: str | None
    """The province-level division of the region, short form (浙江)."""
    legal_form: str | None
    """有限公司, 股份有限公司, 集团有限公司, 集团股份有限公司, 集团, 公司, 有限合伙, 普通合伙,
    合伙企业, 个人独资企业, 个体工商户, 厂, 店; co_ltd, inc, llc, ltd, corp, gmbh, plc, pte_ltd,
    ag, sa, co, group, group_co_ltd, ...; None when the name has none."""
    branch: str | None
    """What qualifies a branch (滨江 for …有限公司滨江分公司; "" for a bare …分公司); None for a
    record that is not a branch."""
    pinyin: str
    """Toneless pinyin of the core without separators (huaxindianzikeji)."""
    city: str | None = None
    """The prefecture-level city of the region when it is a city or inside one (杭州)."""


# --- cleaning ---------------------------------------------------------------------------------

_BRACKETS = str.maketrans(
    {"【": "(", "】": ")", "[": "(", "]": ")", "〔": "(", "〕": ")", "{": "(", "}": ")", "〖": "(",
     "〗": ")", "'": None, "’": None}
)  # fmt: skip
"""Every bracket made round; apostrophes dropped (McDonald's is mcdonalds)."""
_JUNK = re.compile(r"[^\w()]+|_+")
"""Runs of anything but letters, digits, CJK and round brackets (after the others are made
round): each becomes one space."""
_LOOSE_SPACE = re.compile(r" (?![a-z0-9])|(?<![a-z0-9]) ")
"""A space that does not stand between two Latin letters or digits."""
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_GROUP = re.compile(r"\(([^()]*)\)")
_TO_TRANSLATE = re.compile(r"[【】\[\]〔〕{}〖〗'’]")
"""What :data:`_BRACKETS` changes: a search is cheaper than translating every name."""


def _clean(text: str) -> str:
    folded = fold(text)
    if _TO_TRANSLATE.search(folded):
        folded = folded.translate(_BRACKETS)
    return _JUNK.sub(" ", folded).strip()


# --- Chinese names ----------------------------------------------------------------------------

_CN_FORMS = {
    "股份有限责任公司": "股份有限公司",
    "股份有限公司": "股份有限公司",
    "股份公司": "股份有限公司",
    "有限责任公司": "有限公司",
    "责任有限公司": "有限公司",
    "有限公司": "有限公司",
    "总公司": "公司",
    "公司": "公司",
    "(集团)": "集团",
    "集团": "集团",
    "合伙企业(有限合伙)": "有限合伙",
    "有限合伙企业": "有限合伙",
    "(有限合伙)": "有限合伙",
    "有限合伙": "有限合伙",
    "合伙企业(普通合伙)": "普通合伙",
    "普通合伙企业": "普通合伙",
    "(普通合伙)": "普通合伙",
    "普通合伙": "普通合伙",
    "合伙企业": "合伙企业",
    "个人独资企业": "个人独资企业",
    "(个人独资)": "个人独资企业",
    "个体工商户": "个体工商户",
    "(个体工商户)": "个体工商户",
}
"""Legal forms at the end of a Chinese name, and their canonical label."""
_CN_BY_LAST = {
    last: tuple(sorted((form for form in _CN_FORMS if form[-1] == last), key=len, reverse=True))
    for last in {form[-1] for form in _CN_FORMS}
}
_CN_GROUP = {"有限公司": "集团有限公司", "股份有限公司": "集团股份有限公司", "公司": "集团"}
"""A form after 集团 or （集团）: the label of both together."""
_CN_SPELLING = {"有限合伙": "合伙企业(有限合伙)", "普通合伙": "合伙企业(普通合伙)"}
"""How a label is written in ``full`` when not as the label itself."""
_EN_AS_CN = {"co_ltd": "有限公司", "ltd": "有限公司", "group_co_ltd": "集团有限公司",
              "group_ltd": "集团有限公司", "group": "集团"}  # fmt: skip
"""English legal forms after a Chinese name (华信电子 Co., Ltd.): the Chinese label."""
_LATIN_TAIL = re.compile(r"[a-z][a-z ]*$")
_CN_KINDS = ("厂", "店")
"""Endings reported as the legal form but left in the core (红星服装厂 and 红星服装厂有限公司
are one name)."""
_CN_BRANCHES = ("分公司", "分店", "办事处", "营业部", "分厂", "分行", "支行", "分部", "代表处",
                "分理处", "分所", "分社")  # fmt: skip
_CN_BRACKETED_FORMS = tuple(form for form in _CN_FORMS if form.startswith("("))
_CN_HEAD_ENDS = ("公司", "集团", "合伙)", "合伙企业", "独资企业", "工商户")
"""How a head office's name ends before the branch part (…有限公司 | 滨江分公司)."""
_DROPPED_GROUP = ("原", "筹")
"""Bracketed remarks that are not part of the name: （原华信科技）, （筹）."""
_MIN_CORE = 2
"""Characters a Chinese core keeps at least: a region is not stripped if it would leave fewer."""
_GENERIC_CORES = frozenset(
    ("大学", "学院", "中学", "小学", "医院", "银行", "商业银行", "农商银行", "农村商业银行",
     "研究院", "研究所", "电视台", "日报", "证券", "信托", "水务", "燃气", "地铁", "机场", "港务")
)  # fmt: skip
"""Institutions named after a place (中山大学, 杭州银行): the region stays part of the core, as
it would when nothing were left (中山有限公司)."""
_TRANSLATION = re.compile(
    r"^(?P<lead>[a-z0-9 ]+?(?: co ltd| ltd| limited| inc| llc| corp| corporation| company))"
    r"(?=[\u3400-\u9fff])|(?<=[司团厂店])(?P<tail>[a-z][a-z0-9 ()]*)$"
)
"""An English name written beside the Chinese one: before it, ending with a legal form
(Huaxin Co Ltd 华信有限公司), or after its legal form (华信有限公司 Huaxin Co Ltd)."""


@dataclass(slots=True)
class _Parts:
    full: str
    core: str
    region: Region | str | None
    legal_form: str | None
    branch: str | None


def _translation(found: re.Match[str]) -> str:
    """Nothing for an English name beside the Chinese one; a bare legal form (华信 Co., Ltd.)
    stays, to be read as the Chinese name's."""
    tail = found.group("tail")
    if tail is not None and len(_en_legal_form(["", *tail.split()])[0]) == 1:
        return tail
    return ""


def _cn_legal_form(head: str) -> tuple[str, str | None]:
    """(the head without its legal form, the form's label); the head itself and None when it
    ends with none."""
    if head[-1:].isascii() and head[-1:].isalpha():  # 华信电子科技 Co., Ltd.
        tail = _LATIN_TAIL.search(head)
        if tail is not None:
            words, label = _en_legal_form(["", *tail.group().split()])
            if label is not None:
                head = head[: tail.start()] + " ".join(words[1:])
                label = _EN_AS_CN.get(label, label)
                if label in _CN_GROUP and head.endswith("集团") and len(head) > 2:
                    return head[:-2], _CN_GROUP[label]
                return head, label
    for form in _CN_BY_LAST.get(head[-1], ()) if head else ():
        if head.endswith(form) and len(head) > len(form):
            label = _CN_FORMS[form]
            rest = head[: -len(form)]
            if label in _CN_GROUP:
                for group in ("(集团)", "集团"):
                    if rest.endswith(group) and len(rest) > len(group):
                        return rest[: -len(group)], _CN_GROUP[label]
            return rest, label
    if head.endswith(_CN_KINDS):
        return head, head[-1]
    return head, None


def _cn_branch(name: str) -> tuple[str, str | None, str]:
    """(the head office's name, the branch qualifier or None, the branch part as written)."""
    if name.endswith(")"):  # 华信电子科技有限公司（滨江分公司）
        start = name.rfind("(")
        if start > 0 and name[start + 1 : -1].endswith(_CN_BRANCHES):
            name = name[:start] + name[start + 1 : -1]
    if not name.endswith(_CN_BRANCHES):
        return name, None, ""
    marker = next(word for word in _CN_BRANCHES if name.endswith(word))
    if len(name) == len(marker):
        return name, None, ""
    rest = name[: -len(marker)]
    end = max(
        (rest.rfind(word) + len(word) for word in _CN_HEAD_ENDS if word in rest),
        default=-1,
    )
    if end <= 0:
        end = len(rest)
        for length in range(len(rest) - _MIN_CORE, 1, -1):  # 招商银行 | 杭州 | 分行
            if match_whole(rest[-length:]) is not None:
                end = len(rest) - length
                break
    head, qualifier = rest[:end], rest[end:]
    region = match_whole(qualifier) if qualifier else None
    return head, region.short if region is not None else qualifier, qualifier + marker


def _split_groups(text: str) -> tuple[str, list[str]]:
    """``text`` without its bracketed groups, and the groups' contents."""
    contents = _GROUP.findall(text)
    if not contents:
        return text, contents
    return _GROUP.sub("", text).replace("(", "").replace(")", ""), contents


def _cn_parts(name: str) -> _Parts:
    head, branch, branch_text = _cn_branch(name)
    trailing = ""
    while head.endswith(")") and not head.endswith(_CN_BRACKETED_FORMS):
        start = head.rfind("(")  # 华信电子科技有限公司（杭州）: the group belongs before the form
        if start <= 0:
            break
        head, trailing = head[:start], head[start:] + trailing
    rest, legal_form = _cn_legal_form(head)
    rest += trailing
    if legal_form in _CN_KINDS:
        full = rest + branch_text
    else:
        full = rest + _CN_SPELLING.get(legal_form or "", legal_form or "") + branch_text
    rest, groups = _split_groups(rest)
    bracketed: Region | str | None = None
    kept: list[str] = []
    for content in groups:
        is_place, region = _bracketed_region(content)
        if is_place and (rest or kept or len(groups) > 1):
            bracketed = bracketed or region
        elif not content.startswith(_DROPPED_GROUP):
            kept.append(content)
    rest += "".join(kept)  # other remarks stay part of the name, at its end
    prefix: Region | None = None
    core = rest
    for end, found in match_prefix(rest):
        if len(rest) - end >= _MIN_CORE and rest[end:] not in _GENERIC_CORES:
            prefix, core = found, rest[end:]
    return _Parts(full, core or rest, _deeper(prefix, bracketed), legal_form, branch)


def _bracketed_region(content: str) -> tuple[bool, Region | str | None]:
    """Whether bracketed ``content`` is a place, and which: （杭州）, （中国）, (Hangzhou); (Suzhou)
    is a place, but which one the spelling does not tell."""
    if content in (_NATIONAL, "china"):
        return True, _NATIONAL
    if content.isascii():
        return match_place_words(content.split())
    region = match_whole(content)
    return region is not None, region


def _deeper(prefix: Region | None, bracketed: Region | str | None) -> Region | str | None:
    """The more specific of a prefix region and a bracketed one (浙江华信（杭州）: 杭州)."""
    if prefix is None:
        return bracketed
    if isinstance(bracketed, Region) and prefix.contains(bracketed):
        return bracketed
    return prefix


# --- English names ----------------------------------------------------------------------------

_EN_FORMS = {
    ("limited", "liability", "company"): "llc",
    ("l", "l", "c"): "llc",
    ("company", "limited"): "co_ltd",
    ("company", "ltd"): "co_ltd",
    ("co", "limited"): "co_ltd",
    ("co", "ltd"): "co_ltd",
    ("coltd",): "co_ltd",
    ("pte", "ltd"): "pte_ltd",
    ("company", "inc"): "inc",
    ("co", "inc"): "inc",
    ("inc",): "inc",
    ("incorporated",): "inc",
    ("llc",): "llc",
    ("ltd",): "ltd",
    ("limited",): "ltd",
    ("corp",): "corp",
    ("corporation",): "corp",
    ("gmbh",): "gmbh",
    ("plc",): "plc",
    ("ag",): "ag",
    ("sa",): "sa",
    ("s", "a"): "sa",
    ("co",): "co",
    ("company",): "co",
}
"""Legal forms at the end of an English name (as words), and their canonical label."""
_EN_SPELLING = {"co_ltd": "co ltd", "pte_ltd": "pte ltd"}
_EN_GROUP = "group"
_EN_BRANCHES = (("branch", "office"), ("branch",))
_WORD_OR_GROUP = re.compile(r"\([^()]*\)|[^\s()]+")


def _en_legal_form(words: list[str]) -> tuple[list[str], str | None]:
    for length in (3, 2, 1):
        if len(words) > length:
            label = _EN_FORMS.get(tuple(words[-length:]))
            if label is not None:
                words = words[:-length]
                if words[-1] == _EN_GROUP and len(words) > 1:
                    return words[:-1], f"{_EN_GROUP}_{label}"
                return words, label
    if len(words) > 1 and words[-1] == _EN_GROUP:
        return words[:-1], _EN_GROUP
    return words, None


def _en_spelling(label: str) -> str:
    if label.startswith(f"{_EN_GROUP}_"):
        return f"{_EN_GROUP} {_en_spelling(label[len(_EN_GROUP) + 1 :])}"
    return _EN_SPELLING.get(label, label)


def _en_parts(name: str) -> _Parts:
    tokens = _WORD_OR_GROUP.findall(name)
    branch: str | None = None
    branch_words: list[str] = []
    for marker in _EN_BRANCHES:
        if len(tokens) > len(marker) and tuple(tokens[-len(marker) :]) == marker:
            rest = tokens[: -len(marker)]
            end = len(rest)
            for index in range(len(rest) - 1, 0, -1):  # the end of the head office's name
                if _en_legal_form(rest[: index + 1])[1] is not None:
                    end = index + 1
                    break
            qualifier = [token.strip("()") for token in rest[end:]]
            _, region = match_place_words(qualifier) if qualifier else (False, None)
            branch = region.short if region is not None else " ".join(qualifier)
            tokens, branch_words = rest[:end], [*rest[end:], *marker]
            break
    trailing: list[str] = []
    while tokens and tokens[-1].startswith("("):  # Huaxin Co., Ltd. (Hangzhou)
        trailing.insert(0, tokens.pop())
    words, legal_form = _en_legal_form(tokens)
    words += trailing
    full = " ".join([*words, *([_en_spelling(legal_form)] if legal_form else []), *branch_words])
    bracketed: Region | str | None = None
    kept: list[str] = []
    for token in words:
        if not token.startswith("("):
            kept.append(token)
            continue
        is_place, in_brackets = _bracketed_region(token[1:-1])
        content = token[1:-1].split()
        if is_place:
            bracketed = bracketed or in_brackets
        elif content and not content[0].startswith(("formerly", "former")):
            kept.extend(content)
    prefix: Region | None = None
    core = kept
    for end, found in match_prefix_words(kept):
        if end < len(kept):
            prefix, core = found, kept[end:]
    return _Parts(full, " ".join(core or kept), _deeper(prefix, bracketed), legal_form, branch)


# --- the public function ----------------------------------------------------------------------


def normalise_company_name(text: str | None) -> CompanyName | None:
    """Take a company name apart into what dedup compares; None for an empty name.

    The name is folded (NFKC: full-width to half-width; traditional to simplified; lower case),
    brackets of every kind become round ones, and whitespace and punctuation go (Latin words
    keep one space between them). Then, from the end: a branch (分公司, 分店, 办事处, 营业部,
    分厂, 分行, 支行, …, ``Branch``) with what qualifies it; the legal form, folded to one label
    (有限责任公司 and 有限公司 are one, 股份有限公司 another; Co., Ltd., Company Limited and
    CO LTD are ``co_ltd``); and, from the start or in brackets, the region (杭州, 浙江省杭州市,
    （杭州）, Hangzhou), unless taking it would leave less than two characters of the name.
    What remains is the core.
    """
    if not text:
        return None
    name = _clean(text)
    if not name.strip("() "):
        return None
    if _HAN.search(name):
        name = _LOOSE_SPACE.sub("", name)
        if name[-1].isascii() or name[0].isascii():
            name = _TRANSLATION.sub(_translation, name).strip() or name
        parts = _cn_parts(name)
    else:
        if not name.isascii():  # Société Générale: the accents go
            decomposed = unicodedata.normalize("NFKD", name)
            name = "".join(char for char in decomposed if not unicodedata.combining(char))
        parts = _en_parts(name)
    region = parts.region
    if isinstance(region, Region):
        region_name: str | None = region.short
        province, city = region.province, region.city
    else:
        region_name, province, city = region, None, None
    return CompanyName(
        full=parts.full,
        core=parts.core,
        region=region_name,
        province=province,
        legal_form=parts.legal_form,
        branch=parts.branch,
        pinyin=pinyin(parts.core),
        city=city,
    )
