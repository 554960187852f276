"""Micro-benchmark of the mapping language: records per second of a compiled mapping.

Maps N generated K3 Cloud records (default 10,000) with the shipped Kingdee mappings, in memory
(no database, no network): ``to_crm`` and ``to_external`` of customers (10 and 11 fields:
text, a phone to E.164, value maps, constants), ``to_crm`` and ``lines_to_crm`` of sale orders
(a lookup, a date, exact decimals, three lines each with a lookup and a scale),
``source_modified`` and ``inbound_references``. Each figure is the best of five runs; a bare
dict comprehension reading ten keys of each record is printed as this machine's floor.

Run it::

    python bench/mapping.py [--records N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

from crm_core.mapping import DictLookup, load_mapping

ROOT = Path(__file__).resolve().parents[1]


def best_of(runs: int, work: Callable[[], Any]) -> float:
    """The shortest time of ``runs`` runs of ``work``, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    n = parser.parse_args().records

    customer = load_mapping(ROOT / "mappings" / "kingdee" / "customer.yaml")
    order = load_mapping(ROOT / "mappings" / "kingdee" / "sale_order.yaml")
    customers = [
        {
            "FNumber": f"CUST{i:06d}",
            "FName": f"杭州华信第{i}科技有限公司",
            "FShortName": "华信",
            "FTAXREGISTERCODE": f"91330106{i:010d}",
            "FTEL": f"138{i:08d}" if i % 4 else f"0571-{i % 10**8:08d}",
            "FADDRESS": "杭州市西湖区文三路 90 号",
            "FWEBSITE": "www.huaxin-tech.cn",
            "FPROVINCIAL": "浙江省",
            "FDescription": "老客户",
            "FForbidStatus": "A",
            "FTRADINGCURRID.FNumber": "PRE001",
            "FModifyDate": "2026-11-25T10:00:00.123",
        }
        for i in range(n)
    ]
    links = DictLookup(
        {
            ("kingdee", "BD_Customer"): {c["FNumber"]: uuid4() for c in customers},
            ("kingdee", "BD_MATERIAL"): {f"MAT-{j:04d}": uuid4() for j in range(1000)},
        }
    )
    orders = [
        {
            "FBillNo": f"XSDD{i:06d}",
            "FDate": "2026-11-25T00:00:00",
            "FCustId.FNumber": f"CUST{i:06d}",
            "FNote": "",
            "FSettleCurrId.FNumber": "PRE001",
            "FBillAllAmount": 2599.6,
            "FBillTaxAmount": 299.07,
            "FDocumentStatus": "C",
            "FModifyDate": "2026-11-25T10:00:00.123",
            "FSaleOrderEntry": [
                {
                    "FMaterialId.FNumber": f"MAT-{(i + j) % 1000:04d}",
                    "FQty": 10,
                    "FTaxPrice": 226.0,
                    "FEntryTaxRate": 13,
                    "FAllAmount": 2260.0,
                    "FEntryNote": "",
                }
                for j in range(3)
            ],
        }
        for i in range(n)
    ]
    crm_customers = [customer.to_crm(record, links) for record in customers]
    keys = list(customers[0])[:10]

    figures = {
        "floor: a dict of 10 keys per record": lambda: [
            {key: record.get(key) for key in keys} for record in customers
        ],
        "customer to_crm": lambda: [customer.to_crm(record, links) for record in customers],
        "customer to_external": lambda: [
            customer.to_external(values, None, links) for values in crm_customers
        ],
        "customer source_modified": lambda: [customer.source_modified(r) for r in customers],
        "sale order to_crm": lambda: [order.to_crm(record, links) for record in orders],
        "sale order lines_to_crm (3 lines)": lambda: [
            order.lines_to_crm(record, links) for record in orders
        ],
        "sale order inbound_references": lambda: order.inbound_references(orders),
    }
    print(f"{n:,} records, best of 5:")
    for label, work in figures.items():
        milliseconds = best_of(5, work)
        rate = n / milliseconds * 1000
        print(f"  {label:<38} {milliseconds:8.1f} ms  {rate:>12,.0f} records/s")


if __name__ == "__main__":
    main()
