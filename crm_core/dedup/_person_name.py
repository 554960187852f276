"""Person names: surname, given name, and pinyin with the surname read as a surname.

单 is dan in most words but Shan as a surname; pypinyin gives the common reading, so surnames
(single and compound) are looked up here first. A Chinese name in one field is split after its
compound surname (欧阳娜娜) or its first character (张伟).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from crm_core.dedup._text import fold, pinyin

__all__ = ["PersonName", "normalise_person_full_name", "normalise_person_name"]


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's name normalised (see :func:`normalise_person_name`)."""

    full: str
    """Chinese: surname and given name without a space (张伟); Latin: ``given surname``."""
    surname: str
    given: str
    pinyin: str
    """Toneless pinyin of the surname (its surname reading), then of the given name, without
    separators (单雄信: shanxiongxin); a Latin name the same way (Wei Zhang: zhangwei)."""


SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "仇": "qiu", "朴": "piao", "区": "ou", "解": "xie", "查": "zha",
    "盖": "ge", "乐": "yue", "覃": "qin", "缪": "miao", "翟": "zhai", "秘": "bi", "召": "shao",
    "种": "chong", "黑": "he", "员": "yun", "句": "gou", "折": "she", "重": "chong", "长": "chang",
    "能": "nai", "繁": "po", "洗": "xian", "隗": "wei", "佴": "nai", "阚": "kan", "祭": "zhai",
    "薄": "bo", "都": "du", "卜": "bu", "么": "yao", "粘": "nian", "乜": "nie", "颉": "xie",
    "炅": "gui", "藏": "zang", "蕃": "pi", "奇": "ji", "尉": "wei", "万": "wan", "纪": "ji",
}  # fmt: skip
"""Single-character surnames whose surname reading is not pypinyin's default reading."""

COMPOUND_SURNAMES = {
    "欧阳": "ouyang", "司马": "sima", "诸葛": "zhuge", "上官": "shangguan", "东方": "dongfang",
    "皇甫": "huangfu", "慕容": "murong", "尉迟": "yuchi", "万俟": "moqi", "长孙": "zhangsun",
    "令狐": "linghu", "澹台": "tantai", "公孙": "gongsun", "夏侯": "xiahou", "轩辕": "xuanyuan",
    "独孤": "dugu", "南宫": "nangong", "西门": "ximen", "宇文": "yuwen", "司徒": "situ",
    "司空": "sikong", "端木": "duanmu", "百里": "baili", "呼延": "huyan", "闻人": "wenren",
    "东郭": "dongguo", "申屠": "shentu", "公冶": "gongye", "太史": "taishi", "赫连": "helian",
    "钟离": "zhongli", "宗政": "zongzheng", "濮阳": "puyang", "淳于": "chunyu", "单于": "chanyu",
    "公羊": "gongyang", "仲孙": "zhongsun", "亓官": "qiguan", "司寇": "sikou", "子车": "ziju",
    "颛孙": "zhuansun", "巫马": "wuma", "公西": "gongxi", "漆雕": "qidiao", "乐正": "yuezheng",
    "壤驷": "rangsi", "公良": "gongliang", "拓跋": "tuoba", "夹谷": "jiagu", "宰父": "zaifu",
    "谷梁": "guliang", "段干": "duangan", "梁丘": "liangqiu", "左丘": "zuoqiu", "东门": "dongmen",
    "第五": "diwu", "羊舌": "yangshe", "微生": "weisheng", "鲜于": "xianyu", "闾丘": "lvqiu",
}  # fmt: skip
"""Two-character surnames and their readings."""

_COMMON_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥"
    "南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支"
    "卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亢"
)
"""Common single-character surnames: to notice a Chinese name given surname-first in the wrong
fields (first 张, last 伟)."""

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_CN_JUNK = re.compile(r"[^\w]+|_+|\d+")
"""Spaces, punctuation (the middle dot of 约翰·史密斯) and digits: not part of a Chinese name."""
_CN_PAIR_JUNK = re.compile(r"[^\w\n]+|_+|\d+")
_CN_TITLES = ("总经理", "董事长", "先生", "女士", "小姐", "经理", "老师", "主任", "总监", "总裁")
_CN_SHORT_TITLES = ("总", "工")
"""Titles after a bare surname only: 张总, 李工."""
_LATIN_DROPPED = str.maketrans({"'": None, "’": None, ".": None})
"""Joined rather than split: O'Brien is obrien, J.R. jr."""
_LATIN_JUNK = re.compile(r"[\W_]+")
_HONORIFICS = frozenset(
    ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "madam", "mme", "mlle", "herr",
     "frau")
)  # fmt: skip


_SURNAME_PINYIN = SURNAME_READINGS | COMPOUND_SURNAMES


def _surname_pinyin(surname: str) -> str:
    reading = _SURNAME_PINYIN.get(surname)
    return reading if reading is not None else pinyin(surname)


def _is_surname(text: str) -> bool:
    return text in COMPOUND_SURNAMES or text in _COMMON_SURNAMES


def _cn_clean(text: str) -> str:
    """``text`` folded, without spaces, punctuation and digits."""
    folded = fold(text)
    return folded if folded.isalpha() else _CN_JUNK.sub("", folded)


def _cn_clean_pair(first: str, last: str) -> tuple[str, str]:
    """:func:`_cn_clean` of two fields at once (folding costs more than splitting)."""
    first, last = first.replace("\n", " "), last.replace("\n", " ")
    folded = fold(f"{first}\n{last}")
    given, _, surname = _CN_PAIR_JUNK.sub("", folded).partition("\n")
    return given, surname


def _cn_split(name: str) -> tuple[str, str]:
    """(surname, given name) of a Chinese name in one piece; titles (先生, 张总) dropped."""
    for title in _CN_TITLES:
        if name.endswith(title) and len(name) > len(title):
            name = name[: -len(title)]
            break
    else:
        if len(name) == 2 and name.endswith(_CN_SHORT_TITLES) and name[0] in _COMMON_SURNAMES:
            name = name[0]
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def _chinese(surname: str, given: str) -> PersonName | None:
    if not surname and not given:
        return None
    return PersonName(
        full=surname + given,
        surname=surname,
        given=given,
        pinyin=_surname_pinyin(surname) + pinyin(given),
    )


def _latin_words(text: str) -> list[str]:
    if text.isalpha() and text.isascii():
        return [text.lower()]
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _LATIN_JUNK.sub(" ", text.casefold().translate(_LATIN_DROPPED)).split()


def _latin(surname: list[str], given: list[str]) -> PersonName | None:
    while given and given[0] in _HONORIFICS:
        given = given[1:]
    if not surname and not given:
        return None
    surname_text, given_text = " ".join(surname), " ".join(given)
    return PersonName(
        full=f"{given_text} {surname_text}".strip(),
        surname=surname_text,
        given=given_text,
        pinyin=pinyin(surname_text) + pinyin(given_text),
    )


def _latin_one_field(text: str, *, is_surname: bool) -> PersonName | None:
    """A Latin name in one field: ``Smith, John``, ``John Smith``, or one word that is the
    surname when it came from the surname field."""
    if "," in text:
        surname, _, given = text.partition(",")
        return _latin(_latin_words(surname), _latin_words(given))
    words = _latin_words(text)
    while len(words) > 1 and words[0] in _HONORIFICS:
        words = words[1:]
    if len(words) > 1 or is_surname:
        return _latin(words[-1:], words[:-1])
    return _latin([], words)


def normalise_person_name(first: str | None, last: str | None) -> PersonName | None:
    """A person's name from its given-name (``first``) and surname (``last``) fields; None when
    both are empty.

    Chinese: folded (full-width, traditional to simplified), spaces and punctuation removed;
    a name given whole in one field is split after its surname (compound surnames such as 欧阳
    and 司马 included), and one given surname-first in the wrong fields (first 张, last 伟) is
    put right. Latin: lower case, accents, punctuation and leading titles (Mr, Dr) removed,
    single spaces; ``full`` is ``given surname``. The pinyin reads the surname as a surname.
    """
    first = first.strip() if first else ""
    last = last.strip() if last else ""
    if not first and not last:
        return None
    if not (first.isascii() and last.isascii()) and _HAN.search(first + last):
        given, surname = _cn_clean_pair(first, last)
        if given and surname:
            if not _is_surname(surname) and _is_surname(given):
                surname, given = given, surname
            return _chinese(surname, given)
        return _chinese(*_cn_split(given or surname))
    if first and last:
        return _latin(_latin_words(last), _latin_words(first))
    return _latin_one_field(first or last, is_surname=not first)


def normalise_person_full_name(text: str | None) -> PersonName | None:
    """A person's name from one cell (a contact name): 张伟, 欧阳娜娜, 张先生, ``John Smith``,
    ``Smith, John``, ``Dr. John Smith``; None when empty. See :func:`normalise_person_name`."""
    if not text or not text.strip():
        return None
    if _HAN.search(text):
        return _chinese(*_cn_split(_cn_clean(text)))
    return _latin_one_field(text, is_surname=True)
