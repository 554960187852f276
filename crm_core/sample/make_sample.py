"""Generate the bundled Tongbu sample CRM data set.

Running ``python crm_core/sample/make_sample.py`` rewrites
``crm_core/sample/sample_crm.json`` next to this file.  The output is a
realistic mix of mainland-Chinese and foreign B2B customer records (teams,
sales users, one sales pipeline, products, accounts with contacts,
opportunities and activities, and unassigned or owned leads) that the
``make demo`` command loads into the CRM.

The script only uses the Python standard library and a fixed random seed, so
every run produces byte-identical output.  Hand-written tables below hold the
company, contact and lead master data; the random generator only fills in
details such as phone numbers, organisation codes, amounts and activity
timing.  Every mainland company receives a unified social credit code
(统一社会信用代码) that is valid under GB 32100-2015, with an embedded
organisation code that is valid under GB 11714.
"""

# The data tables hold long literal rows and Chinese prose with full-width punctuation.
# ruff: noqa: E501

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from crm_core._credit_code import ALPHABET as CREDIT_CODE_ALPHABET
from crm_core._credit_code import credit_code_check_char, is_valid_credit_code

SEED: Final[int] = 20261188
OUTPUT: Final[Path] = Path(__file__).resolve().with_name("sample_crm.json")

# ---------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# ---------------------------------------------------------------------------

ORG_WEIGHTS: Final[tuple[int, ...]] = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code_check_char(body8: str) -> str:
    """Return the GB 11714 check character for an 8-character org-code body."""
    total = sum(int(c, 36) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_org_code(rng: random.Random) -> str:
    """Return a 9-character organisation code (old numeric or new 'MA' style)."""
    while True:
        if rng.random() < 0.55:
            body = rng.choice("567") + "".join(rng.choice("0123456789") for _ in range(7))
        else:
            tail_alphabet = CREDIT_CODE_ALPHABET
            body = "MA" + "".join(rng.choice(tail_alphabet) for _ in range(6))
        check = org_code_check_char(body)
        if check in CREDIT_CODE_ALPHABET:
            return body + check


def make_uscc(rng: random.Random, division: str, used: set[str]) -> str:
    """Return a unique, valid credit code for a company in ``division``."""
    while True:
        first17 = "91" + division + make_org_code(rng)
        code = first17 + credit_code_check_char(first17)
        if code not in used:
            used.add(code)
            return code


# ---------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------

MOBILE_PREFIXES: Final[tuple[str, ...]] = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
)
RESERVED_MOBILE: Final[str] = "13800138000"


def split_local(local: str) -> str:
    """Group a 7- or 8-digit local number the way it is usually printed."""
    return f"{local[:3]} {local[3:]}" if len(local) == 7 else f"{local[:4]} {local[4:]}"


def format_landline(area: str, local: str, style: int) -> str:
    """Format a mainland landline in one of the common notations."""
    if style == 0:
        return f"{area}-{split_local(local)}"
    if style == 1:
        return f"({area}) {split_local(local)}"
    if style == 2:
        return f"+86 {area[1:]} {split_local(local)}"
    return f"{area}-{local}"


def format_mobile(digits: str, style: int) -> str:
    """Format an 11-digit mainland mobile number in one of the common notations."""
    a, b, c = digits[:3], digits[3:7], digits[7:]
    return (
        digits,
        f"+86 {a} {b} {c}",
        f"{a}-{b}-{c}",
        f"{a} {b} {c}",
        digits,
    )[style]


@dataclass
class MobilePool:
    """Hands out unique random mainland mobile numbers."""

    rng: random.Random
    used: set[str] = field(default_factory=lambda: {RESERVED_MOBILE})

    def reserve(self, formatted: str) -> None:
        """Mark an already used (hand-written) number as taken."""
        digits = "".join(ch for ch in formatted if ch.isdigit())
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        if digits in self.used:
            raise ValueError(f"duplicate mobile number {formatted}")
        self.used.add(digits)

    def new(self) -> str:
        """Return a fresh, randomly formatted mobile number."""
        while True:
            digits = self.rng.choice(MOBILE_PREFIXES) + "".join(
                self.rng.choice("0123456789") for _ in range(8)
            )
            if digits not in self.used:
                self.used.add(digits)
                return format_mobile(digits, self.rng.randrange(5))


# ---------------------------------------------------------------------------
# Static master data
# ---------------------------------------------------------------------------

# Tables are kept one record per line for readability.
# fmt: off

TEAMS: Final[list[dict[str, str]]] = [
    {"key": "east", "name": "华东销售部", "region": "华东"},
    {"key": "south", "name": "华南销售部", "region": "华南"},
    {"key": "north", "name": "华北及中西部销售部", "region": "华北"},
    {"key": "intl", "name": "International Sales", "region": "Overseas"},
]

USERS: Final[list[dict[str, str]]] = [
    {"key": "u_wang", "name": "王磊", "email": "wang.lei@tongbu.example", "phone": "13912345678", "team": "east"},
    {"key": "u_chen", "name": "陈静", "email": "chen.jing@tongbu.example", "phone": "13761820456", "team": "east"},
    {"key": "u_liu", "name": "刘洋", "email": "liu.yang@tongbu.example", "phone": "13826510937", "team": "south"},
    {"key": "u_huang", "name": "黄丽萍", "email": "huang.liping@tongbu.example", "phone": "18620374415", "team": "south"},
    {"key": "u_zhao", "name": "赵鹏", "email": "zhao.peng@tongbu.example", "phone": "13601107732", "team": "north"},
    {"key": "u_sun", "name": "孙悦", "email": "sun.yue@tongbu.example", "phone": "18980561204", "team": "north"},
    {"key": "u_emily", "name": "Emily Carter", "email": "emily.carter@tongbu.example", "phone": "13621017788", "team": "intl"},
    {"key": "u_zhou", "name": "周凯", "email": "zhou.kai@tongbu.example", "phone": "15821468890", "team": "intl"},
]

STAGES: Final[list[dict[str, Any]]] = [
    {"key": "lead_in", "name": "初步接洽", "probability": 10, "is_won": False, "is_lost": False},
    {"key": "qualify", "name": "需求确认", "probability": 25, "is_won": False, "is_lost": False},
    {"key": "proposal", "name": "方案报价", "probability": 50, "is_won": False, "is_lost": False},
    {"key": "negotiate", "name": "商务谈判", "probability": 75, "is_won": False, "is_lost": False},
    {"key": "won", "name": "赢单", "probability": 100, "is_won": True, "is_lost": False},
    {"key": "lost", "name": "输单", "probability": 0, "is_won": False, "is_lost": True},
]

PRODUCTS: Final[list[dict[str, str]]] = [
    {"key": "p1", "sku": "TB-ERP-001", "name": "同步ERP连接器（标准版）", "unit": "套", "unit_price": "12800.00", "currency": "CNY"},
    {"key": "p2", "sku": "TB-ERP-002", "name": "同步ERP连接器（企业版）", "unit": "套", "unit_price": "38800.00", "currency": "CNY"},
    {"key": "p3", "sku": "TB-CRM-001", "name": "同步CRM用户许可（年）", "unit": "用户/年", "unit_price": "1200.00", "currency": "CNY"},
    {"key": "p4", "sku": "TB-GW-001", "name": "数据同步网关（本地部署）", "unit": "台", "unit_price": "25600.00", "currency": "CNY"},
    {"key": "p5", "sku": "TB-SVC-001", "name": "实施服务", "unit": "人天", "unit_price": "2800.00", "currency": "CNY"},
    {"key": "p6", "sku": "TB-SVC-002", "name": "定制开发服务", "unit": "人天", "unit_price": "3500.00", "currency": "CNY"},
    {"key": "p7", "sku": "TB-TRN-001", "name": "用户培训（现场）", "unit": "场", "unit_price": "6000.00", "currency": "CNY"},
    {"key": "p8", "sku": "TB-SUP-001", "name": "年度维保服务", "unit": "年", "unit_price": "9800.00", "currency": "CNY"},
    {"key": "p9", "sku": "TB-INT-001", "name": "Sync Hub Cloud License (annual)", "unit": "seat", "unit_price": "199.00", "currency": "USD"},
    {"key": "p10", "sku": "TB-INT-002", "name": "Premium Support (annual)", "unit": "year", "unit_price": "4800.00", "currency": "USD"},
]

AREA_CODES: Final[dict[str, str]] = {
    "杭州": "0571", "上海": "021", "苏州": "0512", "深圳": "0755", "北京": "010",
    "成都": "028", "广州": "020", "南京": "025", "宁波": "0574", "无锡": "0510",
    "武汉": "027", "西安": "029", "重庆": "023", "天津": "022", "青岛": "0532",
    "济南": "0531", "厦门": "0592", "长沙": "0731", "郑州": "0371", "合肥": "0551",
    "东莞": "0769", "佛山": "0757", "绍兴": "0575", "义乌": "0579", "温州": "0577",
    "常州": "0519", "昆明": "0871", "大连": "0411", "沈阳": "024", "福州": "0591",
    "南昌": "0791",
}
SEVEN_DIGIT_CITIES: Final[frozenset[str]] = frozenset({"厦门"})


@dataclass(frozen=True)
class CnAccount:
    """A mainland-Chinese company; the credit code is derived from ``division``."""

    key: str
    name: str
    short: str
    industry: str
    city: str
    province: str
    division: str
    address: str
    domain: str
    owner: str
    phone: str | None = None
    email_box: str | None = None


CN_ACCOUNTS: Final[list[CnAccount]] = [
    CnAccount("a_huaxin", "杭州华信电子科技有限公司", "华信电子", "电子制造", "杭州", "浙江", "330108",
              "杭州市滨江区江南大道3888号", "hzhuaxin.com.cn", "u_wang", "0571-8765 4321", "info"),
    CnAccount("a_huaxin_sh", "杭州华信电子科技有限公司上海分公司", "华信上海分公司", "电子制造", "上海", "上海", "310115",
              "上海市浦东新区张江路665号3楼", "hzhuaxin.com.cn", "u_chen", None, "shanghai"),
    CnAccount("a_sz_huaxin", "苏州华信精密机械有限公司", "苏州华信", "机械制造", "苏州", "江苏", "320505",
              "苏州市虎丘区珠江路88号", "szhuaxin-jm.com", "u_chen"),
    CnAccount("a_jinqiao", "上海浦东金桥物流股份有限公司", "金桥物流", "物流", "上海", "上海", "310115",
              "上海市浦东新区金桥路1399号", "jqlogistics.com.cn", "u_wang"),
    CnAccount("a_tengyuan", "深圳市腾远网络技术有限公司", "腾远网络", "互联网", "深圳", "广东", "440305",
              "深圳市南山区科技南十二路18号", "tengyuan-net.cn", "u_liu"),
    CnAccount("a_zkby", "北京中科博源信息技术有限公司", "中科博源", "信息技术", "北京", "北京", "110108",
              "北京市海淀区中关村南大街6号", "zkboyuan.com.cn", "u_zhao"),
    CnAccount("a_tfrf", "成都天府瑞丰食品有限公司", "天府瑞丰", "食品", "成都", "四川", "510107",
              "成都市武侯区武科西二路189号", "tfruifeng.cn", "u_sun"),
    CnAccount("a_hengtong", "广州恒通机械制造有限公司", "恒通机械", "机械制造", "广州", "广东", "440113",
              "广州市番禺区兴业大道东806号", "gzhengtong.com", "u_huang"),
    CnAccount("a_kaiyuan", "南京凯源医疗器械有限公司", "凯源医疗", "医疗器械", "南京", "江苏", "320115",
              "南京市江宁区秣周东路12号", "kaiyuanmed.com.cn", "u_chen"),
    CnAccount("a_haishun", "宁波海顺国际货运代理有限公司", "海顺货代", "国际货代", "宁波", "浙江", "330206",
              "宁波市北仑区明州路718号", "haishun-nb.com", "u_wang"),
    CnAccount("a_xinrui", "无锡芯锐半导体有限公司", "芯锐半导体", "半导体", "无锡", "江苏", "320214",
              "无锡市新吴区菱湖大道200号", "xinruisemi.cn", "u_chen"),
    CnAccount("a_cjht", "武汉长江汇通汽车零部件有限公司", "长江汇通", "汽车零部件", "武汉", "湖北", "420115",
              "武汉市江夏区庙山大道88号", "cjhtauto.com", "u_sun"),
    CnAccount("a_qinchuan", "西安秦川智能装备股份有限公司", "秦川智能", "智能装备", "西安", "陕西", "610113",
              "西安市雁塔区锦业路69号", "qinchuan-ie.com", "u_sun"),
    CnAccount("a_yuxin", "重庆渝新摩托车配件有限公司", "渝新配件", "汽摩配件", "重庆", "重庆", "500112",
              "重庆市渝北区金开大道1588号", "yuxinmoto.com.cn", "u_sun"),
    CnAccount("a_haibin", "天津海滨化工集团有限公司", "海滨化工", "化工", "天津", "天津", "120116",
              "天津市滨海新区黄海路276号", "tjhaibin-chem.com", "u_zhao"),
    CnAccount("a_lanhai", "青岛澜海水产食品有限公司", "澜海水产", "水产食品", "青岛", "山东", "370211",
              "青岛市黄岛区江山南路480号", "lanhaifood.cn", "u_zhao"),
    CnAccount("a_qilu", "济南齐鲁云计算科技有限公司", "齐鲁云", "云计算", "济南", "山东", "370102",
              "济南市历下区经十路7000号", "qlcloud.com.cn", "u_zhao"),
    CnAccount("a_lujiang", "厦门鹭江进出口贸易有限公司", "鹭江贸易", "进出口贸易", "厦门", "福建", "350206",
              "厦门市湖里区枋湖北二路1号", "xmlujiang.com", "u_huang"),
    CnAccount("a_xiangyun", "长沙湘云教育科技有限公司", "湘云教育", "教育", "长沙", "湖南", "430104",
              "长沙市岳麓区麓谷大道627号", "xiangyunedu.cn", "u_huang"),
    CnAccount("a_hengfeng", "郑州中原恒丰粮油有限公司", "恒丰粮油", "粮油食品", "郑州", "河南", "410105",
              "郑州市金水区花园路39号", "zyhengfeng.com.cn", "u_zhao"),
    CnAccount("a_huiyuan", "合肥徽源新能源科技有限公司", "徽源新能源", "新能源", "合肥", "安徽", "340104",
              "合肥市蜀山区望江西路800号", "huiyuan-ne.com", "u_chen"),
    CnAccount("a_yongsheng", "东莞永盛塑胶制品有限公司", "永盛塑胶", "塑胶制品", "东莞", "广东", "441900",
              "东莞市长安镇振安中路223号", "dgyongsheng.com", "u_liu"),
    CnAccount("a_meijia", "佛山美嘉家具有限公司", "美嘉家具", "家具", "佛山", "广东", "440606",
              "佛山市顺德区乐从镇河滨南路8号", "meijia-furniture.cn", "u_huang"),
    CnAccount("a_jiachuang", "深圳市嘉创智能硬件有限公司", "嘉创智能", "智能硬件", "深圳", "广东", "440306",
              "深圳市宝安区西乡街道宝源路1065号", "jiachuang-iot.com", "u_liu"),
    CnAccount("a_pengcheng", "深圳鹏城供应链管理有限公司", "鹏城供应链", "供应链管理", "深圳", "广东", "440304",
              "深圳市福田区深南大道6008号", "pcscm.com.cn", "u_liu"),
    CnAccount("a_jingdu", "北京京都文化传媒有限公司", "京都传媒", "文化传媒", "北京", "北京", "110105",
              "北京市朝阳区酒仙桥路4号", "jingdu-media.cn", "u_zhao"),
    CnAccount("a_anxin", "北京安信康达医药科技有限公司", "安信康达", "医药", "北京", "北京", "110115",
              "北京市大兴区永旺西路26号", "axkd-pharma.com", "u_sun"),
    CnAccount("a_huishen", "上海汇申软件有限公司", "汇申软件", "软件", "上海", "上海", "310104",
              "上海市徐汇区宜山路700号", "huishensoft.com", "u_chen"),
    CnAccount("a_shengong", "上海申工精密模具有限公司", "申工模具", "模具", "上海", "上海", "310112",
              "上海市闵行区春东路508号", "shengong-mould.com", "u_wang"),
    CnAccount("a_jiachi", "上海嘉驰汽车电子有限公司", "嘉驰汽车电子", "汽车电子", "上海", "上海", "310114",
              "上海市嘉定区安亭镇墨玉南路888号", "jiachi-auto.com.cn", "u_wang"),
    CnAccount("a_xizihu", "杭州西子湖茶业有限公司", "西子湖茶业", "茶叶", "杭州", "浙江", "330106",
              "杭州市西湖区龙井路58号", "xizihu-tea.com", "u_chen"),
    CnAccount("a_jinghu", "绍兴镜湖纺织印染有限公司", "镜湖纺织", "纺织印染", "绍兴", "浙江", "330603",
              "绍兴市柯桥区鉴湖路1188号", "jinghu-textile.com", "u_wang"),
    CnAccount("a_shangtong", "义乌商通电子商务有限公司", "商通电商", "电子商务", "义乌", "浙江", "330782",
              "义乌市稠江街道杨村路300号", "shangtong-ec.com", "u_wang"),
    CnAccount("a_ouyue", "温州瓯越鞋业有限公司", "瓯越鞋业", "鞋业", "温州", "浙江", "330302",
              "温州市鹿城区双屿街道鞋都大道16号", "ouyue-shoes.com", "u_chen"),
    CnAccount("a_longcheng", "常州龙城电机有限公司", "龙城电机", "电机", "常州", "江苏", "320412",
              "常州市武进区湖塘镇延政中路5号", "lcmotor.com.cn", "u_chen"),
    CnAccount("a_dianchi", "昆明滇池生物科技有限公司", "滇池生物", "生物科技", "昆明", "云南", "530112",
              "昆明市西山区滇池路1326号", "dianchi-bio.cn", "u_sun"),
    CnAccount("a_beifang", "大连北方港航物流有限公司", "北方港航", "港口物流", "大连", "辽宁", "210211",
              "大连市甘井子区红旗西路3号", "bfgh-logistics.com", "u_zhao"),
    CnAccount("a_shengjing", "沈阳盛京重工机械股份有限公司", "盛京重工", "重型机械", "沈阳", "辽宁", "210106",
              "沈阳市铁西区北二中路16号", "shengjing-hi.com.cn", "u_zhao"),
    CnAccount("a_minjiang", "福州闽江建设工程有限公司", "闽江建设", "建筑工程", "福州", "福建", "350102",
              "福州市鼓楼区五四路158号", "mjjsgc.com.cn", "u_huang"),
    CnAccount("a_ganjiang", "南昌赣江光电有限公司", "赣江光电", "光电", "南昌", "江西", "360111",
              "南昌市青山湖区高新大道589号", "ganjiang-opto.com", "u_huang"),
    CnAccount("a_yunfan", "广州云帆网络科技有限公司", "云帆网络", "互联网", "广州", "广东", "440106",
              "广州市天河区天河北路233号", "yunfan-tech.cn", "u_liu"),
    CnAccount("a_rongxin", "成都蓉信软件股份有限公司", "蓉信软件", "软件", "成都", "四川", "510100",
              "成都市高新区天府大道中段1268号", "rongxinsoft.com", "u_sun"),
]


@dataclass(frozen=True)
class ForeignContact:
    """A hand-written contact of a foreign company."""

    last_name: str
    first_name: str
    title: str
    department: str
    phone: str
    mobile: str
    email_local: str
    role: str


@dataclass(frozen=True)
class ForeignAccount:
    """A company outside mainland China (no credit code)."""

    key: str
    name: str
    short: str
    industry: str
    phone: str
    email: str
    domain: str
    address: str
    city: str
    province: str
    country: str
    currency: str
    owner: str
    contacts: tuple[ForeignContact, ...]
    # Optional hand-written activities: (type, subject, body, days_ago, target)
    # where target is "account", "contact:<index>" or "opp:<index>".
    activities: tuple[tuple[str, str, str, int, str], ...] = ()


FC = ForeignContact

FOREIGN_ACCOUNTS: Final[list[ForeignAccount]] = [
    ForeignAccount(
        "a_northwind", "Northwind Traders Ltd.", "Northwind", "Wholesale Trade", "+44 20 7946 0958",
        "sales@northwind-traders.co.uk", "northwind-traders.co.uk", "12 Bishopsgate Row, London EC2M 4AB",
        "London", "England", "GB", "GBP", "u_emily",
        (
            FC("Bennett", "Oliver", "Head of Procurement", "Procurement", "+44 20 7946 0961", "+44 7700 900123", "oliver.bennett", "decision_maker"),
            FC("Hayes", "Charlotte", "Finance Director", "Finance", "+44 20 7946 0975", "+44 7700 900456", "charlotte.hayes", "finance"),
        ),
    ),
    ForeignAccount(
        "a_acme", "Acme Robotics Inc.", "Acme Robotics", "Robotics", "+1 415 555 0132",
        "hello@acme-robotics-inc.com", "acme-robotics-inc.com", "500 Harbor Blvd, Suite 210, San Francisco, CA 94107",
        "San Francisco", "CA", "US", "USD", "u_zhou",
        (
            FC("Kim", "Daniel", "CTO", "Engineering", "+1 415 555 0140", "+1 415 555 0166", "daniel.kim", "decision_maker"),
            FC("Moore", "Rachel", "IT Systems Manager", "IT", "+1 415 555 0141 ext. 204", "+1 628 555 0112", "rachel.moore", "technical"),
            FC("O'Brien", "Kevin", "Operations Lead", "Operations", "+1 415 555 0143", "+1 628 555 0119", "kevin.obrien", "user"),
        ),
    ),
    ForeignAccount(
        "a_bluewater", "Bluewater Logistics GmbH", "Bluewater", "Logistics", "+49 40 3861 2290",
        "kontakt@bluewater-logistik.de", "bluewater-logistik.de", "Am Sandtorkai 41, 20457 Hamburg",
        "Hamburg", "Hamburg", "DE", "EUR", "u_emily",
        (
            FC("Hoffmann", "Lukas", "Head of IT", "IT", "+49 40 3861 2291", "+49 151 2345 6701", "l.hoffmann", "decision_maker"),
            FC("Wagner", "Julia", "Purchasing Manager", "Einkauf", "+49 40 3861 2295", "+49 160 9876 5402", "j.wagner", "influencer"),
        ),
    ),
    ForeignAccount(
        "a_sakura", "Sakura Trading Co., Ltd.", "Sakura Trading", "Trading", "+81 6 6345 7788",
        "info@sakura-trading.co.jp", "sakura-trading.co.jp", "2-4-9 Umeda, Kita-ku, Osaka 530-0001",
        "Osaka", "Osaka", "JP", "USD", "u_zhou",
        (
            FC("Tanaka", "Hiroshi", "General Manager, Overseas Sales", "Overseas Sales", "+81 6 6345 7789", "+81 90 1234 5601", "h.tanaka", "decision_maker"),
            FC("Suzuki", "Yuki", "Assistant Manager", "Accounting", "+81 6 6345 7790", "+81 80 2345 6702", "y.suzuki", "finance"),
        ),
    ),
    ForeignAccount(
        "a_hk_hengxin", "香港恆信貿易有限公司 Hang Shun Trading (HK) Limited", "Hang Shun", "進出口貿易", "+852 2123 4567",
        "info@hangshun-trading.hk", "hangshun-trading.hk", "香港九龍觀塘興業街12號恆信中心18樓",
        "香港", "香港", "HK", "HKD", "u_zhou",
        (
            FC("陳", "志明", "營運總監", "營運部", "+852 2123 4568", "+852 9456 7812", "cm.chan", "decision_maker"),
            FC("黃", "美玲", "財務經理", "財務部", "+852 2123 4570", "+852 6123 8890", "ml.wong", "finance"),
        ),
        (
            ("call", "電話跟進：確認二期需求", "與陳志明（營運總監）電話溝通，確認二期需同步內地子公司的客戶資料，並支援繁簡體公司名稱比對及去重。", 5, "contact:0"),
            ("meeting", "到訪觀塘辦公室", "到訪恆信觀塘辦公室，了解其中港兩地訂單流程；目前客戶資料分散於Excel及舊有ERP，每月需人手核對約一千五百筆記錄。", 26, "account"),
            ("follow_up", "電郵跟進：港幣報價及付款條款", "已將港幣報價單電郵予黃美玲，對方需於月底前提交董事會審批，並查詢可否按季付款。", 9, "contact:1"),
            ("meeting", "方案演示：{opp}", "向陳志明及IT同事演示同步看板及欄位對照，對方關注繁簡體名稱自動比對及香港、內地電話號碼格式統一。", 17, "opp:0"),
        ),
    ),
    ForeignAccount(
        "a_pacific", "Pacific Harbour Shipping Limited", "Pacific Harbour", "Shipping", "+852 3158 2266",
        "ops@pacificharbour-shipping.hk", "pacificharbour-shipping.hk", "Unit 2305, 23/F, Harbourfront Tower, 8 Connaught Road Central, Hong Kong",
        "Hong Kong", "Hong Kong", "HK", "HKD", "u_emily",
        (
            FC("Leung", "Jason", "General Manager", "Management", "+852 3158 2260", "+852 9876 1203", "jason.leung", "decision_maker"),
        ),
    ),
    ForeignAccount(
        "a_maple", "Northern Maple Distribution Corp.", "Northern Maple", "Distribution", "+1 416 555 0178",
        "orders@northernmaple-dist.com", "northernmaple-dist.com", "220 King St W, Toronto, ON M5H 1K4",
        "Toronto", "ON", "CA", "USD", "u_emily",
        (
            FC("Thompson", "Sarah", "Director of Operations", "Operations", "+1 416 555 0179", "+1 647 555 0134", "sarah.thompson", "decision_maker"),
            FC("Lefebvre", "Mark", "IT Manager", "IT", "+1 416 555 0180", "+1 647 555 0190", "mark.lefebvre", "technical"),
        ),
    ),
    ForeignAccount(
        "a_alpenblick", "Alpenblick Maschinenbau AG", "Alpenblick", "Machinery", "+49 711 4590 3310",
        "info@alpenblick-maschinenbau.de", "alpenblick-maschinenbau.de", "Heilbronner Straße 150, 70191 Stuttgart",
        "Stuttgart", "Baden-Württemberg", "DE", "EUR", "u_emily",
        (
            FC("Maier", "Stefan", "Managing Director", "Geschäftsleitung", "+49 711 4590 3300", "+49 172 4455 610", "s.maier", "decision_maker"),
            FC("Schulz", "Katrin", "IT Project Manager", "IT", "+49 711 4590 3325", "+49 176 2233 4471", "k.schulz", "technical"),
            FC("Becker", "Thomas", "Controller", "Finanzen", "+49 711 4590 3340", "+49 157 8890 1123", "t.becker", "finance"),
        ),
    ),
    ForeignAccount(
        "a_greenfield", "Greenfield Agritech Pty Ltd", "Greenfield", "Agritech", "+61 2 5550 1234",
        "info@greenfield-agritech.com.au", "greenfield-agritech.com.au", "Level 9, 60 Margaret Street, Sydney NSW 2000",
        "Sydney", "NSW", "AU", "USD", "u_zhou",
        (
            FC("O'Connor", "Liam", "CEO", "Executive", "+61 2 5550 1235", "+61 491 570 156", "liam.oconnor", "decision_maker"),
        ),
    ),
    ForeignAccount(
        "a_quillon", "Quillon Data Systems Inc.", "Quillon", "Software", "+1 512 555 0147",
        "contact@quillondata.com", "quillondata.com", "1100 Congress Ave, Suite 400, Austin, TX 78701",
        "Austin", "TX", "US", "USD", "u_zhou",
        (
            FC("Shah", "Priya", "VP Engineering", "Engineering", "+1 512 555 0148", "+1 737 555 0101", "priya.shah", "decision_maker"),
            FC("Clark", "Ethan", "Solutions Architect", "Engineering", "+1 512 555 0149", "+1 737 555 0102", "ethan.clark", "technical"),
        ),
    ),
    ForeignAccount(
        "a_thameside", "Thameside Components Ltd.", "Thameside", "Electronic Components", "+44 118 496 0752",
        "enquiries@thameside-components.co.uk", "thameside-components.co.uk", "Unit 7, Riverside Park, Reading RG1 8DB",
        "Reading", "England", "GB", "GBP", "u_emily",
        (
            FC("Walker", "George", "Managing Director", "Management", "+44 118 496 0750", "+44 7700 900321", "george.walker", "decision_maker"),
            FC("Patel", "Hannah", "Operations Manager", "Operations", "+44 118 496 0753", "+44 7700 900789", "hannah.patel", "influencer"),
        ),
    ),
    ForeignAccount(
        "a_rheintal", "Rheintal Sensorik GmbH", "Rheintal", "Sensors", "+49 211 5489 7720",
        "vertrieb@rheintal-sensorik.de", "rheintal-sensorik.de", "Kaiserswerther Str. 115, 40474 Düsseldorf",
        "Düsseldorf", "Nordrhein-Westfalen", "DE", "EUR", "u_emily",
        (
            FC("Fischer", "Laura", "Head of Purchasing", "Einkauf", "+49 211 5489 7725", "+49 151 4455 6603", "l.fischer", "decision_maker"),
            FC("Schneider", "Felix", "Head of Sales", "Vertrieb", "+49 211 5489 7721", "+49 151 4455 6602", "f.schneider", "influencer"),
        ),
    ),
    ForeignAccount(
        "a_soleil", "Soleil Cosmétiques SAS", "Soleil", "Cosmetics", "+33 4 72 60 11 88",
        "contact@soleil-cosmetiques.fr", "soleil-cosmetiques.fr", "18 Rue de la République, 69002 Lyon",
        "Lyon", "Auvergne-Rhône-Alpes", "FR", "EUR", "u_zhou",
        (
            FC("Dubois", "Camille", "Operations Director", "Opérations", "+33 4 72 60 11 89", "+33 6 39 98 45 12", "camille.dubois", "decision_maker"),
            FC("Moreau", "Julien", "IT Manager", "Informatique", "+33 4 72 60 11 95", "+33 6 39 98 45 37", "julien.moreau", "technical"),
        ),
    ),
    ForeignAccount(
        "a_merlion", "Merlion Precision Pte. Ltd.", "Merlion", "Precision Engineering", "+65 6812 3456",
        "sales@merlion-precision.com.sg", "merlion-precision.com.sg", "25 Ang Mo Kio Industrial Park 2, Singapore 569062",
        "Singapore", "Singapore", "SG", "USD", "u_zhou",
        (
            FC("Tan", "Wei Ming", "Managing Director", "Management", "+65 6812 3457", "+65 9123 4567", "weiming.tan", "decision_maker"),
            FC("Rahman", "Aisha", "Finance Manager", "Finance", "+65 6812 3460", "+65 8234 5671", "aisha.rahman", "finance"),
        ),
    ),
]

LEADS: Final[list[dict[str, Any]]] = [
    {"key": "l1", "name": "李娜", "company": "苏州恒达物流有限公司", "title": "运营总监", "phone": "0512-6688 1234", "mobile": "+86 139 6213 5578", "email": "lina@hengda-logistics.cn", "source": "展会", "industry": "物流", "city": "苏州", "province": "江苏", "owner": None},
    {"key": "l2", "name": "王建国", "company": "宁波华信包装材料有限公司", "title": "总经理", "phone": "0574-8822 3366", "mobile": "135-8745-2210", "email": "wangjg@nbhuaxin-pack.com", "source": "400电话", "industry": "包装材料", "city": "宁波", "province": "浙江", "owner": "u_wang"},
    {"key": "l3", "name": "赵雪", "company": "北京星河互动科技有限公司", "title": "产品总监", "phone": "(010) 8286 4410", "mobile": "18610452236", "email": "zhaoxue@xinghe-hd.cn", "source": "官网", "industry": "互联网", "city": "北京", "province": "北京", "owner": None},
    {"key": "l4", "name": "孙志刚", "company": "天津港联仓储有限公司", "title": "信息部经理", "phone": "022-2538 7766", "mobile": "+86 131 2045 6632", "email": "sunzg@gangliancc.com", "source": "转介绍", "industry": "仓储", "city": "天津", "province": "天津", "owner": "u_zhao"},
    {"key": "l5", "name": "Michael Brown", "company": "Harborview Foods LLC", "title": "VP of Operations", "phone": "+1 206 555 0119", "mobile": "+1 206 555 0187", "email": "m.brown@harborviewfoods.com", "source": "Website", "industry": "Food & Beverage", "city": "Seattle", "province": "WA", "owner": None},
    {"key": "l6", "name": "Sophie Martin", "company": "Atelier Lumière SARL", "title": "Head of Sales", "phone": "+33 1 99 00 12 34", "mobile": "+33 6 39 98 12 34", "email": "s.martin@atelier-lumiere.fr", "source": "LinkedIn", "industry": "Retail", "city": "Paris", "province": "Île-de-France", "owner": "u_emily"},
    {"key": "l7", "name": "陈晓峰", "company": "深圳市前海云链科技有限公司", "title": "CTO", "phone": "0755-8663 2019", "mobile": "159 1234 8876", "email": "chenxf@qhyunlian.com", "source": "官网", "industry": "金融科技", "city": "深圳", "province": "广东", "owner": "u_liu"},
    {"key": "l8", "name": "刘芳", "company": "广州白云美妆供应链有限公司", "title": "采购主管", "phone": "020-3622 8890", "mobile": "+86 188 2233 6071", "email": "liufang@byme-scm.cn", "source": "展会", "industry": "美妆", "city": "广州", "province": "广东", "owner": None},
    {"key": "l9", "name": "James Wilson", "company": "Kestrel Engineering Ltd.", "title": "IT Director", "phone": "+44 113 496 0321", "mobile": "+44 7700 900461", "email": "j.wilson@kestrel-eng.co.uk", "source": "Referral", "industry": "Engineering", "city": "Leeds", "province": "England", "owner": "u_emily"},
    {"key": "l10", "name": "黄志伟", "company": "成都锦城文旅发展有限公司", "title": "信息中心主任", "phone": "028-8555 6102", "mobile": "13982045517", "email": "huangzw@jcwenlv.cn", "source": "转介绍", "industry": "文旅", "city": "成都", "province": "四川", "owner": "u_sun"},
    {"key": "l11", "name": "周敏", "company": "杭州云栖数据服务有限公司", "title": "数据部经理", "phone": "0571-8690 5533", "mobile": "+86 137 5711 2309", "email": "zhoumin@yunqi-data.com", "source": "官网", "industry": "大数据", "city": "杭州", "province": "浙江", "owner": None},
    {"key": "l12", "name": "Anna Schmidt", "company": "Nordlicht Versand GmbH", "title": "Head of IT", "phone": "+49 30 23125 488", "mobile": "+49 171 3920 558", "email": "a.schmidt@nordlicht-versand.de", "source": "LinkedIn", "industry": "E-commerce", "city": "Berlin", "province": "Berlin", "owner": None},
    {"key": "l13", "name": "吴昊", "company": "南京紫金智造科技有限公司", "title": "总经理助理", "phone": "025-5218 7700", "mobile": "+86 150 5180 3326", "email": "wuhao@zijin-zz.com.cn", "source": "400电话", "industry": "智能制造", "city": "南京", "province": "江苏", "owner": "u_chen"},
    {"key": "l14", "name": "郑丽华", "company": "厦门海沧港务物流有限公司", "title": "财务经理", "phone": "0592-602 1288", "mobile": "136-9502-7741", "email": "zhenglh@hcport-logistics.cn", "source": "展会", "industry": "港口物流", "city": "厦门", "province": "福建", "owner": None},
    {"key": "l15", "name": "David Lee", "company": "Lotus Bay Holdings Limited", "title": "Finance Manager", "phone": "+852 2876 5432", "mobile": "+852 9123 4560", "email": "david.lee@lotusbay.hk", "source": "Referral", "industry": "Investment Holding", "city": "Hong Kong", "province": "Hong Kong", "owner": "u_zhou"},
    {"key": "l16", "name": "马晓婷", "company": "西安丝路跨境电商有限公司", "title": "运营经理", "phone": "029-8832 6150", "mobile": "177 9205 4418", "email": "maxiaoting@silu-cbec.cn", "source": "展会", "industry": "跨境电商", "city": "西安", "province": "陕西", "owner": None},
    {"key": "l17", "name": "Priya Nair", "company": "Monsoon Textiles Pvt. Ltd.", "title": "Sourcing Manager", "phone": "+91 22 4055 0123", "mobile": "+91 98200 45512", "email": "priya.nair@monsoontextiles.in", "source": "Website", "industry": "Textiles", "city": "Mumbai", "province": "Maharashtra", "owner": None},
    {"key": "l18", "name": "胡振宇", "company": "郑州豫商冷链物流有限公司", "title": "副总经理", "phone": "0371-6598 1127", "mobile": "+86 185 3712 0946", "email": "huzy@yushang-coldchain.com", "source": "400电话", "industry": "冷链物流", "city": "郑州", "province": "河南", "owner": "u_zhao"},
    {"key": "l19", "name": "Olivia Hughes", "company": "Cedar Lane Retail Ltd.", "title": "Commercial Director", "phone": "+44 117 496 0843", "mobile": "+44 7700 900873", "email": "olivia.hughes@cedarlane-retail.co.uk", "source": "LinkedIn", "industry": "Retail", "city": "Bristol", "province": "England", "owner": None},
    {"key": "l20", "name": "林佳颖", "company": "泉州晋江恒达鞋材有限公司", "title": "采购部经理", "phone": "0595-8566 1200", "mobile": "139-5076-3381", "email": "linjy@jjhengda.com", "source": "展会", "industry": "鞋材", "city": "泉州", "province": "福建", "owner": "u_huang"},
    {"key": "l21", "name": "Kenji Watanabe", "company": "Hikari Components K.K.", "title": "Purchasing Manager", "phone": "+81 3 5550 0192", "mobile": "+81 90 8765 4321", "email": "kenji.watanabe@hikari-components.co.jp", "source": "LinkedIn", "industry": "Electronics", "city": "Tokyo", "province": "Tokyo", "owner": None},
]

# Chinese names: (hanzi, pinyin) pairs; compound given names are space separated.
SURNAMES: Final[list[tuple[str, str]]] = [
    ("张", "zhang"), ("王", "wang"), ("李", "li"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("赵", "zhao"), ("黄", "huang"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"),
    ("胡", "hu"), ("朱", "zhu"), ("高", "gao"), ("林", "lin"), ("何", "he"), ("郭", "guo"),
    ("马", "ma"), ("罗", "luo"), ("梁", "liang"), ("宋", "song"), ("郑", "zheng"), ("谢", "xie"),
    ("韩", "han"), ("唐", "tang"), ("冯", "feng"), ("于", "yu"), ("董", "dong"), ("程", "cheng"),
    ("曹", "cao"), ("袁", "yuan"), ("邓", "deng"), ("许", "xu"), ("沈", "shen"), ("曾", "zeng"),
    ("彭", "peng"), ("吕", "lv"), ("蒋", "jiang"), ("蔡", "cai"), ("丁", "ding"), ("魏", "wei"),
    ("叶", "ye"), ("潘", "pan"), ("杜", "du"), ("夏", "xia"), ("钟", "zhong"), ("田", "tian"),
    ("任", "ren"), ("方", "fang"), ("石", "shi"), ("姚", "yao"), ("谭", "tan"), ("廖", "liao"),
    ("熊", "xiong"), ("金", "jin"), ("陆", "lu"), ("崔", "cui"), ("邱", "qiu"), ("秦", "qin"),
    ("顾", "gu"), ("孟", "meng"), ("雷", "lei"), ("钱", "qian"), ("欧阳", "ouyang"), ("上官", "shangguan"),
]
GIVEN_NAMES: Final[list[tuple[str, str]]] = [
    ("伟", "wei"), ("芳", "fang"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("军", "jun"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"),
    ("超", "chao"), ("霞", "xia"), ("刚", "gang"), ("斌", "bin"), ("健", "jian"), ("琳", "lin"),
    ("秀英", "xiu ying"), ("建华", "jian hua"), ("志强", "zhi qiang"), ("晓东", "xiao dong"),
    ("海燕", "hai yan"), ("文博", "wen bo"), ("子涵", "zi han"), ("雨桐", "yu tong"),
    ("欣怡", "xin yi"), ("浩然", "hao ran"), ("俊杰", "jun jie"), ("思远", "si yuan"),
    ("嘉怡", "jia yi"), ("晨曦", "chen xi"), ("立新", "li xin"), ("国栋", "guo dong"),
    ("春梅", "chun mei"), ("红梅", "hong mei"), ("宏伟", "hong wei"), ("振华", "zhen hua"),
    ("德胜", "de sheng"), ("美玲", "mei ling"), ("佳琪", "jia qi"), ("一鸣", "yi ming"),
    ("梓萱", "zi xuan"), ("博文", "bo wen"), ("婷婷", "ting ting"), ("鹏飞", "peng fei"),
    ("晓燕", "xiao yan"), ("少华", "shao hua"), ("永康", "yong kang"), ("昊天", "hao tian"),
    ("雪梅", "xue mei"), ("建军", "jian jun"), ("海涛", "hai tao"), ("玉兰", "yu lan"),
]

# Job titles as (title, department, role) triples.
PRIMARY_TITLES: Final[list[tuple[str, str, str]]] = [
    ("总经理", "总经办", "decision_maker"),
    ("副总经理", "总经办", "decision_maker"),
    ("采购经理", "采购部", "decision_maker"),
    ("信息中心主任", "信息中心", "decision_maker"),
    ("CIO", "信息中心", "decision_maker"),
    ("运营总监", "运营部", "decision_maker"),
    ("IT经理", "信息部", "technical"),
    ("销售总监", "销售部", "influencer"),
]
OTHER_TITLES: Final[list[tuple[str, str, str]]] = [
    ("采购专员", "采购部", "user"),
    ("财务总监", "财务部", "finance"),
    ("财务经理", "财务部", "finance"),
    ("会计", "财务部", "finance"),
    ("系统工程师", "IT部", "technical"),
    ("信息化主管", "信息中心", "technical"),
    ("市场部经理", "市场部", "influencer"),
    ("供应链经理", "供应链管理部", "influencer"),
    ("客服主管", "客户服务部", "user"),
    ("销售内勤", "销售部", "user"),
    ("数据分析师", "数字化部", "user"),
    ("生产经理", "生产部", "user"),
    ("行政主管", "行政部", "other"),
    ("总经理助理", "总经办", "other"),
    ("法务专员", "法务部", "other"),
]

# Opportunity name templates: (name, low, high) in the account's currency.
CN_OPP_TEMPLATES: Final[list[tuple[str, int, int]]] = [
    ("{year}年度ERP升级项目", 80_000, 600_000),
    ("CRM系统实施项目", 60_000, 450_000),
    ("多组织客户主数据同步平台", 150_000, 1_200_000),
    ("电商订单与ERP对接项目", 40_000, 260_000),
    ("经销商门户建设", 120_000, 800_000),
    ("CRM扩容：新增{seats}个用户许可", 0, 0),
    ("年度维保续约", 9_800, 60_000),
    ("MES与ERP数据集成", 200_000, 1_500_000),
    ("主数据治理咨询", 50_000, 300_000),
    ("CRM移动端定制开发", 30_000, 200_000),
    ("仓储WMS数据打通", 50_000, 350_000),
    ("集团财务共享中心数据同步", 300_000, 2_000_000),
    ("数据同步网关采购", 25_600, 128_000),
    ("销售团队培训服务", 6_000, 36_000),
]
EN_OPP_TEMPLATES: Final[list[tuple[str, int, int]]] = [
    ("Sync Hub rollout – {region}", 40_000, 250_000),
    ("ERP connector pilot", 8_000, 40_000),
    ("Annual license renewal {year}", 5_000, 60_000),
    ("Data migration from legacy CRM", 20_000, 120_000),
    ("Premium support upgrade", 5_000, 25_000),
    ("Multi-entity sync for {region} subsidiaries", 60_000, 300_000),
    ("Warehouse system integration", 30_000, 150_000),
    ("CRM seats expansion ({seats} users)", 0, 0),
    ("Customer master data clean-up", 10_000, 60_000),
    ("Finance system integration", 25_000, 140_000),
    ("E-commerce order sync", 15_000, 90_000),
    ("Partner portal integration", 30_000, 180_000),
]
REGION_BY_COUNTRY: Final[dict[str, str]] = {
    "GB": "EMEA", "DE": "EMEA", "FR": "EMEA", "US": "North America", "CA": "North America",
    "JP": "APAC", "HK": "APAC", "SG": "APAC", "AU": "APAC",
}
CURRENCY_FACTOR: Final[dict[str, int]] = {"USD": 1, "EUR": 1, "GBP": 1, "HKD": 8, "CNY": 1}
STAGE_WEIGHTS: Final[dict[str, int]] = {
    "lead_in": 8, "qualify": 10, "proposal": 11, "negotiate": 9, "won": 9, "lost": 5,
}
CLOSE_FIRST: Final[dt.date] = dt.date(2026, 9, 1)
CLOSE_LAST: Final[dt.date] = dt.date(2027, 6, 30)

# Activity templates: (type, subject, body).  Placeholders: {company} {short}
# {city} {industry} {contact} {title} {opp} {amount} {cur}.
Template = tuple[str, str, str]

CN_ACCOUNT_ACTS: Final[list[Template]] = [
    ("call", "电话拜访：了解现有系统情况", "与{short}总机及信息部沟通，了解到目前使用自建ERP加Excel管理客户，客户资料分散在销售个人手中，建议尽快约IT负责人面谈。"),
    ("call", "400来电：咨询数据同步方案", "{short}通过400电话咨询CRM与ERP双向同步方案，重点关注中文客户名称去重和统一社会信用代码校验，已登记需求并转给售前。"),
    ("meeting", "上门拜访：{city}{site}", "到访{company}，参观了生产和仓储现场。对方每月需人工核对约两千条客户和订单数据，对自动同步有明确需求，约定下周提交初步方案。"),
    ("meeting", "高层拜访", "陪同销售总监拜访{short}管理层，介绍同步中心在{industry}行业的落地案例。对方计划明年推进数字化升级，同意安排技术交流。"),
    ("note", "客户背景整理", "{company}，{industry}行业，{site}位于{city}。采购流程较规范，超过10万元的项目需总经理审批并走招标流程。"),
    ("note", "工商信息核对", "已核对{short}的统一社会信用代码和注册地址，与系统记录一致；开票信息待对方财务确认。"),
    ("follow_up", "寄送产品资料及行业案例", "已通过邮件发送产品白皮书和{industry}行业案例，三个工作日后电话跟进反馈。"),
    ("follow_up", "邀请参加{city}客户沙龙", "已向{short}发出下月{city}客户沙龙邀请，主题为“多系统客户主数据治理”，待回复参会人数。"),
]
CN_CONTACT_ACTS: Final[list[Template]] = [
    ("call", "电话回访：确认二期需求", "与{contact}（{title}）电话沟通，确认二期需要打通CRM与财务系统的客户主数据，预计下月启动预算申请。"),
    ("call", "电话沟通：账号与权限问题", "{contact}反馈部分销售无法查看共享客户，确认是团队权限配置问题，远程协助调整后已恢复正常。"),
    ("call", "初次电话接洽", "首次联系{contact}，介绍了同步中心的主要功能。对方表示目前最头疼的是客户重复录入和电话号码格式混乱。"),
    ("meeting", "拜访{contact}", "拜访{contact}（{title}），了解其部门日常工作流程，对方希望在手机端即可查看客户跟进记录和合同回款情况。"),
    ("meeting", "技术交流会", "与{contact}及信息部同事进行技术交流，讨论接口方式（REST接口或数据库视图）、同步频率和历史数据迁移方案。"),
    ("follow_up", "微信跟进：发送报价单", "已通过微信将最新报价单发给{contact}，对方表示会在周五前完成内部评审。"),
    ("follow_up", "邮件跟进：会议纪要", "已将上次会议纪要发送给{contact}并抄送相关负责人，请对方确认需求清单及优先级。"),
    ("note", "联系人偏好备注", "{contact}习惯上午沟通，邮件回复较慢，重要事项建议电话或微信确认。"),
    ("note", "组织架构变动", "{contact}近期接任{title}，原负责人已离职，后续需求对接以{contact}为准。"),
]
CN_EARLY_OPP_ACTS: Final[list[Template]] = [
    ("call", "初步沟通：{opp}", "与{contact}初步沟通{opp}的背景和预算范围，对方预计下季度立项，需先做内部可行性评估。"),
    ("meeting", "需求调研：{opp}", "与{contact}及业务骨干进行需求调研，梳理出客户、联系人、商机三类主数据共46个字段的映射关系。"),
    ("note", "竞争对手情况：{opp}", "{short}同时在评估另外两家厂商，对方报价较低但不支持本地部署；我方优势在于私有化部署和中文数据清洗能力。"),
]
CN_LATE_OPP_ACTS: Final[list[Template]] = [
    ("meeting", "方案演示：{opp}", "向客户演示同步看板、字段映射和冲突处理流程，{contact}对多组织数据隔离比较满意，追问是否支持港币和美元结算。"),
    ("call", "商务条款沟通：{opp}", "与{contact}沟通付款方式，客户希望按3:6:1分期付款，已提交销售总监审批。"),
    ("follow_up", "报价跟进：{opp}", "已提交报价，金额{amount}元（含税），等待客户采购部比价结果，预计两周内答复。"),
]
CN_WON_OPP_ACTS: Final[list[Template]] = [
    ("note", "赢单：{opp}", "合同已签署，金额{amount}元。已移交实施团队，计划两周内召开项目启动会。"),
    ("meeting", "项目启动会：{opp}", "项目启动会顺利召开，与{contact}确认了项目组成员、里程碑计划及历史数据迁移范围。"),
]
CN_LOST_OPP_ACTS: Final[list[Template]] = [
    ("note", "输单原因分析：{opp}", "客户最终选择了竞争对手，主要原因是预算收紧及对方提供了三年免费维保。保持联系，明年预算周期再跟进。"),
    ("call", "输单后回访", "与{contact}电话回访，对方表示今年预算已冻结，建议明年一季度再沟通。"),
]
EN_ACCOUNT_ACTS: Final[list[Template]] = [
    ("call", "Intro call with reception", "Spoke with the front desk at {company}; IT vendor enquiries go through the operations team. Asked for a meeting with the IT lead."),
    ("call", "Inbound enquiry via website", "{short} filled in the website form asking about CRM–ERP sync for several subsidiaries. Qualified as a warm lead."),
    ("meeting", "On-site visit in {city}", "Visited {company} in {city}. Toured the warehouse; they reconcile roughly 3,000 customer records per month by hand."),
    ("meeting", "Executive meeting", "Met the {short} leadership team with our sales director and presented two {industry} references. They plan a systems review next year and agreed to a technical session."),
    ("note", "Account background", "{company} – {industry}. Purchases above {cur} 50,000 need board approval; fiscal year ends in March."),
    ("follow_up", "Sent case studies", "Emailed the {industry} case study and the security whitepaper to {short}. Follow up next week."),
]
EN_CONTACT_ACTS: Final[list[Template]] = [
    ("call", "Follow-up call: phase 2 scope", "Call with {contact} ({title}). Phase 2 should add invoice sync with their finance system; budget request planned for next month."),
    ("call", "Discovery call", "First call with {contact}. Main pain points: duplicate customer records and inconsistent phone formats across systems."),
    ("meeting", "Demo of the sync dashboard", "Walked {contact} through the sync dashboard and conflict resolution. Positive feedback; asked about SSO support."),
    ("meeting", "Technical workshop", "Workshop with {contact} on the REST API, sync frequency and migration of historical data."),
    ("follow_up", "Sent meeting notes", "Emailed meeting notes to {contact} and asked to confirm the requirement priorities."),
    ("follow_up", "Sent updated quote", "Sent the updated quote to {contact}; internal review expected by Friday."),
    ("note", "Contact preferences", "{contact} prefers email over phone; best reached before noon local time."),
]
EN_EARLY_OPP_ACTS: Final[list[Template]] = [
    ("call", "Scoping call: {opp}", "Scoping call with {contact} on background and budget range; they expect to open the project next quarter after an internal feasibility check."),
    ("note", "Competitive situation: {opp}", "{short} is also evaluating two other vendors. Our edge: on-premise option and CJK-aware duplicate detection."),
    ("meeting", "Requirements workshop: {opp}", "Workshop with {contact} mapping 40+ account and contact fields between their ERP and the CRM."),
]
EN_LATE_OPP_ACTS: Final[list[Template]] = [
    ("meeting", "Solution demo: {opp}", "Demoed field mapping and the conflict queue to {contact}. They want multi-currency support before signing off."),
    ("call", "Commercial terms: {opp}", "Discussed payment terms with {contact}; they prefer quarterly billing. Escalated to the sales director."),
    ("follow_up", "Quote follow-up: {opp}", "Quote of {cur} {amount} submitted; procurement feedback expected within two weeks."),
]
EN_WON_OPP_ACTS: Final[list[Template]] = [
    ("note", "Closed won: {opp}", "Contract signed for {cur} {amount}. Handed over to implementation; kick-off within two weeks."),
    ("meeting", "Project kick-off: {opp}", "Kick-off with {contact}: confirmed project team, milestones and the scope of the data migration."),
]
EN_LOST_OPP_ACTS: Final[list[Template]] = [
    ("note", "Closed lost: {opp}", "Lost to a competitor on price and bundled support. Keep in touch for the next budget cycle."),
    ("call", "Post-loss debrief", "Debrief call with {contact}: budget frozen for this year, suggested reconnecting next quarter."),
]

# fmt: on


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


@dataclass
class Builder:
    """Holds generator state while the data set is assembled."""

    rng: random.Random
    mobiles: MobilePool
    credit_codes: set[str] = field(default_factory=set)
    full_names: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=lambda: {"zhang.wei@hzhuaxin.com.cn"})
    stage_bag: list[str] = field(default_factory=list)
    contact_seq: int = 0
    opp_seq: int = 0

    def next_contact_key(self) -> str:
        self.contact_seq += 1
        return f"c{self.contact_seq}"

    def next_opp_key(self) -> str:
        self.opp_seq += 1
        return f"o{self.opp_seq}"

    def local_number(self, city: str) -> str:
        """Return a random landline local number for ``city``."""
        length = 7 if city in SEVEN_DIGIT_CITIES else 8
        return self.rng.choice("5678") + "".join(
            self.rng.choice("0123456789") for _ in range(length - 1)
        )

    def chinese_name(self, avoid_given: set[str]) -> tuple[str, str, str, str]:
        """Return (surname, given, surname pinyin, given pinyin) not used before."""
        while True:
            sur, sur_py = self.rng.choice(SURNAMES)
            given, given_py = self.rng.choice(GIVEN_NAMES)
            if sur + given not in self.full_names and given not in avoid_given:
                avoid_given.add(given)
                self.full_names.add(sur + given)
                return sur, given, sur_py, given_py

    def chinese_email(self, sur_py: str, given_py: str, domain: str, used: set[str]) -> str:
        """Build a plausible company e-mail address from pinyin."""
        syllables = given_py.split()
        given = "".join(syllables)
        initials = "".join(s[0] for s in syllables)
        candidates = [
            f"{sur_py}.{given}",
            f"{sur_py}{given}",
            f"{given}.{sur_py}",
            f"{sur_py}{initials}",
        ]
        local = self.rng.choice(candidates)
        suffix = 1
        address = f"{local}@{domain}"
        while address in used:
            suffix += 1
            address = f"{local}{suffix}@{domain}"
        used.add(address)
        return address

    def close_date(self) -> str:
        span = (CLOSE_LAST - CLOSE_FIRST).days
        return (CLOSE_FIRST + dt.timedelta(days=self.rng.randint(0, span))).isoformat()

    def pick_stage(self) -> str:
        """Draw stages from a shuffled bag so every stage is well represented."""
        if not self.stage_bag:
            self.stage_bag = [k for k, n in STAGE_WEIGHTS.items() for _ in range(n)]
            self.rng.shuffle(self.stage_bag)
        return self.stage_bag.pop()

    def amount(self, low: int, high: int, currency: str) -> Decimal:
        factor = CURRENCY_FACTOR[currency]
        low, high = low * factor, min(high * factor, 2_000_000)
        step = 100 if high > 20_000 else 10
        value = self.rng.randrange(low // step, high // step + 1) * step
        return Decimal(max(5_000, min(value, 2_000_000)))


def money(value: Decimal) -> str:
    """Render an amount as a decimal string with exactly two decimals."""
    return f"{value:.2f}"


def pretty_money(value: Decimal) -> str:
    """Render an amount for prose, e.g. ``128,000.00``."""
    return f"{value:,.2f}"


def team_of(owner: str) -> str:
    return next(u["team"] for u in USERS if u["key"] == owner)


def teammate(builder: Builder, owner: str) -> str:
    """Usually the owner, sometimes another member of the same team."""
    if builder.rng.random() < 0.8:
        return owner
    mates = [u["key"] for u in USERS if u["team"] == team_of(owner)]
    return builder.rng.choice(mates)


def cn_contacts(
    builder: Builder, spec: CnAccount, area: str, base_local: str
) -> list[dict[str, Any]]:
    """Generate 1-3 contacts for a mainland account."""
    rng = builder.rng
    count = rng.choices([1, 2, 3], weights=[38, 44, 18])[0]
    titles: list[tuple[str, str, str]] = [rng.choice(PRIMARY_TITLES)]
    titles += rng.sample(OTHER_TITLES, count - 1)
    contacts: list[dict[str, Any]] = []
    givens: set[str] = {"伟"} if spec.key == "a_huaxin" else set()
    for index, (title, department, role) in enumerate(titles):
        sur, given, sur_py, given_py = builder.chinese_name(givens)
        local = base_local[:-2] + f"{rng.randrange(100):02d}"
        phone = format_landline(area, local, rng.randrange(4))
        if rng.random() < 0.15:
            phone += f" 转{rng.randrange(800, 900)}"
        contacts.append(
            {
                "key": builder.next_contact_key(),
                "last_name": sur,
                "first_name": given,
                "title": title,
                "department": department,
                "phone": phone,
                "mobile": builder.mobiles.new(),
                "email": builder.chinese_email(sur_py, given_py, spec.domain, builder.emails),
                "role": role,
                "is_primary": index == 0,
            }
        )
    return contacts


def make_opportunities(
    builder: Builder,
    *,
    owner: str,
    currency: str,
    zh: bool,
    country: str,
    contacts: list[dict[str, Any]],
    count: int,
    exclude: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Generate ``count`` opportunities with distinct names, skipping ``exclude`` templates."""
    rng = builder.rng
    templates = [t for t in (CN_OPP_TEMPLATES if zh else EN_OPP_TEMPLATES) if t[0] not in exclude]
    decision = [c for c in contacts if c["role"] in ("decision_maker", "influencer")] or contacts
    opps: list[dict[str, Any]] = []
    for name_tpl, low, high in rng.sample(templates, count):
        seats = rng.choice([20, 30, 50, 80, 120])
        name = name_tpl.format(
            year=rng.choice([2026, 2027]),
            seats=seats,
            region=REGION_BY_COUNTRY.get(country, "APAC"),
        )
        if low == 0:
            unit = 1_200 if zh else 199 * CURRENCY_FACTOR[currency]
            amount = Decimal(max(5_000, seats * unit))
        else:
            amount = builder.amount(low, high, currency)
        opps.append(
            {
                "key": builder.next_opp_key(),
                "name": name,
                "stage": builder.pick_stage(),
                "amount": money(amount),
                "currency": currency,
                "expected_close": builder.close_date(),
                "owner": teammate(builder, owner),
                "contact": rng.choice(decision)["key"],
            }
        )
    return opps


def opp_activity_pool(stage: str, zh: bool) -> list[Template]:
    """Activity templates that fit an opportunity in ``stage``."""
    if stage == "won":
        return CN_WON_OPP_ACTS if zh else EN_WON_OPP_ACTS
    if stage == "lost":
        return CN_LOST_OPP_ACTS if zh else EN_LOST_OPP_ACTS
    if stage in ("lead_in", "qualify"):
        return CN_EARLY_OPP_ACTS if zh else EN_EARLY_OPP_ACTS
    return CN_LATE_OPP_ACTS if zh else EN_LATE_OPP_ACTS


def make_activities(
    builder: Builder,
    account: dict[str, Any],
    *,
    short: str,
    zh: bool,
    count: int,
    fixed: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Generate activities that point at the account, a contact or an opportunity."""
    rng = builder.rng
    contacts: list[dict[str, Any]] = account["contacts"]
    opps: list[dict[str, Any]] = account["opportunities"]
    by_contact = {c["key"]: c for c in contacts}
    activities: list[dict[str, Any]] = list(fixed or [])
    used_subjects = {a["subject"] for a in activities}
    attempts = 0
    while len(activities) < count and attempts < 200:
        attempts += 1
        kinds = ["account", "contact"] + (["opp", "opp"] if opps else [])
        kind = rng.choice(kinds)
        contact = rng.choice(contacts)
        opp: dict[str, Any] | None = None
        if kind == "account":
            pool = CN_ACCOUNT_ACTS if zh else EN_ACCOUNT_ACTS
            on = "account"
        elif kind == "contact":
            pool = CN_CONTACT_ACTS if zh else EN_CONTACT_ACTS
            on = contact["key"]
        else:
            opp = rng.choice(opps)
            contact = by_contact[opp["contact"]]
            pool = opp_activity_pool(opp["stage"], zh)
            on = opp["key"]
        act_type, subject_tpl, body_tpl = rng.choice(pool)
        if zh or not contact["first_name"].isascii():
            contact_name = contact["last_name"] + contact["first_name"]
        else:
            contact_name = f"{contact['first_name']} {contact['last_name']}"
        values = {
            "company": account["name"],
            "short": short,
            "city": account["city"],
            "site": "分公司" if account["name"].endswith("分公司") else "总部",
            "industry": account["industry"],
            "contact": contact_name,
            "title": contact["title"],
            "opp": opp["name"] if opp else "",
            "cur": account_currency(account),
            "amount": pretty_money(Decimal(opp["amount"])) if opp else "",
        }
        subject = subject_tpl.format(**values)
        if subject in used_subjects:
            continue
        used_subjects.add(subject)
        closed = opp is not None and opp["stage"] in ("won", "lost")
        # Closing notes are recent; the kick-off or debrief comes after the note.
        if closed:
            days_ago = rng.randint(7, 30) if act_type == "note" else rng.randint(0, 6)
        else:
            days_ago = rng.randint(0, 120)
        activities.append(
            {
                "type": act_type,
                "subject": subject,
                "body": body_tpl.format(**values),
                "days_ago": days_ago,
                "owner": teammate(builder, account["owner"]),
                "on": on,
            }
        )
    activities.sort(key=lambda a: a["days_ago"])
    return activities


def account_currency(account: dict[str, Any]) -> str:
    if account["opportunities"]:
        return str(account["opportunities"][0]["currency"])
    return {"CN": "CNY", "GB": "GBP", "DE": "EUR", "FR": "EUR", "HK": "HKD"}.get(
        account["country"], "USD"
    )


def build_cn_account(builder: Builder, spec: CnAccount) -> dict[str, Any]:
    rng = builder.rng
    area = AREA_CODES[spec.city]
    if spec.phone:
        base_local = "".join(ch for ch in spec.phone.split("-", 1)[1] if ch.isdigit())
        phone = spec.phone
    else:
        base_local = builder.local_number(spec.city)
        phone = format_landline(area, base_local, rng.randrange(4))
    box = spec.email_box or rng.choice(["info", "sales", "service", "contact", "market", "office"])
    account: dict[str, Any] = {
        "key": spec.key,
        "name": spec.name,
        "credit_code": make_uscc(rng, spec.division, builder.credit_codes),
        "industry": spec.industry,
        "phone": phone,
        "email": f"{box}@{spec.domain}",
        "website": f"https://www.{spec.domain}",
        "address": spec.address,
        "city": spec.city,
        "province": spec.province,
        "country": "CN",
        "owner": spec.owner,
    }
    fixed_acts: list[dict[str, Any]] = []
    if spec.key == "a_huaxin":
        # Fixed anchor record used by the demo and tests.
        builder.full_names.add("张伟")
        contacts = [
            {
                "key": builder.next_contact_key(),
                "last_name": "张",
                "first_name": "伟",
                "title": "采购经理",
                "department": "采购部",
                "phone": "0571-8765 4322",
                "mobile": RESERVED_MOBILE,
                "email": "zhang.wei@hzhuaxin.com.cn",
                "role": "decision_maker",
                "is_primary": True,
            }
        ]
        extra = cn_contacts(builder, spec, area, base_local)
        for contact in extra[:2]:
            contact["is_primary"] = False
            if contact["title"] == "采购经理":  # 张伟 already holds this title
                contact.update(title="IT经理", department="信息部", role="technical")
            contacts.append(contact)
        opps = [
            {
                "key": builder.next_opp_key(),
                "name": "2026年度ERP升级项目",
                "stage": "proposal",
                "amount": "128000.00",
                "currency": "CNY",
                "expected_close": "2026-12-20",
                "owner": "u_wang",
                "contact": contacts[0]["key"],
            }
        ]
        opps += make_opportunities(
            builder,
            owner=spec.owner,
            currency="CNY",
            zh=True,
            country="CN",
            contacts=contacts,
            count=1,
            exclude=frozenset({"{year}年度ERP升级项目"}),
        )
        fixed_acts = [
            {
                "type": "call",
                "subject": "电话回访：确认二期需求",
                "body": "与张伟（采购经理）电话沟通，确认二期需要打通CRM与财务系统的客户主数据，并同步上海分公司的客户资料，预计下月启动预算申请。",
                "days_ago": 3,
                "owner": "u_wang",
                "on": contacts[0]["key"],
            },
            {
                "type": "meeting",
                "subject": "方案演示：2026年度ERP升级项目",
                "body": "在滨江总部向张伟及信息部演示同步看板和字段映射，客户关注总部与上海分公司客户数据去重，要求报价包含两个组织。",
                "days_ago": 12,
                "owner": "u_wang",
                "on": opps[0]["key"],
            },
        ]
    else:
        contacts = cn_contacts(builder, spec, area, base_local)
        n_opps = rng.choices([0, 1, 2], weights=[25, 55, 20])[0]
        opps = make_opportunities(
            builder,
            owner=spec.owner,
            currency="CNY",
            zh=True,
            country="CN",
            contacts=contacts,
            count=n_opps,
        )
    account["contacts"] = contacts
    account["opportunities"] = opps
    n_acts = max(len(fixed_acts) + 1, rng.choices([1, 2, 3, 4], weights=[20, 40, 28, 12])[0])
    account["activities"] = make_activities(
        builder, account, short=spec.short, zh=True, count=n_acts, fixed=fixed_acts
    )
    return account


def build_foreign_account(builder: Builder, spec: ForeignAccount) -> dict[str, Any]:
    rng = builder.rng
    contacts = [
        {
            "key": builder.next_contact_key(),
            "last_name": c.last_name,
            "first_name": c.first_name,
            "title": c.title,
            "department": c.department,
            "phone": c.phone,
            "mobile": c.mobile,
            "email": f"{c.email_local}@{spec.domain}",
            "role": c.role,
            "is_primary": i == 0,
        }
        for i, c in enumerate(spec.contacts)
    ]
    account: dict[str, Any] = {
        "key": spec.key,
        "name": spec.name,
        "credit_code": None,
        "industry": spec.industry,
        "phone": spec.phone,
        "email": spec.email,
        "website": f"https://www.{spec.domain}",
        "address": spec.address,
        "city": spec.city,
        "province": spec.province,
        "country": spec.country,
        "owner": spec.owner,
        "contacts": contacts,
    }
    n_opps = rng.choices([0, 1, 2], weights=[25, 55, 20])[0]
    opps = make_opportunities(
        builder,
        owner=spec.owner,
        currency=spec.currency,
        zh=False,
        country=spec.country,
        contacts=contacts,
        count=n_opps,
    )
    account["opportunities"] = opps
    if spec.activities:
        activities: list[dict[str, Any]] = []
        for act_type, subject, body, days_ago, target in spec.activities:
            kind, _, index = target.partition(":")
            if kind == "opp" and int(index) >= len(opps):
                continue
            on = (
                "account"
                if kind == "account"
                else (contacts[int(index)]["key"] if kind == "contact" else opps[int(index)]["key"])
            )
            opp_name = opps[int(index)]["name"] if kind == "opp" else ""
            activities.append(
                {
                    "type": act_type,
                    "subject": subject.format(opp=opp_name),
                    "body": body,
                    "days_ago": days_ago,
                    "owner": spec.owner,
                    "on": on,
                }
            )
        account["activities"] = sorted(activities, key=lambda a: a["days_ago"])
    else:
        n_acts = rng.choices([1, 2, 3, 4], weights=[20, 40, 28, 12])[0]
        account["activities"] = make_activities(
            builder, account, short=spec.short, zh=False, count=n_acts
        )
    return account


def build() -> dict[str, Any]:
    """Assemble the complete sample data set."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible sample data, not security
    builder = Builder(rng=rng, mobiles=MobilePool(rng))
    for user in USERS:
        builder.mobiles.reserve(user["phone"])
        builder.full_names.add(user["name"])
    for lead in LEADS:
        if str(lead["mobile"]).startswith(("1", "+86")):
            builder.mobiles.reserve(str(lead["mobile"]))
        builder.full_names.add(str(lead["name"]))
    accounts = [build_cn_account(builder, spec) for spec in CN_ACCOUNTS]
    accounts += [build_foreign_account(builder, spec) for spec in FOREIGN_ACCOUNTS]
    data: dict[str, Any] = {
        "teams": TEAMS,
        "users": USERS,
        "pipelines": [{"key": "default", "name": "标准销售流程", "stages": STAGES}],
        "products": PRODUCTS,
        "accounts": accounts,
        "leads": LEADS,
    }
    self_check(data)
    return data


def self_check(data: dict[str, Any]) -> None:
    """Fail loudly if the generated data breaks the documented invariants."""
    codes = [a["credit_code"] for a in data["accounts"] if a["credit_code"]]
    if not all(is_valid_credit_code(c) for c in codes):
        raise ValueError("invalid credit code")
    if len(codes) != len(set(codes)):
        raise ValueError("duplicate credit code")
    stages = {o["stage"] for a in data["accounts"] for o in a["opportunities"]}
    if stages != {s["key"] for s in STAGES}:
        raise ValueError(f"stages not all used: {sorted(stages)}")
    mobiles = [c["mobile"] for a in data["accounts"] for c in a["contacts"]]
    if mobiles.count(RESERVED_MOBILE) != 1:
        raise ValueError("reserved mobile reused")
    for account in data["accounts"]:
        names = [o["name"] for o in account["opportunities"]]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate opportunity name in {account['key']}")


def main() -> None:
    """Rebuild the data set and write it next to this script."""
    data = build()
    text = json.dumps(data, ensure_ascii=False, indent=1)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    accounts = data["accounts"]
    sys.stdout.write(
        f"wrote {OUTPUT}: {len(accounts)} accounts, "
        f"{sum(len(a['contacts']) for a in accounts)} contacts, "
        f"{sum(len(a['opportunities']) for a in accounts)} opportunities, "
        f"{sum(len(a['activities']) for a in accounts)} activities, "
        f"{len(data['leads'])} leads\n"
    )


if __name__ == "__main__":
    main()
