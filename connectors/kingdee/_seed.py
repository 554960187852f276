"""Realistic, deterministic seed data for the K3 Cloud emulator: Chinese companies with phones,
addresses and valid unified social credit codes, materials, and sale orders with 1-5 lines.

Modification times come in import batches, so many records share one ``FModifyDate`` (the
ties a cursor has to survive).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

__all__ = [
    "CURRENCIES",
    "ORGS",
    "UNITS",
    "City",
    "credit_code",
    "customer_rows",
    "material_rows",
    "moments",
    "order_rows",
]

ORGS = ((1, "100", "蓝海集团"), (100001, "101", "蓝海集团华东销售公司"))
CURRENCIES = (
    (1, "PRE001", "人民币"),
    (2, "PRE002", "香港元"),
    (3, "PRE003", "欧元"),
    (4, "PRE004", "日本日圆"),
    (6, "PRE006", "英镑"),
    (7, "PRE007", "美元"),
)
UNITS = (
    (10101, "Pcs", "Pcs"),
    (10095, "kg", "千克"),
    (10087, "m", "米"),
    (10099, "L", "升"),
    (10105, "Set", "套"),
    (10111, "Box", "箱"),
)


@dataclass(frozen=True)
class City:
    """A city as seed data needs it."""

    name: str
    province: str
    area_code: str
    division: str
    """The administrative division code (positions 3-8 of a credit code)."""
    districts: tuple[str, ...]


CITIES = (
    City("北京", "北京市", "010", "110105", ("朝阳区", "海淀区", "丰台区", "大兴区")),
    City("上海", "上海市", "021", "310115", ("浦东新区", "闵行区", "徐汇区", "嘉定区")),
    City("广州", "广东省", "020", "440106", ("天河区", "黄埔区", "番禺区", "白云区")),
    City("深圳", "广东省", "0755", "440305", ("南山区", "福田区", "宝安区", "龙岗区")),
    City("杭州", "浙江省", "0571", "330106", ("西湖区", "滨江区", "余杭区", "萧山区")),
    City("苏州", "江苏省", "0512", "320505", ("工业园区", "虎丘区", "吴中区", "相城区")),
    City("南京", "江苏省", "025", "320106", ("鼓楼区", "江宁区", "建邺区", "栖霞区")),
    City("成都", "四川省", "028", "510107", ("武侯区", "高新区", "锦江区", "双流区")),
    City("武汉", "湖北省", "027", "420106", ("武昌区", "洪山区", "江汉区", "东西湖区")),
    City("西安", "陕西省", "029", "610113", ("雁塔区", "未央区", "长安区", "碑林区")),
    City("天津", "天津市", "022", "120116", ("滨海新区", "南开区", "西青区", "河西区")),
    City("重庆", "重庆市", "023", "500112", ("渝北区", "江北区", "九龙坡区", "沙坪坝区")),
    City("宁波", "浙江省", "0574", "330212", ("鄞州区", "北仑区", "海曙区", "镇海区")),
    City("青岛", "山东省", "0532", "370212", ("崂山区", "黄岛区", "市南区", "城阳区")),
    City("厦门", "福建省", "0592", "350206", ("湖里区", "思明区", "集美区", "海沧区")),
    City("东莞", "广东省", "0769", "441900", ("松山湖", "长安镇", "虎门镇", "塘厦镇")),
)
_TRADE = "华信鑫达通瑞恒泰金利隆盛宏远博创新源康美安德顺祥海天正兴光明和嘉永联丰聚宇星润汇"
_INDUSTRIES = (
    "电子科技",
    "机械设备",
    "贸易",
    "化工",
    "建材",
    "食品",
    "信息技术",
    "物流",
    "医药",
    "纺织",
    "汽车配件",
    "环保科技",
    "新材料",
    "自动化设备",
    "包装材料",
    "精密模具",
)
_ROADS = ("人民路", "中山路", "解放路", "建设路", "科技路", "创业大道", "滨江路", "长江路")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_MATERIALS = (
    ("不锈钢六角螺栓", "M{}×{}", "Pcs"),
    ("深沟球轴承", "62{:02d}-2RS", "Pcs"),
    ("铜芯电力电缆", "YJV 3×{}mm²", "m"),
    ("PLC控制器", "S7-{}00", "Set"),
    ("抗磨液压油", "L-HM {}#", "L"),
    ("瓦楞包装纸箱", "{}×400×300", "Box"),
    ("三相异步电机", "Y2-{}S-4", "Set"),
    ("冷轧钢板", "Q235 {}mm", "kg"),
    ("工业同步带", "{}XL-037", "Pcs"),
    ("气动电磁阀", "4V{}-08", "Pcs"),
)
_NOTES = ("", "", "", "月结30天", "加急发货", "客户自提", "含运费", "分批交货")

# GB 32100-2015: the 31 characters of a unified social credit code, and the weights.
_T = TypeVar("_T")

_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CODE_VALUES = {char: value for value, char in enumerate(_CODE_CHARS)}
_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714: the organisation code's check digit
_SPAN = timedelta(days=700)
"""Seeded modification times spread over about two years."""
_BATCHES = (1, 1, 2, 3, 5, 8, 20, 50, 120, 300)


def _org_code(rng: random.Random) -> str:
    body = "".join(rng.choices(_CODE_CHARS, k=8))
    total = sum(int(char, 36) * weight for char, weight in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def credit_code(division: str, org_code: str) -> str:
    """A unified social credit code (统一社会信用代码) with its GB 32100 check character:
    ``9`` (registered by market regulation) ``1`` (a company), the division, the organisation
    code."""
    body = "91" + division + org_code
    total = sum(_CODE_VALUES[c] * w for c, w in zip(body, _CODE_WEIGHTS, strict=True))
    return body + _CODE_CHARS[(31 - total % 31) % 31]


def moments(rng: random.Random, count: int, start: datetime) -> Iterator[str]:
    """``count`` modification times (as K3 writes them) in import batches: runs of records
    share one moment. Strictly increasing from batch to batch, spread over about two years."""
    step = _SPAN / max(count, 1)
    left = 0
    moment = ""
    for offset in range(count):
        if left == 0:
            jitter = timedelta(milliseconds=rng.randrange(max(1, min(999, int(step / _MS)))))
            moment = stamp(start + step * offset + jitter)
            left = rng.choice(_BATCHES)
        left -= 1
        yield moment


_MS = timedelta(milliseconds=1)


def stamp(moment: datetime) -> str:
    """A moment as K3 writes it: local time, milliseconds, no zone."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _phone(draw: Callable[[], float], city: City) -> str:
    if draw() < 0.25:
        prefix = _MOBILE[int(draw() * len(_MOBILE))]
        return f"{prefix}{int(draw() * 10**8):08d}"
    return f"{city.area_code}-{2 + int(draw() * 7)}{int(draw() * 10**7):07d}"


_MOBILE = ("138", "139", "150", "186", "135", "177")
_KINDS = ("有限公司", "有限公司", "股份有限公司", "有限责任公司")


def customer_rows(
    rng: random.Random, first_id: int, first_number: int, count: int, start: datetime
) -> Iterator[tuple[object, ...]]:
    """Rows of ``bd_customer`` (in the column order of the emulator's insert)."""
    draw = rng.random

    def pick(items: Sequence[_T]) -> _T:
        return items[int(draw() * len(items))]

    times = moments(rng, count, start)
    for offset in range(count):
        city = pick(CITIES)
        first = int(draw() * len(_TRADE))
        trade = _TRADE[first] + _TRADE[(first + 1 + int(draw() * (len(_TRADE) - 1))) % len(_TRADE)]
        industry = pick(_INDUSTRIES)
        if draw() < 0.15:
            name = f"{trade}{industry}（{city.name}）有限公司"
        else:
            name = f"{city.name}{trade}{industry}{pick(_KINDS)}"
        site = "".join(rng.choices(_LETTERS, k=4 + int(draw() * 5)))
        province = city.province if city.province != city.name + "市" else ""
        address = f"{province}{city.name}市{pick(city.districts)}{pick(_ROADS)}"
        address += f"{1 + int(draw() * 999)}号"
        modified = next(times)
        yield (
            first_id + offset,
            f"CUST{first_number + offset:04d}",
            name,
            trade + industry[:2],
            _phone(draw, city),
            f"{city.area_code}-{2 + int(draw() * 7)}{int(draw() * 10**7):07d}",
            address,
            f"www.{site}.com" + (".cn" if draw() < 0.4 else ""),
            credit_code(city.division, _org_code(rng)),
            city.province,
            "中国",
            "",
            ORGS[0][0],
            ORGS[0][0],
            CURRENCIES[0][0] if draw() < 0.95 else pick(CURRENCIES)[0],
            "C" if draw() < 0.9 else "A",
            "A" if draw() < 0.97 else "B",
            modified,
            modified,
        )


def material_rows(
    rng: random.Random, first_id: int, first_number: int, count: int, start: datetime
) -> Iterator[tuple[object, ...]]:
    """Rows of ``bd_material``."""
    units = {number: unit_id for unit_id, number, _ in UNITS}
    times = moments(rng, count, start)
    for offset in range(count):
        name, spec, unit = rng.choice(_MATERIALS)
        modified = next(times)
        yield (
            first_id + offset,
            f"WL{first_number + offset:05d}",
            name,
            spec.format(rng.randint(4, 30), rng.randint(1, 9) * 10),
            units[unit],
            "",
            ORGS[0][0],
            ORGS[0][0],
            "C",
            "A",
            modified,
            modified,
        )


_CENT = Decimal("0.01")


def order_rows(
    rng: random.Random,
    *,
    first_id: int,
    first_entry_id: int,
    first_number: int,
    count: int,
    start: datetime,
    customer_ids: list[int],
    material_ids: list[int],
) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    """Pairs of a ``sal_saleorder`` row and its ``sal_saleorderentry`` rows."""
    times = moments(rng, count, start)
    entry_id = first_entry_id
    for offset in range(count):
        order_id = first_id + offset
        modified = next(times)
        written = datetime.strptime(modified[:10], "%Y-%m-%d")  # noqa: DTZ007 - zoneless
        day = (written - timedelta(days=rng.randint(0, 20))).strftime("%Y-%m-%dT00:00:00")
        lines: list[tuple[object, ...]] = []
        total_all = total_tax = Decimal(0)
        for seq in range(1, rng.randint(1, 5) + 1):
            qty = Decimal(rng.randint(1, 500))
            price = Decimal(rng.randint(100, 200000)) / 100
            rate = Decimal(13)
            tax_price = (price * (1 + rate / 100)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            amount = (qty * price).quantize(_CENT, ROUND_HALF_UP)
            all_amount = (qty * tax_price).quantize(_CENT, ROUND_HALF_UP)
            total_all += all_amount
            total_tax += all_amount - amount
            lines.append(
                (
                    entry_id,
                    order_id,
                    seq,
                    rng.choice(material_ids),
                    float(qty),
                    float(price),
                    float(tax_price),
                    float(rate),
                    float(amount),
                    float(all_amount),
                    "",
                )
            )
            entry_id += 1
        header = (
            order_id,
            f"XSDD{first_number + offset:06d}",
            day,
            rng.choice(customer_ids),
            ORGS[0][0],
            rng.choice(_NOTES),
            CURRENCIES[0][0],
            float(total_all),
            float(total_tax),
            "C" if rng.random() < 0.85 else "A",
            modified,
            modified,
        )
        yield header, lines
