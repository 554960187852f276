"""Writes ``legacy_customers.xlsx``, the legacy spreadsheet ``tongbu demo`` migrates: two sheets
of an old customer list, with the duplicates and bad rows real ones have. ::

    python -m crm_core.sample.make_legacy
"""

from __future__ import annotations

import sys
from pathlib import Path

import openpyxl

from crm_core._credit_code import credit_code_check_char

__all__ = ["LEGACY_WORKBOOK", "write_workbook"]

LEGACY_WORKBOOK = Path(__file__).with_name("legacy_customers.xlsx")
HEADER = ("id", "name", "credit_code", "phone", "email", "address", "city", "contact_name")


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


MINGDA = _code("91310115MA1FL3QW2")
HAITIAN = _code("91330206MA2GT8HX4")
GUANGGU = _code("91420100MA4KW2PL7")

CUSTOMERS = [  # the old CRM's export
    (
        "L001",
        "杭州华信电子科技有限公司",
        "913301087176210316",
        "0571-87654321",
        "",
        "",
        "杭州",
        "王立",
    ),
    (
        "L002",
        "上海明达国际贸易有限公司",
        MINGDA,
        "021-5030 1188",
        "",
        "上海市浦东新区张杨路500号",
        "上海",
        "陈明",
    ),
    (
        "L003",
        "上海明达国际贸易有限责任公司",
        "",
        "+86 21 5030 1188",
        "info@mingda-trade.cn",
        "",
        "上海",
        "",
    ),
    (
        "L004",
        "宁波海天精工机械有限公司",
        HAITIAN,
        "0574-8618 2266",
        "sales@htjg.com.cn",
        "",
        "宁波",
        "李海",
    ),
    (
        "L005",
        "寧波海天精工機械有限公司",
        "",
        "0574-86182266",
        "",
        "浙江省宁波市北仑区大港路8号",
        "宁波",
        "",
    ),
    ("L006", "武汉光谷新材料科技有限公司", GUANGGU, "027-8766 0021", "", "", "武汉", "周静"),
    ("L007", "", "", "13900001111", "", "", "苏州", "无名"),
    ("L008", "厦门鹭岛茶业有限公司", "91350200MA3XK2P1", "0592-555 0101", "", "", "厦门", ""),
    ("L004", "宁波海天精工机械股份有限公司", "", "0574-86182267", "", "", "宁波", ""),
    ("L010", "长沙湘江环保科技有限公司", "", "0731-8822 3344", "hr@xjhb.cn", "", "长沙", "刘洋"),
    ("L011", "青岛海之蓝水产有限公司", "", "0532-8686 1200", "SALES＠QDHZL.COM", "", "青岛", ""),
    ("L012", "西安秦川软件技术有限公司", "", "029 8888 1234 转 8", "", "", "西安", "赵峰"),
]
TRADE_SHOW = [  # leads collected at a trade show, typed in by hand
    (
        "T001",
        "上海明达国际贸易有限公司",
        "",
        "021 50301188",
        "chen.ming@mingda-trade.cn",
        "",
        "上海",
        "陈明",
    ),
    ("T002", "重庆山城火锅食品有限公司", "", "023-6311 2288", "", "", "重庆", "孙红"),
    (
        "T003",
        "武汉光谷新材料科技有限公司 ",
        "",
        "０２７－８７６６００２１",
        "",
        "湖北省武汉市洪山区光谷大道77号",
        "武汉",
        "",
    ),
    ("T004", "深圳市腾远网络技术有限公司", "", "0755-63957185", "", "", "深圳", "黄涛"),
    (
        "T005",
        "大连星海船舶配件有限公司",
        "91210200MA0T4B7K1X",
        "0411-8466 7700",
        "",
        "",
        "大连",
        "",
    ),
    ("T006", "福州闽江电器有限公司", "", "0591-8755 6600", "service@mjdq.com", "", "福州", "林晨"),
]


def write_workbook(path: Path = LEGACY_WORKBOOK) -> Path:
    """Write the workbook: sheet 客户名单 (the old CRM) and sheet 展会线索 (a trade show)."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in (("客户名单", CUSTOMERS), ("展会线索", TRADE_SHOW)):
        sheet = workbook.create_sheet(title)
        sheet.append(HEADER)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


if __name__ == "__main__":
    sys.stdout.write(f"{write_workbook()}\n")
