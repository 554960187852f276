"""Benchmark of the CRM core's bulk load and customer search at a million accounts.

What is measured, per backend (SQLite and PostgreSQL), each run on fresh databases:

1. **Bulk load** -- ``crm_core.bulk.load(engine, Account, rows, origin="migration",
   key="credit_code", batch_size=B)`` of N generated Chinese companies (8 text fields, about
   180 bytes a row) into a freshly migrated database, so change capture (the triggers the
   migrations install) is on. ``rows`` is a streaming generator; the rate includes generating
   the rows.
2. **Raw baseline** -- the *same* rows (regenerated from the same seed) loaded the fastest plain
   way into a bare table of 8 text columns without indexes or constraints: PostgreSQL ``COPY``
   (psycopg ``cursor.copy()`` and ``write_row``) in one transaction; SQLite ``executemany`` of an
   ``INSERT`` in one transaction, in a separate file with Tongbu's settings (WAL,
   ``synchronous=NORMAL``). Printed: both rates and their ratio (targets: at least 0.4 on
   PostgreSQL, 0.5 on SQLite). The time it takes only to generate the rows is printed too: it
   is in both rates and in the floor's below (on PostgreSQL the server works on the other core
   meanwhile).
3. **Floor** -- the same rows (same seed, same streaming generator, generation timed as in the
   raw baseline) written the fastest plain way straight into the real ``accounts`` table of
   another freshly migrated database, with its constraints, indexes and change capture on, and
   no Tongbu code in the path: PostgreSQL ``COPY accounts (id, <the 8 fields>) FROM STDIN`` in
   one transaction that sets ``tongbu.origin`` to ``migration`` as the hub does; SQLite
   ``executemany`` of an ``INSERT`` into ``accounts`` in one ``BEGIN IMMEDIATE`` transaction
   with Tongbu's connection settings and its write-context row (origin ``migration``). The ids
   are given in ascending order (UUIDv7 layout, as Tongbu's; the schema's default, random
   UUIDs, would scatter the primary-key inserts and make the floor slower than a real loader);
   the other columns take the schema's defaults (timestamps, version, status...). It is the
   most any bulk API can reach on this schema: printed are its rate, floor / raw (if it is
   below the target, no implementation of the bulk load can meet it) and bulk / floor (how
   close Tongbu's bulk load gets to it). Checked as below.
4. **Check** -- ``accounts`` holds N rows and ``change_log`` N rows with op ``insert`` and
   origin ``migration`` (after the bulk load, and after the floor on its own database).
5. **Peak memory** -- the bulk load runs in a child process (this script, re-invoked with hidden
   flags), whose ``ru_maxrss`` covers that phase only; it is measured for N/10 (on a scratch
   database) and for N. Flat memory means a ratio near 1 (both include the imports, ~60 MB).
6. **Search** -- the first ``crm_core.search.refresh_index`` after the load (it indexes all N
   accounts: part of the cost of a bulk load), then Q queries through
   ``crm_core.search.search(engine, q, limit=20)`` with its default ``refresh=True``: about 40 %
   fragments of names (a brand such as 华信, or 华信电子), 20 % whole names, 25 % phones of
   existing rows in another format than the stored one (and some last-four-digit queries),
   15 % exact e-mail addresses. Printed: p50 and p95 (target p95 < 50 ms), queries with hits,
   and the slowest five. The benchmark does not ANALYZE before searching: on PostgreSQL it
   prints whether the tables had planner statistics by then (from Tongbu or autovacuum), and
   if not, repeats the searches after an ANALYZE, for reference.

On PostgreSQL a ``CHECKPOINT`` precedes each timed write phase, so that no phase pays for the
dirty pages of the one before. The figures go to the terminal and to ``bench/out/core_bulk.json``.

Run it (ten to twenty minutes for the default million rows on two cores)::

    python bench/core_bulk.py [--rows N] [--backends sqlite,postgresql] [--batch-size B]
                              [--queries Q] [--seed S] [--pg-admin-url URL]

``--rows 20000`` is a quick check. PostgreSQL databases named ``tongbu_bench_<random>`` are
created on the server of ``--pg-admin-url`` and dropped at the end, also on failure or Ctrl-C;
SQLite files live in a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import operator
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from types import FrameType
from typing import Any, NamedTuple

import psycopg

BACKENDS = ("sqlite", "postgresql")
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
OUT_FILE = Path(__file__).resolve().parent / "out" / "core_bulk.json"
FIELDS = ("name", "credit_code", "phone", "email", "address", "city", "industry", "website")

RATIO_TARGETS = {"postgresql": 0.4, "sqlite": 0.5}
P95_TARGET_MS = 50.0
FLAT_MEMORY_RATIO = 1.2
"""No number is asked for; a peak at N at most this many times the peak at N/10 counts as flat."""
FLOOR_ORIGIN = "migration"
"""The origin the floor's writes are tagged with, as the bulk load's are."""
FLOOR_WHAT = (
    "the fastest plain write into accounts with capture on: the most any bulk API can reach"
)
SQLITE_CACHE_KIB = 64 * 1024
"""The page cache Tongbu's SQLite connections use (``crm_core.db``), for the floor's connection."""

_START = time.time()
"""When the benchmark started (children are told the parent's, so all stamps share one clock)."""


class BenchError(Exception):
    """A phase failed or a check did not hold."""


def log(message: str) -> None:
    """A progress line, stamped with the time since the script started (on stderr)."""
    print(f"[{time.time() - _START:8.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- generated data


class Region(NamedTuple):
    """A city: the short form names start with, its province, and its districts."""

    short: str
    province: str
    city: str
    abbr: str
    code: str
    districts: tuple[str, ...]


def _region(short: str, province: str, abbr: str, code: str, districts: str) -> Region:
    city = f"{short}市"
    return Region(short, province, city, abbr, code, tuple(districts.split()))


_REGIONS: tuple[Region, ...] = (
    _region("杭州", "浙江省", "hz", "33", "西湖区 滨江区 余杭区 拱墅区 萧山区"),
    _region("宁波", "浙江省", "nb", "33", "鄞州区 海曙区 北仑区"),
    _region("温州", "浙江省", "wz", "33", "鹿城区 瓯海区 龙湾区"),
    _region("上海", "", "sh", "31", "浦东新区 徐汇区 闵行区 嘉定区 静安区"),
    _region("北京", "", "bj", "11", "海淀区 朝阳区 丰台区 大兴区 东城区"),
    _region("天津", "", "tj", "12", "滨海新区 南开区 河西区"),
    _region("重庆", "", "cq", "50", "渝北区 江北区 九龙坡区"),
    _region("深圳", "广东省", "sz", "44", "南山区 福田区 宝安区 龙岗区"),
    _region("广州", "广东省", "gz", "44", "天河区 番禺区 白云区 黄埔区"),
    _region("东莞", "广东省", "dg", "44", "南城街道 长安镇 松山湖"),
    _region("佛山", "广东省", "fs", "44", "南海区 顺德区 禅城区"),
    _region("苏州", "江苏省", "su", "32", "工业园区 吴中区 相城区"),
    _region("南京", "江苏省", "nj", "32", "鼓楼区 江宁区 建邺区"),
    _region("无锡", "江苏省", "wx", "32", "滨湖区 新吴区 梁溪区"),
    _region("常州", "江苏省", "cz", "32", "武进区 新北区"),
    _region("合肥", "安徽省", "hf", "34", "蜀山区 包河区 庐阳区"),
    _region("福州", "福建省", "fz", "35", "鼓楼区 仓山区"),
    _region("厦门", "福建省", "xm", "35", "思明区 湖里区 集美区"),
    _region("泉州", "福建省", "qz", "35", "丰泽区 鲤城区"),
    _region("济南", "山东省", "jn", "37", "历下区 槐荫区 历城区"),
    _region("青岛", "山东省", "qd", "37", "市南区 黄岛区 崂山区"),
    _region("郑州", "河南省", "zz", "41", "金水区 二七区 中原区"),
    _region("武汉", "湖北省", "wh", "42", "洪山区 江汉区 武昌区"),
    _region("长沙", "湖南省", "cs", "43", "岳麓区 雨花区 芙蓉区"),
    _region("成都", "四川省", "cd", "51", "武侯区 锦江区 双流区 成华区"),
    _region("西安", "陕西省", "xa", "61", "雁塔区 未央区 碑林区"),
    _region("沈阳", "辽宁省", "sy", "21", "和平区 浑南区"),
    _region("大连", "辽宁省", "dl", "21", "中山区 甘井子区"),
    _region("昆明", "云南省", "km", "53", "五华区 盘龙区"),
    _region("南宁", "广西壮族自治区", "nn", "45", "青秀区 西乡塘区"),
    _region("南昌", "江西省", "nc", "36", "红谷滩区 青山湖区"),
    _region("石家庄", "河北省", "sjz", "13", "长安区 裕华区"),
    _region("太原", "山西省", "ty", "14", "小店区 迎泽区"),
    _region("哈尔滨", "黑龙江省", "hrb", "23", "南岗区 道里区"),
    _region("贵阳", "贵州省", "gy", "52", "观山湖区 南明区"),
    _region("兰州", "甘肃省", "lz", "62", "城关区 七里河区"),
    _region("海口", "海南省", "hk", "46", "龙华区 美兰区"),
)

# Characters of brand names (字号) and their pinyin, for e-mail domains and websites.
_BRAND_TEXT = """
华hua 信xin 中zhong 国guo 天tian 海hai 金jin 宏hong 达da 伟wei 盛sheng 鑫xin 源yuan 泰tai
隆long 安an 恒heng 瑞rui 祥xiang 丰feng 兴xing 昌chang 荣rong 富fu 通tong 宇yu 新xin 益yi
嘉jia 和he 诚cheng 德de 立li 博bo 创chuang 远yuan 腾teng 飞fei 龙long 凤feng 明ming 光guang
阳yang 星xing 辰chen 晨chen 佳jia 美mei 康kang 健jian 联lian 合he 众zhong 民min 航hang
东dong 南nan 西xi 北bei 方fang 正zheng 大da 长chang 江jiang 河he 山shan 川chuan 峰feng
林lin 森sen 木mu 水shui 石shi 玉yu 银yin 铜tong 钢gang 力li 能neng 科ke 智zhi 慧hui
云yun 数shu 网wang 讯xun 电dian 微wei 芯xin 晶jing 锐rui 捷jie 迅xun 速su 乐le 欣xin
悦yue 怡yi 雅ya 致zhi 精jing 品pin 优you 良liang 尚shang 卓zhuo 越yue 超chao 凡fan 英ying
杰jie 豪hao 俊jun 锦jin 绣xiu 万wan 千qian 百bai 亿yi 兆zhao 旺wang 发fa 财cai 宝bao
贵gui 福fu 禄lu 寿shou 喜xi 吉ji 利li 顺shun 平ping 永yong 久jiu 春chun 夏xia 秋qiu
冬dong 青qing 绿lv 蓝lan 红hong 紫zi 白bai 彩cai 虹hong 霞xia 雨yu 雪xue 风feng 雷lei
鸿hong 鹏peng 鹰ying 鹤he 麒qi 麟lin 虎hu 狮shi 象xiang 马ma 牛niu 羊yang 松song 柏bai
梅mei 兰lan 竹zhu 菊ju 桂gui 莲lian 荷he 桃tao 李li 杏xing 橙cheng 禾he 稻dao 粮liang
农nong 工gong 商shang 贸mao 汇hui 聚ju 集ji 广guang 弘hong 泓hong 浩hao 瀚han 洋yang
涛tao 波bo 澜lan 润run 泽ze 清qing 澄cheng 淳chun 沃wo 启qi 宸chen 宁ning 静jing
圣sheng 尊zun 贤xian 仁ren 义yi 礼li 忠zhong 勤qin 朗lang 曜yao 煜yu 炜wei 烨ye 焱yan
灿can 璀cui 璨can 琪qi 琳lin 瑶yao 璐lu 珑long 玲ling 珍zhen 珠zhu 琦qi 瑾jin 璟jing
骏jun 驰chi 骐qi 骋cheng 迈mai 进jin 拓tuo 展zhan 开kai 元yuan 初chu 首shou 冠guan
领ling 先xian 峻jun 岭ling 岳yue 嵩song 衡heng 誉yu 邦bang 盟meng 友you 协xie 同tong
心xin 意yi 诺nuo 铭ming 鼎ding 钧jun 铸zhu 锋feng 未wei 来lai 时shi 代dai 世shi 纪ji
环huan 球qiu 宙zhou 舟zhou 帆fan 港gang 湾wan 湖hu 滨bin 岸an 洲zhou 陆lu 域yu 景jing
观guan 园yuan 庭ting 府fu 城cheng 都du 京jing 沪hu 粤yue 浙zhe 苏su 鲁lu 豫yu 晋jin
闽min 蜀shu 湘xiang 楚chu 吴wu 秦qin 汉han 唐tang 宋song 贝bei 尔er 特te 斯si 维wei
亚ya 欧ou 赛sai 迪di 凯kai 奥ao 奇qi 思si 索suo 菲fei 普pu 威wei 莱lai 恩en 纳na 伦lun
"""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_BRANDS: dict[str, str] = {}
for _entry in _words(_BRAND_TEXT):
    _BRANDS.setdefault(_entry[0], _entry[1:])
_BRAND_CHARS = tuple(_BRANDS)
_BRAND_PINYIN = tuple(_BRANDS.values())


class Industry(NamedTuple):
    """The word of a company name (电子科技), its industry field, and an English domain tag."""

    word: str
    field: str
    tag: str


_INDUSTRIES: tuple[Industry, ...] = tuple(
    Industry(*entry.split(","))
    for entry in _words(
        "电子科技,电子,tech 信息技术,信息技术,it 网络科技,互联网,net 软件开发,软件,soft "
        "智能科技,人工智能,ai 贸易,批发零售,trade 进出口,国际贸易,trading 实业,综合,group "
        "建筑工程,建筑,build 建材,建材,jc 机械设备,机械制造,machinery 精密机械,机械制造,jm "
        "新材料,新材料,material 化工,化工,chem 食品,食品饮料,food 餐饮管理,餐饮,cy "
        "医药,医药,pharm 医疗器械,医疗器械,med 生物科技,生物医药,bio 物流,交通物流,logistics "
        "供应链管理,供应链,scm 汽车零部件,汽车,auto 新能源,新能源,energy 环保科技,环保,eco "
        "文化传媒,文化传媒,media 广告,广告营销,ad 教育科技,教育,edu 企业管理咨询,商务服务,"
        "consulting 服饰,纺织服装,fashion 纺织,纺织服装,textile 家居,家居,home "
        "房地产开发,房地产,estate 物业管理,物业,wy 农业发展,农业,agri 金融信息服务,金融服务,"
        "fin 人力资源,人力资源,hr 包装材料,包装,pack 电气,电气设备,electric 光电,光电,oe "
        "印刷,印刷,print"
    )
)
_LEGAL_FORMS = ("有限公司",) * 12 + ("有限责任公司",) * 5 + ("股份有限公司",) * 3
_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司")  # longest first, for parsing
_ROADS = _words(
    "人民路 解放路 中山路 建设路 文三路 科技路 创业路 长江路 黄河路 学院路 工业大道 高新大道 "
    "滨江大道 新华路 和平路 东风路 朝阳路 南京路 北京路 延安路 复兴路 青年路 胜利路 光明路 "
    "环城北路 迎宾大道 世纪大道 金融街 软件园路 产业园路 江南大道 天府大道 深南大道 珠江路"
)
_MAILBOXES = _words("info sales service hr contact admin market kefu office support bd cs")
_CODE_LETTERS = "ABCDEFGHJKLMNPQRTUWXY"
# Credit codes carry a scrambled counter: unique (a bijection modulo 10**13), but not in
# ascending order, so the unique index sees inserts all over it as with real data.
_CODE_MODULUS = 10**13
_CODE_MULTIPLIER = 3_456_789_012_347  # coprime to 10**13


def _phone_text(digits: str, style: int) -> str:
    if style == 0:
        return digits
    if style == 1:
        return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"


def generate_rows(seed: int, count: int) -> Iterator[dict[str, str]]:
    """``count`` companies, the same for the same seed, one at a time (never a list)."""
    rng = random.Random(seed)
    rand = rng.random
    regions, n_regions = _REGIONS, len(_REGIONS)
    chars, pinyin, n_chars = _BRAND_CHARS, _BRAND_PINYIN, len(_BRAND_CHARS)
    industries, n_industries = _INDUSTRIES, len(_INDUSTRIES)
    forms, n_forms = _LEGAL_FORMS, len(_LEGAL_FORMS)
    roads, n_roads = _ROADS, len(_ROADS)
    boxes, n_boxes = _MAILBOXES, len(_MAILBOXES)
    for i in range(count):
        region = regions[int(rand() * n_regions)]
        first, second = int(rand() * n_chars), int(rand() * n_chars)
        brand = chars[first] + chars[second]
        spelled = pinyin[first] + pinyin[second]
        industry = industries[int(rand() * n_industries)]
        digits = f"1{3 + int(rand() * 7)}{int(rand() * 1e9):09d}"
        style = int(rand() * 5)
        if style == 0:
            domain = f"{spelled}.com"
        elif style == 1:
            domain = f"{spelled}.com.cn"
        elif style == 2:
            domain = f"{region.abbr}{spelled}.cn"
        elif style == 3:
            domain = f"{spelled}{industry.tag}.com"
        else:
            domain = f"{spelled}{int(rand() * 990) + 10}.com"
        extra = int(rand() * 3)
        if extra == 0:
            building = f"{brand}大厦{int(rand() * 30) + 1}楼"
        elif extra == 1:
            building = f"{int(rand() * 20) + 1}幢{int(rand() * 20) + 1}0{int(rand() * 9) + 1}室"
        else:
            building = ""
        district = region.districts[int(rand() * len(region.districts))]
        yield {
            "name": f"{region.short}{brand}{industry.word}{forms[int(rand() * n_forms)]}",
            "credit_code": (
                f"91{region.code}{i * _CODE_MULTIPLIER % _CODE_MODULUS:013d}{_CODE_LETTERS[i % 21]}"
            ),
            "phone": _phone_text(digits, int(rand() * 3)),
            "email": f"{boxes[int(rand() * n_boxes)]}@{domain}",
            "address": (
                f"{region.province}{region.city}{district}{roads[int(rand() * n_roads)]}"
                f"{int(rand() * 999) + 1}号{building}"
            ),
            "city": region.city,
            "industry": industry.field,
            "website": ("www.", "http://www.", "https://")[int(rand() * 3)] + domain,
        }


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    """One search of the benchmark, and the row it was drawn from."""

    kind: str
    """``fragment``, ``name``, ``phone``, ``phone_last4`` or ``email``."""
    text: str
    target: str
    """What the drawn row should show among the hits: its name, phone digits or e-mail."""


def _name_parts(name: str) -> tuple[str, str, str]:
    """(region, brand, industry word) of a generated company name."""
    region = next(
        r.short for r in sorted(_REGIONS, key=lambda r: -len(r.short)) if name.startswith(r.short)
    )
    rest = name[len(region) :]
    suffix = next(s for s in _LEGAL_SUFFIXES if rest.endswith(s))
    return region, rest[:2], rest[2 : -len(suffix)]


def _fragment(name: str, rng: random.Random) -> str:
    region, brand, word = _name_parts(name)
    choices = [brand, brand + word[:1], brand + word[:2]]
    if len(region) == 2:
        choices.append(region + brand)
    return rng.choice(choices)


def _query_for(kind: str, row: dict[str, str], rng: random.Random) -> Query:
    """A query of ``kind`` drawn from ``row``."""
    raw = row["phone"]
    digits = "".join(ch for ch in raw if ch.isdigit())[-11:]
    if kind == "fragment":
        return Query(kind, _fragment(row["name"], rng), row["name"])
    if kind == "name":
        return Query(kind, row["name"], row["name"])
    if kind == "phone_last4":
        return Query(kind, digits[-4:], digits)
    if kind == "email":
        return Query(kind, row["email"], row["email"])
    # A phone, in one of the two formats it is not stored in.
    stored = 0 if raw.isdigit() else 1 if raw.startswith("+") else 2
    style = rng.choice([s for s in (0, 1, 2) if s != stored])
    return Query("phone", _phone_text(digits, style), digits)


def _query_kinds(count: int, rng: random.Random) -> list[str]:
    """40 % fragments, 20 % names, 25 % phones (a third of them last four digits), 15 % e-mails."""
    fragments, names, phones = round(count * 0.40), round(count * 0.20), round(count * 0.25)
    last4 = round(phones * 0.3)
    emails = max(count - fragments - names - phones, 0)
    kinds = (
        ["fragment"] * fragments
        + ["name"] * names
        + ["phone"] * (phones - last4)
        + ["phone_last4"] * last4
        + ["email"] * emails
    )[:count]
    rng.shuffle(kinds)
    return kinds


@dataclass
class GeneratorFigures:
    """How fast the rows are generated, how big they are, and the queries drawn from them."""

    rows: int
    seconds: float
    avg_row_bytes: float
    queries: list[Query] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        """Rows generated per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def draw_queries(seed: int, rows: int, count: int) -> GeneratorFigures:
    """Generate all rows once (timed: the cost of generation alone) and draw the queries."""
    rng = random.Random(seed + 1)
    picks = sorted(rng.sample(range(rows), min(count, rows)))
    kinds = _query_kinds(len(picks), rng)
    sizes = [
        sum(len(value.encode()) for value in row.values())
        for row in generate_rows(seed, min(rows, 20_000))
    ]
    drawn: dict[int, dict[str, str]] = {}
    wanted = iter(picks)
    next_pick = next(wanted, -1)
    started = perf_counter()
    for index, row in enumerate(generate_rows(seed, rows)):
        if index == next_pick:
            drawn[index] = row
            next_pick = next(wanted, -1)
    seconds = perf_counter() - started
    queries = [_query_for(kind, drawn[pick], rng) for kind, pick in zip(kinds, picks, strict=True)]
    rng.shuffle(queries)
    return GeneratorFigures(rows, seconds, sum(sizes) / len(sizes), queries)


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def fresh_database(backend: str, admin_url: str, folder: Path) -> Iterator[str]:
    """A new, empty database, removed when the block ends (however it ends)."""
    name = f"tongbu_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        path = folder / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in folder.glob(f"{name}.db*"):
                leftover.unlink()
        return
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(admin_url: str, database: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{database}"


def migrate(url: str) -> float:
    """Migrate the database at ``url`` to the newest schema; return the seconds it took."""
    from crm_core import schema
    from crm_core.db import create_engine

    started = perf_counter()
    engine = create_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    return perf_counter() - started


def checkpoint(backend: str, url: str) -> None:
    """On PostgreSQL, write out dirty pages so that the next timed phase starts clean."""
    if backend == "postgresql":
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")


def _plain_pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# --------------------------------------------------------------------------- bulk load (child)


def maxrss_mb() -> float:
    """The peak resident memory of this process so far, in MB (``ru_maxrss`` is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_status_mb(key: str) -> float | None:
    """A memory figure of /proc/self/status (Linux), in MB: VmHWM is the peak, VmRSS the current."""
    try:
        lines = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return None


def child_bulk(url: str, rows: int, batch_size: int, seed: int) -> dict[str, Any]:
    """The bulk load itself, run in a child process so that its peak memory is its own."""
    from crm_core.bulk import BulkResult, load
    from crm_core.db import create_engine
    from crm_core.models import Account

    engine = create_engine(url)
    before = maxrss_mb()
    done = 0
    step = max(rows // 10, batch_size)
    next_report = step
    started = perf_counter()

    def progress(batch: BulkResult) -> None:
        nonlocal done, next_report
        done += batch.written + len(batch.rejected)
        if done >= next_report:
            elapsed = perf_counter() - started
            log(f"    bulk load {done:>10,} rows  {elapsed:7.1f}s  {done / elapsed:9,.0f} rows/s")
            next_report += step

    result = load(
        engine,
        Account,
        generate_rows(seed, rows),
        origin="migration",
        key="credit_code",
        batch_size=batch_size,
        progress=progress,
    )
    seconds = perf_counter() - started
    engine.dispose()
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": len(result.rejected),
        "first_rejects": [f"{r.index}: {r.reason}" for r in result.rejected[:5]],
        "peak_rss_mb": maxrss_mb(),
        "peak_rss_before_load_mb": before,
        "vm_hwm_mb": _proc_status_mb("VmHWM"),
        "rss_at_end_mb": _proc_status_mb("VmRSS"),
    }


def run_child(backend: str, url: str, rows: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run the bulk load of ``rows`` rows into ``url`` in a child process; return its figures.

    The child is started through ``sh``, which forks it: a process started directly from this
    one would inherit this process's peak in its ``ru_maxrss`` (Linux keeps the peak of the
    memory image an ``exec`` replaces), and the parent is the bigger process once it has run
    searches. The child runs in its own session and is killed with its group if this process
    stops early, so that it never outlives the database it writes to.
    """
    command = [
        "/bin/sh",
        "-c",
        '"$@"; exit $?',
        "sh",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "bulk",
        "--backend",
        backend,
        "--url",
        url,
        "--rows",
        str(rows),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        str(args.seed),
        "--started",
        repr(_START),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, start_new_session=True
    ) as child:
        try:
            output, _ = child.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
    if child.returncode != 0:
        raise BenchError(f"the bulk load child failed with exit status {child.returncode}")
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


# --------------------------------------------------------------------------- raw baseline


_BARE_COLUMNS = ", ".join(FIELDS)
_ROW_VALUES = operator.itemgetter(*FIELDS)


def raw_load(backend: str, url: str, folder: Path, rows: int, seed: int) -> dict[str, Any]:
    """Load the same rows the plainest fast way into a bare table; return the figures."""
    if backend == "postgresql":
        seconds, stored = _raw_postgres(_plain_pg_url(url), rows, seed)
    else:
        seconds, stored = _raw_sqlite(folder / f"bare_{uuid.uuid4().hex[:10]}.db", rows, seed)
    if stored != rows:
        raise BenchError(f"the raw load stored {stored} rows instead of {rows}")
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def _raw_postgres(url: str, rows: int, seed: int) -> tuple[float, int]:
    """COPY into a bare table of the benchmark database, in one transaction."""
    with psycopg.connect(url) as connection:
        connection.execute(f"CREATE TABLE bare ({', '.join(f'{c} text' for c in FIELDS)})")
        connection.commit()
        checkpoint("postgresql", url)
        started = perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY bare ({_BARE_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in generate_rows(seed, rows):
                copy.write_row(_ROW_VALUES(row))
        connection.commit()
        seconds = perf_counter() - started
        stored = connection.execute("SELECT count(*) FROM bare").fetchone()
    return seconds, stored[0] if stored else 0


def _raw_sqlite(path: Path, rows: int, seed: int) -> tuple[float, int]:
    """executemany into a bare table of its own file (WAL, synchronous=NORMAL), one transaction."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(f"CREATE TABLE bare ({', '.join(f'{c} TEXT' for c in FIELDS)})")
        started = perf_counter()
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO bare ({_BARE_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})",
            (_ROW_VALUES(row) for row in generate_rows(seed, rows)),
        )
        connection.execute("COMMIT")
        seconds = perf_counter() - started
        stored = connection.execute("SELECT count(*) FROM bare").fetchone()
    finally:
        connection.close()
        for leftover in path.parent.glob(f"{path.name}*"):
            leftover.unlink()
    return seconds, stored[0] if stored else 0


# --------------------------------------------------------------------------- floor


def floor_load(backend: str, url: str, rows: int, seed: int) -> dict[str, Any]:
    """Write the same rows the plainest fast way into ``accounts`` of a migrated database.

    No Tongbu code runs: a ``COPY`` on PostgreSQL, an ``executemany`` on SQLite, each in one
    transaction tagged with the origin ``migration`` the way the hub tags its writes, so the
    change-capture triggers log every row as they do for the bulk load. The ids are given, in
    ascending order (:func:`_ordered_ids`), the kindest order for the primary-key index; the
    other columns not given take the schema's defaults. Return the figures (the caller checks
    the counts).
    """
    if backend == "postgresql":
        seconds = _floor_postgres(_plain_pg_url(url), rows, seed)
        how = f"COPY accounts ({_FLOOR_COLUMNS}) FROM STDIN, one transaction"
    else:
        seconds = _floor_sqlite(Path(url.removeprefix("sqlite:///")), rows, seed)
        how = f"executemany INSERT INTO accounts ({_FLOOR_COLUMNS}), one transaction"
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "method": how,
        "what": FLOOR_WHAT,
    }


_FLOOR_COLUMNS = f"id, {_BARE_COLUMNS}"
_UUID7_VERSION_BITS = 0x7 << 76 | 0x2 << 62
"""Version 7 and variant ``10`` of RFC 9562, the layout of Tongbu's ids."""


def _ordered_ids(count: int) -> Iterator[str]:
    """``count`` ascending UUIDv7 ids as 32 hex digits: this millisecond, then a counter.

    Tongbu's own ids are UUIDv7 too (random bits after the millisecond); ids in ascending
    order are the cheapest any loader can give the primary-key index. The schema's default
    (random UUIDs) would scatter the inserts over that index and make the floor slower than
    a loader that gives its ids, so it would not be a floor.
    """
    base = (time.time_ns() // 1_000_000) << 80 | _UUID7_VERSION_BITS
    for counter in range(count):
        yield f"{base | counter:032x}"


def _floor_rows(seed: int, rows: int) -> Iterator[tuple[str, ...]]:
    """The generated rows as tuples of the floor's columns (id first)."""
    for record_id, row in zip(_ordered_ids(rows), generate_rows(seed, rows), strict=True):
        yield (record_id, *_ROW_VALUES(row))


def _floor_postgres(url: str, rows: int, seed: int) -> float:
    """COPY into ``accounts``, in one transaction with ``tongbu.origin`` set as the hub sets it."""
    with psycopg.connect(url) as connection:
        started = perf_counter()
        connection.execute(
            "SELECT set_config('tongbu.origin', %s, true), set_config('tongbu.actor', '', true)",
            (FLOOR_ORIGIN,),
        )
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY accounts ({_FLOOR_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in _floor_rows(seed, rows):
                copy.write_row(row)
        connection.commit()
        return perf_counter() - started


def _floor_sqlite(path: Path, rows: int, seed: int) -> float:
    """executemany into ``accounts`` with Tongbu's connection settings, in one transaction.

    The settings are those ``crm_core.db`` gives its connections (foreign keys on, WAL,
    ``synchronous=NORMAL``, a 64 MB page cache); the write-context row tells the triggers the
    origin, and is deleted before the commit, as a hub session does.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        started = perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT OR REPLACE INTO tongbu_write_context (id, origin, actor_id) "
            "VALUES (1, ?, NULL)",
            (FLOOR_ORIGIN,),
        )
        connection.executemany(
            f"INSERT INTO accounts ({_FLOOR_COLUMNS}) "
            f"VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
            _floor_rows(seed, rows),
        )
        connection.execute("DELETE FROM tongbu_write_context")
        connection.execute("COMMIT")
        return perf_counter() - started
    finally:
        connection.close()


# --------------------------------------------------------------------------- check and search


def verify(url: str, rows: int) -> dict[str, int]:
    """Count accounts and their change log; raise unless both hold exactly ``rows`` rows."""
    from sqlalchemy import text

    from crm_core.db import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            accounts = connection.scalar(text("SELECT count(*) FROM accounts")) or 0
            logged = connection.scalar(text("SELECT count(*) FROM change_log")) or 0
            inserts = (
                connection.scalar(
                    text(
                        "SELECT count(*) FROM change_log WHERE entity = 'accounts' "
                        "AND op = 'insert' AND origin = 'migration'"
                    )
                )
                or 0
            )
    finally:
        engine.dispose()
    counts = {"accounts": accounts, "change_log": logged, "change_log_migration_inserts": inserts}
    if accounts != rows or inserts != rows or logged != rows:
        raise BenchError(f"expected {rows} accounts and as many logged inserts, found {counts}")
    return counts


def build_index(url: str, rows: int) -> dict[str, Any]:
    """The first ``refresh_index`` after the load: it indexes every account."""
    from crm_core.db import create_engine
    from crm_core.search import refresh_index

    engine = create_engine(url)
    done = 0
    step = max(rows // 10, 1)
    next_report = step
    started = perf_counter()

    def progress(count: int) -> None:
        nonlocal done, next_report
        done += count
        if done >= next_report:
            elapsed = perf_counter() - started
            log(f"    indexed {done:>10,} records  {elapsed:7.1f}s  {done / elapsed:9,.0f}/s")
            next_report += step

    try:
        indexed = refresh_index(engine, progress=progress)
    finally:
        engine.dispose()
    seconds = perf_counter() - started
    if indexed != rows:
        raise BenchError(f"the first refresh indexed {indexed} records instead of {rows}")
    return {"records": indexed, "seconds": seconds, "records_per_s": indexed / seconds}


def table_stats(backend: str, url: str) -> dict[str, Any]:
    """Whether PostgreSQL has analyzed the searched tables yet (autovacuum does it, eventually).

    The benchmark does not run ANALYZE itself: searches right after a bulk load get whatever
    statistics autovacuum has gathered so far, and their plans depend on it.
    """
    if backend != "postgresql":
        return {}
    with psycopg.connect(_plain_pg_url(url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT relname, n_live_tup, n_mod_since_analyze, "
            "coalesce(last_analyze, last_autoanalyze) IS NOT NULL "
            "FROM pg_stat_user_tables WHERE relname IN ('accounts', 'search_doc') ORDER BY 1"
        ).fetchall()
    return {
        name: {"live_rows": live, "modified_since_analyze": modified, "analyzed": analyzed}
        for name, live, modified, analyzed in rows
    }


def _found(query: Query, hits: list[Any]) -> bool:
    from crm_core.search import phone_digits

    if query.kind == "email":
        return any(hit.email == query.target for hit in hits)
    if query.kind == "phone":
        return any(phone_digits(hit.phone) == query.target for hit in hits)
    if query.kind == "phone_last4":
        return any((phone_digits(hit.phone) or "").endswith(query.text) for hit in hits)
    if query.kind == "name":
        return any(hit.title == query.target for hit in hits)
    return any(query.text in hit.title for hit in hits)


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def run_queries(url: str, queries: list[Query]) -> dict[str, Any]:
    """Time every query through ``search`` (with its default refresh) and summarize."""
    from crm_core.db import create_engine
    from crm_core.search import search

    engine = create_engine(url)
    timings: list[dict[str, Any]] = []
    try:
        for query in queries:
            started = perf_counter()
            hits = search(engine, query.text, limit=20)
            elapsed_ms = (perf_counter() - started) * 1000
            timings.append(
                {
                    "kind": query.kind,
                    "query": query.text,
                    "ms": elapsed_ms,
                    "hits": len(hits),
                    "target_found": _found(query, hits),
                }
            )
    finally:
        engine.dispose()
    latencies = [t["ms"] for t in timings]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({t["kind"] for t in timings}):
        mine = [t for t in timings if t["kind"] == kind]
        by_kind[kind] = {
            "count": len(mine),
            "p50_ms": _percentile([t["ms"] for t in mine], 0.50),
            "p95_ms": _percentile([t["ms"] for t in mine], 0.95),
            "with_hits": sum(1 for t in mine if t["hits"]),
            "target_found": sum(1 for t in mine if t["target_found"]),
        }
    return {
        "count": len(timings),
        "p50_ms": _percentile(latencies, 0.50),
        "p95_ms": _percentile(latencies, 0.95),
        "max_ms": max(latencies),
        "with_hits": sum(1 for t in timings if t["hits"]),
        "target_found": sum(1 for t in timings if t["target_found"]),
        "by_kind": by_kind,
        "slowest": sorted(timings, key=lambda t: -t["ms"])[:5],
        "all": timings,
    }


# --------------------------------------------------------------------------- one backend


def run_backend(
    backend: str, args: argparse.Namespace, folder: Path, generated: GeneratorFigures
) -> dict[str, Any]:
    """Every phase on one backend; return its figures."""
    rows = args.rows
    small = max(rows // 10, 1)
    figures: dict[str, Any] = {"backend": backend, "rows": rows}

    with fresh_database(backend, args.pg_admin_url, folder) as scratch:
        migrate(scratch)
        checkpoint(backend, _plain_pg_url(scratch))
        log(f"{backend}: bulk load of {small:,} rows (memory probe, scratch database)")
        figures["probe"] = run_child(backend, scratch, small, args)
        log(f"{backend}: probe done in {figures['probe']['seconds']:.1f}s")

    with fresh_database(backend, args.pg_admin_url, folder) as url:
        figures["migrate_s"] = migrate(url)
        log(f"{backend}: migrated a fresh database in {figures['migrate_s']:.1f}s")
        checkpoint(backend, _plain_pg_url(url))
        log(f"{backend}: bulk load of {rows:,} rows (child process)")
        bulk = figures["bulk"] = run_child(backend, url, rows, args)
        log(
            f"{backend}: bulk load done in {bulk['seconds']:.1f}s, {bulk['rows_per_s']:,.0f} rows/s"
        )
        started = perf_counter()
        figures["check"] = verify(url, rows)
        log(f"{backend}: checked the counts in {perf_counter() - started:.1f}s: {figures['check']}")

        log(f"{backend}: raw baseline load of the same {rows:,} rows")
        raw = figures["raw"] = raw_load(backend, url, folder, rows, args.seed)
        log(f"{backend}: raw load done in {raw['seconds']:.1f}s, {raw['rows_per_s']:,.0f} rows/s")

        checkpoint(backend, _plain_pg_url(url))
        log(f"{backend}: first refresh_index (indexes all {rows:,} accounts)")
        index = figures["index"] = build_index(url, rows)
        log(f"{backend}: index built in {index['seconds']:.1f}s")

        stats = figures["table_stats"] = table_stats(backend, url)
        log(f"{backend}: {len(generated.queries)} searches (table statistics: {stats or 'n/a'})")
        search = figures["search"] = run_queries(url, generated.queries)
        log(f"{backend}: searches done, p50 {search['p50_ms']:.1f}, p95 {search['p95_ms']:.1f} ms")
        if stats and not all(table["analyzed"] for table in stats.values()):
            _search_after_analyze(figures, url, generated.queries)

    with fresh_database(backend, args.pg_admin_url, folder) as url:
        migrate(url)
        checkpoint(backend, _plain_pg_url(url))
        log(f"{backend}: floor: plain write of the same {rows:,} rows into accounts (fresh db)")
        floor = figures["floor"] = floor_load(backend, url, rows, args.seed)
        log(f"{backend}: floor done in {floor['seconds']:.1f}s, {floor['rows_per_s']:,.0f} rows/s")
        floor["check"] = verify(url, rows)
        log(f"{backend}: checked the floor's counts: {floor['check']}")

    _derive(figures, generated)
    return figures


def _search_after_analyze(figures: dict[str, Any], url: str, queries: list[Query]) -> None:
    """For reference: the same searches once the tables have planner statistics.

    Autovacuum would gather them at some point after the load (if it is on: check the server);
    this shows what the searches cost then. The target is judged on the searches above.
    """
    started = perf_counter()
    with psycopg.connect(_plain_pg_url(url), autocommit=True) as connection:
        connection.execute("ANALYZE accounts")
        connection.execute("ANALYZE search_doc")
    figures["analyze_s"] = perf_counter() - started
    log(f"postgresql: ANALYZE accounts, search_doc took {figures['analyze_s']:.1f}s; same searches")
    again = figures["search_after_analyze"] = run_queries(url, queries)
    log(f"postgresql: searches done, p50 {again['p50_ms']:.1f}, p95 {again['p95_ms']:.1f} ms")


def _derive(figures: dict[str, Any], generated: GeneratorFigures) -> None:
    """Ratios and verdicts from the measured figures."""
    backend = figures["backend"]
    bulk, raw, index = figures["bulk"], figures["raw"], figures["index"]
    ratio = bulk["rows_per_s"] / raw["rows_per_s"]
    with_index = figures["rows"] / (bulk["seconds"] + index["seconds"])
    figures["ratio"] = {
        "value": ratio,
        "target": RATIO_TARGETS[backend],
        "met": ratio >= RATIO_TARGETS[backend],
        "load_and_index_rows_per_s": with_index,
        "load_and_index_ratio": with_index / raw["rows_per_s"],
    }
    floor = figures["floor"]
    floor_ratio = floor["rows_per_s"] / raw["rows_per_s"]
    floor.update(
        {
            "floor_to_raw": floor_ratio,
            "bulk_to_floor": bulk["rows_per_s"] / floor["rows_per_s"],
            "target_reachable": floor_ratio >= RATIO_TARGETS[backend],
        }
    )
    probe = figures["probe"]
    memory_ratio = bulk["peak_rss_mb"] / probe["peak_rss_mb"]
    figures["memory"] = {
        "rows_small": probe["rows"],
        "peak_small_mb": probe["peak_rss_mb"],
        "rows_large": bulk["rows"],
        "peak_large_mb": bulk["peak_rss_mb"],
        "ratio": memory_ratio,
        "flat": memory_ratio <= FLAT_MEMORY_RATIO,
        "before_load_small_mb": probe["peak_rss_before_load_mb"],
        "before_load_large_mb": bulk["peak_rss_before_load_mb"],
        "vm_hwm_small_mb": probe["vm_hwm_mb"],
        "vm_hwm_large_mb": bulk["vm_hwm_mb"],
    }
    figures["search"]["target_p95_ms"] = P95_TARGET_MS
    figures["search"]["met"] = figures["search"]["p95_ms"] < P95_TARGET_MS


# --------------------------------------------------------------------------- report


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


def report(figures: dict[str, Any], generated: GeneratorFigures) -> None:
    """Print one backend's figures as tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(shutil.get_terminal_size((110, 24)).columns, 110))
    bulk, raw, index, search = (figures[k] for k in ("bulk", "raw", "index", "search"))
    ratio, memory, floor = figures["ratio"], figures["memory"], figures["floor"]
    table = Table(title=f"{figures['backend']}: {figures['rows']:,} accounts", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_row(
        "Tongbu bulk load", f"{bulk['rows_per_s']:,.0f} rows/s", f"{bulk['seconds']:.1f}s"
    )
    table.add_row(
        "raw load (bare table)", f"{raw['rows_per_s']:,.0f} rows/s", f"{raw['seconds']:.1f}s"
    )
    table.add_row(
        "floor (plain write into accounts)",
        f"{floor['rows_per_s']:,.0f} rows/s",
        f"{floor['seconds']:.1f}s, capture on: the most any bulk API can reach",
    )
    table.add_row(
        "ratio Tongbu / raw",
        f"{ratio['value']:.3f}",
        f">= {ratio['target']}: {_verdict(ratio['met'])}",
    )
    table.add_row(
        "ratio floor / raw",
        f"{floor['floor_to_raw']:.3f}",
        f">= {ratio['target']} needed to reach the target: "
        + ("reachable" if floor["target_reachable"] else "[red]unreachable by any bulk load[/red]"),
    )
    table.add_row(
        "ratio bulk / floor",
        f"{floor['bulk_to_floor']:.3f}",
        "how close Tongbu's bulk load gets to the floor",
    )
    table.add_row(
        "  (generating the rows alone)",
        f"{generated.rows_per_s:,.0f} rows/s",
        f"{generated.seconds:.1f}s, in the three rates above",
    )
    table.add_row(
        "first refresh_index",
        f"{index['records_per_s']:,.0f} records/s",
        f"{index['seconds']:.1f}s",
    )
    table.add_row(
        "load + index build",
        f"{ratio['load_and_index_rows_per_s']:,.0f} rows/s",
        f"ratio to raw {ratio['load_and_index_ratio']:.3f}",
    )
    table.add_row(
        "check",
        "ok",
        f"{figures['check']['accounts']:,} accounts, "
        f"{figures['check']['change_log_migration_inserts']:,} logged inserts (migration)",
    )
    table.add_row(
        "floor check",
        "ok",
        f"{floor['check']['accounts']:,} accounts, "
        f"{floor['check']['change_log_migration_inserts']:,} logged inserts (migration)",
    )
    table.add_row(
        f"peak RSS (ru_maxrss) at {memory['rows_small']:,} / {memory['rows_large']:,} rows",
        f"{memory['peak_small_mb']:.0f} / {memory['peak_large_mb']:.0f} MB",
        f"ratio {memory['ratio']:.2f}: {'flat' if memory['flat'] else '[red]grows[/red]'}",
    )
    table.add_row(
        "  of which before the load (imports)",
        f"{memory['before_load_small_mb']:.0f} / {memory['before_load_large_mb']:.0f} MB",
        "",
    )
    table.add_row(
        f"search p50 / p95 ({search['count']} queries)",
        f"{search['p50_ms']:.1f} / {search['p95_ms']:.1f} ms",
        f"p95 < {P95_TARGET_MS:.0f} ms: {_verdict(search['met'])}",
    )
    for name, stats in figures["table_stats"].items():
        table.add_row(
            f"  {name} analyzed when searched",
            "yes" if stats["analyzed"] else "[red]no[/red]",
            f"{stats['modified_since_analyze']:,} rows changed since",
        )
    if "search_after_analyze" in figures:
        again = figures["search_after_analyze"]
        table.add_row(
            "  same searches after ANALYZE",
            f"{again['p50_ms']:.1f} / {again['p95_ms']:.1f} ms",
            f"for reference (ANALYZE took {figures['analyze_s']:.1f}s)",
        )
    table.add_row(
        "queries with hits / target in top 20",
        f"{search['with_hits']} / {search['target_found']}",
        f"of {search['count']}",
    )
    console.print(table)

    kinds = Table(title=f"{figures['backend']}: search by kind", title_justify="left")
    for name in ("kind", "n", "p50 ms", "p95 ms", "hits", "target found"):
        kinds.add_column(name, justify="left" if name == "kind" else "right")
    for kind, row in search["by_kind"].items():
        kinds.add_row(
            kind,
            str(row["count"]),
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            str(row["with_hits"]),
            str(row["target_found"]),
        )
    console.print(kinds)

    slowest = Table(title=f"{figures['backend']}: slowest queries", title_justify="left")
    for name in ("ms", "kind", "query", "hits"):
        slowest.add_column(name, justify="right" if name in {"ms", "hits"} else "left")
    for row in search["slowest"]:
        slowest.add_row(f"{row['ms']:.1f}", row["kind"], row["query"], str(row["hits"]))
    console.print(slowest)


# --------------------------------------------------------------------------- main


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the CRM core's bulk load and search on SQLite and PostgreSQL."
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="accounts to load")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per bulk batch")
    parser.add_argument("--queries", type=int, default=200, help="searches to time")
    parser.add_argument("--seed", type=int, default=20261125, help="seed of the generated data")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL, help="where to create DBs")
    parser.add_argument("--child", choices=["bulk"], help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.backend_list = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(args.backend_list) - set(BACKENDS))
    if unknown or not args.backend_list:
        parser.error(f"--backends: choose among {', '.join(BACKENDS)} (got {args.backends!r})")
    if args.rows < 1 or args.batch_size < 1 or args.queries < 1:
        parser.error("--rows, --batch-size and --queries must be positive")
    return args


def _server_version(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    log("terminated; removing the benchmark databases and files")
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with the hidden ``--child`` flag, one bulk load)."""
    args = _arguments(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if args.child == "bulk":
        global _START  # noqa: PLW0603 - the child stamps its lines on the parent's clock
        _START = args.started or _START
        figures = child_bulk(args.url, args.rows, args.batch_size, args.seed)
        print(json.dumps(figures))
        return 0

    started_at = datetime.now(UTC)
    log(
        f"core_bulk: {args.rows:,} rows, batch {args.batch_size}, {args.queries} queries, "
        f"backends {', '.join(args.backend_list)}"
    )
    generated = draw_queries(args.seed, args.rows, args.queries)
    log(
        f"generation alone: {args.rows:,} rows in {generated.seconds:.1f}s "
        f"({generated.rows_per_s:,.0f} rows/s, {generated.avg_row_bytes:.0f} bytes a row); "
        f"{len(generated.queries)} queries drawn"
    )
    results: dict[str, Any] = {
        "run": {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "started_at": started_at.isoformat(timespec="seconds"),
            "rows": args.rows,
            "batch_size": args.batch_size,
            "queries": args.queries,
            "seed": args.seed,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": len(os.sched_getaffinity(0)),
        },
        "generation": {
            "rows": generated.rows,
            "seconds": generated.seconds,
            "rows_per_s": generated.rows_per_s,
            "avg_row_bytes": generated.avg_row_bytes,
        },
        "queries": [asdict(query) for query in generated.queries],
        "backends": {},
    }
    if "postgresql" in args.backend_list:
        results["run"]["postgresql"] = _server_version(args.pg_admin_url)
    folder = Path(tempfile.mkdtemp(prefix="tongbu_bench_"))
    try:
        for backend in args.backend_list:
            figures = run_backend(backend, args, folder, generated)
            results["backends"][backend] = figures
            report(figures, generated)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = time.time() - _START
    results["run"]["total_s"] = total
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log(f"done in {total:.1f}s; figures written to {OUT_FILE}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as failure:
        log(f"FAILED: {failure}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; the benchmark databases and files were removed")
        sys.exit(130)
