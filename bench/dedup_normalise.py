"""Micro-benchmark of the dedup normalisers: values per second on one core.

Normalises N generated values (default 200,000) of each kind, the way a dedup run meets them:
Chinese company names in their usual variants (regions, legal forms, brackets, branches, a few
traditional or full-width ones), Chinese and Latin person names, and Chinese phones as people
type them. Each figure is the best of three runs after a warm-up (the first run fills the
pinyin and OpenCC caches, as the first records of a real run do), as values per second of CPU
time (one core's speed, fair on a shared machine) and of wall-clock time.

Run it::

    python bench/dedup_normalise.py [--values N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from crm_core.dedup._normalise import (
    normalise_address,
    normalise_company_name,
    normalise_date,
    normalise_email,
    normalise_person_full_name,
    normalise_person_name,
    normalise_phone,
    pinyin,
)

_CITIES = ("杭州", "苏州", "上海", "北京", "深圳", "广州", "南京", "成都", "武汉", "宁波", "温州",
           "无锡", "佛山", "东莞", "合肥")  # fmt: skip
_BRANDS = ("华信", "恒达", "鑫源", "天诚", "中科", "博远", "瑞丰", "金泰", "东方", "星辰", "海纳",
           "宏图", "振华", "永盛", "安捷")  # fmt: skip
_TRADES = ("电子科技", "贸易", "建筑工程", "食品", "物流", "信息技术", "机械制造", "医疗器械",
           "服装", "新材料")  # fmt: skip
_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司", "有限公司")
_SURNAMES = (*"王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗单曾", "欧阳", "司马")
_GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰",
          "娟", "涛", "明", "超", "秀兰", "霞")  # fmt: skip
_LATIN_FIRST = ("john", "mary", "james", "patricia", "robert", "jennifer", "michael", "linda",
                "william", "elizabeth")  # fmt: skip
_LATIN_LAST = ("smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
               "rodriguez", "martinez")  # fmt: skip


def _company(rng: random.Random) -> str:
    city, brand, trade = rng.choice(_CITIES), rng.choice(_BRANDS), rng.choice(_TRADES)
    form = rng.choice(_FORMS)
    shape = rng.random()
    if shape < 0.6:
        return f"{city}{brand}{trade}{form}"
    if shape < 0.75:
        return f"{brand}{trade}（{city}）{form}"
    if shape < 0.85:
        return f"{city}{brand}{trade}{form}{rng.choice(_CITIES)}分公司"
    if shape < 0.95:
        return f"{brand}{trade}{form}"
    return f"{city}{brand}{trade}{form}".replace("华", "華").replace("电", "電")


def _phone(rng: random.Random) -> str:
    mobile = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    shape = rng.random()
    if shape < 0.5:
        return mobile
    if shape < 0.7:
        return f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if shape < 0.85:
        return f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    return f"0571-{rng.randrange(2 * 10**7, 9 * 10**7)}"


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, float]:
    """The shortest wall-clock and CPU times of ``runs`` runs of ``work``, in seconds (on a
    shared machine the CPU time is the fairer figure of one core's speed)."""
    work()  # warm-up: the caches a real run fills on its first records
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def measure(
    label: str, values: Sequence[Any], function: Callable[..., Any], *, pairs: bool = False
) -> None:
    """Print how many of ``values`` per second ``function`` normalises."""
    if pairs:
        wall, cpu = best_of(3, lambda: [function(a, b) for a, b in values])
    else:
        wall, cpu = best_of(3, lambda: [function(value) for value in values])
    count = len(values)
    print(
        f"{label:<32} {count / cpu:>12,.0f} /s CPU ({cpu * 1e6 / count:5.2f} µs each)"
        f" {count / wall:>12,.0f} /s wall"
    )


def main() -> None:
    """Generate the values and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=200_000)
    count = parser.parse_args().values
    rng = random.Random(42)
    companies = [_company(rng) for _ in range(count)]
    typical = ["杭州华信电子科技有限公司"] * count
    chinese_people = [(rng.choice(_GIVEN), rng.choice(_SURNAMES)) for _ in range(count)]
    latin_people = [(rng.choice(_LATIN_FIRST), rng.choice(_LATIN_LAST)) for _ in range(count)]
    one_cell = [rng.choice(_SURNAMES) + rng.choice(_GIVEN) for _ in range(count)]
    phones = [_phone(rng) for _ in range(count)]
    mobiles = [f"13{rng.randrange(10**9):09d}" for _ in range(count)]
    emails = [f"User{i}@Example{i % 100}.COM" for i in range(count)]
    addresses = [
        f"浙江省杭州市滨江区江南大道{i % 999}号{rng.choice('一二三四五')}号楼" for i in range(count)
    ]
    dates = [
        f"19{rng.randrange(50, 99)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        for _ in range(count)
    ]

    print(f"{count:,} values each, one process, best of 3")
    measure("company name (typical)", typical, normalise_company_name)
    measure("company name (mixed variants)", companies, normalise_company_name)
    measure("person name (Chinese, 2 fields)", chinese_people, normalise_person_name, pairs=True)
    measure("person name (Latin, 2 fields)", latin_people, normalise_person_name, pairs=True)
    measure("person full name (Chinese)", one_cell, normalise_person_full_name)
    measure("phone (plain mobile)", mobiles, normalise_phone)
    measure("phone (mixed formats)", phones, normalise_phone)
    measure("email", emails, normalise_email)
    measure("address", addresses, normalise_address)
    measure("date (YYYYMMDD)", dates, normalise_date)
    measure("pinyin (company name)", companies, pinyin)


if __name__ == "__main__":
    main()
