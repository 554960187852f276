"""Two-way sync with Kingdee K3 Cloud over real HTTP (the emulator), on SQLite and PostgreSQL:
the guarantees of DESIGN.md section 5 as a user would check them."""

from __future__ import annotations

import socket
import subprocess
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_core import records
from crm_core.db import open_session
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    Account,
    Conflict,
    Order,
    OrderLine,
    Product,
    Quarantine,
    SyncRun,
    SyncState,
    Xref,
)
from crm_core.sync._books import save_cursor
from crm_core.sync._lease import PipelineBusy
from crm_core.sync.review import find_run, list_conflicts, replay, resolve_conflict
from tests.integration.sync_harness import Hub, writes


def _edit_crm(hub: Hub, number: str, **values: Any) -> None:
    account = hub.account(number)
    assert account is not None
    with open_session(hub.db.engine, origin="crm") as session:
        records.update(session, Account, account.id, values, expected_version=account.version)


def test_initial_full_sync_and_a_second_run_writes_nothing(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=5000, orders=2000)
    lines_in_erp = sum(len(order["FSaleOrderEntry"]) for order in hub.erp.all("SAL_SaleOrder"))

    first = hub.sync_all()

    assert first["customers"]["in"].counts.created == 5000
    assert hub.count(Account) == 5000
    assert hub.count(Product) == hub.erp.count("BD_MATERIAL")
    assert hub.count(Order) == 2000
    assert hub.count(OrderLine) == lines_in_erp
    assert first["customers"]["out"].counts.created == 0  # nothing the ERP lacks
    sample = hub.erp.get("BD_Customer", hub.erp.numbers("BD_Customer")[17])
    assert sample is not None
    account = hub.account(sample["FNumber"])
    assert account is not None
    assert account.name == sample["FName"]
    assert account.credit_code == sample["FTAXREGISTERCODE"]

    saves_before = hub.erp.calls("Save") + hub.erp.calls("BatchSave")
    second = hub.sync_all()

    for name, sides in second.items():
        for side, summary in sides.items():
            assert writes(summary) == 0, (name, side, summary.counts)
    assert hub.erp.calls("Save") + hub.erp.calls("BatchSave") == saves_before
    assert hub.count(Account) == 5000
    assert hub.erp.count("BD_Customer") == 5000


def test_an_edit_on_each_side_arrives_on_the_other_once(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=40, orders=10)
    hub.sync_all()
    numbers = hub.erp.numbers("BD_Customer")

    hub.erp.edit("BD_Customer", numbers[0], FName="杭州同步科技有限公司")
    _edit_crm(hub, numbers[1], phone="+8613800138000")
    order = hub.erp.all("SAL_SaleOrder")[0]
    hub.erp.edit("SAL_SaleOrder", order["FBillNo"], FNote="请周五前发货")

    first = hub.sync_all()

    assert first["customers"]["in"].counts.updated == 1
    assert first["customers"]["out"].counts.updated == 1
    account = hub.account(numbers[0])
    assert account is not None
    assert account.name == "杭州同步科技有限公司"
    erp_customer = hub.erp.get("BD_Customer", numbers[1])
    assert erp_customer is not None
    assert erp_customer["FTEL"] == "+8613800138000"
    with open_session(hub.db.engine) as session:
        note = session.scalar(select(Order.description).where(Order.number == order["FBillNo"]))
    assert note == "请周五前发货"

    second = hub.sync_all()

    for name, sides in second.items():
        for side, summary in sides.items():
            assert writes(summary) == 0, (name, side, summary.counts)


def test_an_order_made_in_the_crm_reaches_the_erp_with_its_customer_and_lines(
    hub_factory: Any,
) -> None:
    hub: Hub = hub_factory(customers=5, orders=2, materials=3)
    hub.sync_all()
    number = hub.erp.numbers("BD_Customer")[2]
    account = hub.account(number)
    assert account is not None
    with open_session(hub.db.engine, origin="crm") as session:
        product_ids = list(session.scalars(select(Product.id).order_by(Product.sku)))
        order = Order(
            number="CRM-SO-0001",
            account_id=account.id,
            currency="CNY",
            total_amount=Decimal("339.00"),
            tax_amount=Decimal("39.00"),
        )
        session.add(order)
        session.flush()
        session.add_all(
            [
                OrderLine(
                    order_id=order.id,
                    line_no=1,
                    product_id=product_ids[0],
                    quantity=Decimal(2),
                    unit_price=Decimal("113.00"),
                    tax_rate=Decimal("0.13"),
                    amount=Decimal("226.00"),
                ),
                OrderLine(
                    order_id=order.id,
                    line_no=2,
                    product_id=product_ids[1],
                    quantity=Decimal(1),
                    unit_price=Decimal("113.00"),
                    tax_rate=Decimal("0.13"),
                    amount=Decimal("113.00"),
                ),
            ]
        )

    first = hub.run("orders")

    assert first["out"].counts.created == 1
    sent = hub.erp.get("SAL_SaleOrder", "CRM-SO-0001")
    assert sent is not None
    assert sent["FCustId.FNumber"] == number
    assert [line["FQty"] for line in sent["FSaleOrderEntry"]] == [2, 1]
    assert sent["FSaleOrderEntry"][0]["FEntryTaxRate"] == 13
    again = hub.run("orders")
    assert writes(again["in"]) == 0
    assert writes(again["out"]) == 0


@pytest.mark.parametrize("rule", ["crm_wins", "source_wins", "newest_wins"])
def test_each_conflict_rule_does_what_it_says(hub_factory: Any, rule: str) -> None:
    hub: Hub = hub_factory(customers=6)
    hub.set_rule("customers", conflict=rule)
    hub.run("customers")
    number = hub.erp.numbers("BD_Customer")[3]
    # The CRM changes the name first, the ERP later: newest_wins takes the ERP's.
    _edit_crm(hub, number, name="CRM 的名字")
    hub.erp.edit("BD_Customer", number, FName="ERP 的名字")

    result = hub.run("customers")

    expected = "CRM 的名字" if rule == "crm_wins" else "ERP 的名字"
    assert result["in"].counts.conflicts == 1
    account = hub.account(number)
    erp_customer = hub.erp.get("BD_Customer", number)
    assert account is not None
    assert erp_customer is not None
    assert account.name == expected
    assert erp_customer["FName"] == expected
    decided = list_conflicts(hub.db.engine, status="resolved")
    assert [(c.field, c.rule) for c in decided] == [("name", rule)]
    again = hub.run("customers")
    assert writes(again["in"]) == 0
    assert writes(again["out"]) == 0


def test_newest_wins_keeps_a_later_crm_edit(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=4)
    hub.set_rule("customers", conflict="newest_wins")
    hub.run("customers")
    number = hub.erp.numbers("BD_Customer")[1]
    hub.erp.edit("BD_Customer", number, FName="ERP 先改")
    _edit_crm(hub, number, name="CRM 后改")

    hub.run("customers")

    account = hub.account(number)
    erp_customer = hub.erp.get("BD_Customer", number)
    assert account is not None
    assert erp_customer is not None
    assert account.name == erp_customer["FName"] == "CRM 后改"


@pytest.mark.parametrize("take", ["crm", "source"])
def test_manual_conflicts_wait_for_a_person_and_then_apply(hub_factory: Any, take: str) -> None:
    hub: Hub = hub_factory(customers=4)
    hub.set_rule("customers", conflict="manual")
    hub.run("customers")
    number = hub.erp.numbers("BD_Customer")[2]
    _edit_crm(hub, number, name="CRM 版本")
    hub.erp.edit("BD_Customer", number, FName="ERP 版本")

    hub.run("customers")
    hub.run("customers")  # a second run neither re-opens nor applies it

    waiting = list_conflicts(hub.db.engine)
    assert [(c.field, c.crm_value, c.source_value) for c in waiting] == [
        ("name", "CRM 版本", "ERP 版本")
    ]
    account = hub.account(number)
    erp_customer = hub.erp.get("BD_Customer", number)
    assert account is not None
    assert erp_customer is not None
    assert (account.name, erp_customer["FName"]) == ("CRM 版本", "ERP 版本")

    resolve_conflict(hub.db.engine, waiting[0].id, take)
    with pytest.raises(InvalidInput, match="already"):
        resolve_conflict(hub.db.engine, waiting[0].id, take)
    hub.run("customers")

    expected = "CRM 版本" if take == "crm" else "ERP 版本"
    account = hub.account(number)
    erp_customer = hub.erp.get("BD_Customer", number)
    assert account is not None
    assert erp_customer is not None
    assert (account.name, erp_customer["FName"]) == (expected, expected)
    assert list_conflicts(hub.db.engine) == []
    again = hub.run("customers")
    assert writes(again["in"]) == 0
    assert writes(again["out"]) == 0


def test_faults_during_a_run_lose_nothing(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=1200)
    hub.set_connector("customers", timeout=1.5)
    faults = hub.erp.faults
    faults.throttle(2, retry_after=0)
    faults.unavailable(2, retry_after=1)
    faults.expire_sessions()

    def midway(_side: str, counts: Any) -> None:
        if counts.read == 500:
            faults.expire_sessions()
            faults.slow(1, seconds=3)  # past the client's timeout: it gives up and retries
            faults.malformed(1)

    result = hub.run("customers", "in", batch_size=250, progress=midway)

    assert result["in"].counts.created == 1200
    assert hub.count(Account) == 1200


def test_a_record_the_erp_rejects_waits_in_quarantine_until_replayed(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=3)
    hub.run("customers")
    with open_session(hub.db.engine, origin="crm") as session:
        good = records.create(session, Account, {"name": "宁波新客户有限公司"})
        bad = records.create(session, Account, {"name": "温州被拒客户有限公司"})
    hub.erp.faults.reject("BD_Customer", names=["温州被拒客户有限公司"], message="客户分组不能为空")

    result = hub.run("customers", "out")

    assert result["out"].counts.created == 1
    assert result["out"].counts.quarantined == 1
    assert result["out"].status == "partial"
    with open_session(hub.db.engine) as session:
        entry = session.scalars(select(Quarantine)).one()
    assert entry.record_key == str(bad.id)
    assert "客户分组不能为空" in entry.reason
    assert hub.number_of(good.id) is not None

    hub.erp.faults.clear()
    outcome = replay(hub.db.engine)

    assert (outcome.delivered, outcome.still_quarantined) == (1, 0)
    number = hub.number_of(bad.id)
    assert number is not None
    erp_customer = hub.erp.get("BD_Customer", number)
    assert erp_customer is not None
    assert erp_customer["FName"] == "温州被拒客户有限公司"


def test_records_sharing_one_modification_time_across_pages_all_arrive(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=1000)
    numbers = hub.erp.numbers("BD_Customer")
    hub.erp.set_modify_date("BD_Customer", numbers, "2026-11-25T09:00:00")

    result = hub.run("customers", "in", batch_size=100)

    assert result["in"].counts.read == 1000
    assert hub.count(Account) == 1000


def test_records_modified_while_a_read_is_under_way_are_not_lost(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=600)
    numbers = hub.erp.numbers("BD_Customer")
    edited: list[str] = []

    def meanwhile(_side: str, counts: Any) -> None:
        if counts.read == 100:  # one read already, one not yet
            hub.erp.edit("BD_Customer", numbers[0], FName="读的时候改了")
            hub.erp.edit("BD_Customer", numbers[-1], FName="还没读到就改了")
            edited.extend([numbers[0], numbers[-1]])

    hub.run("customers", "in", batch_size=100, progress=meanwhile)
    hub.run("customers", "in", batch_size=100)

    assert hub.count(Account) == 600
    first, last = (hub.account(number) for number in edited)
    assert first is not None
    assert last is not None
    assert (first.name, last.name) == ("读的时候改了", "还没读到就改了")


def test_a_broken_mapping_names_file_line_and_field_and_writes_nothing(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=5)
    path = hub.folder / "mappings" / "customer.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("crm: name\n", "crm: nmae\n", 1), encoding="utf-8")
    line = text[: text.index("crm: name\n")].count("\n") + 1

    with pytest.raises(InvalidInput) as failure:
        hub.run("customers")

    message = str(failure.value)
    assert "customer.yaml" in message
    assert f"line {line}" in message
    assert "nmae" in message
    assert hub.count(Account, live=False) == 0
    with open_session(hub.db.engine) as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0


@pytest.mark.parametrize(
    ("policy", "expected"), [("propagate", None), ("archive", "archived"), ("ignore", "kept")]
)
def test_deletes_in_the_erp_follow_the_delete_policy(
    hub_factory: Any, policy: str, expected: str | None
) -> None:
    hub: Hub = hub_factory(customers=3)
    hub.set_rule("customers", deletes=policy)
    hub.run("customers")
    number = hub.erp.numbers("BD_Customer")[0]
    account = hub.account(number)
    assert account is not None
    hub.erp.delete_direct("BD_Customer", number)

    incremental = hub.run("customers", "in")
    full = hub.run("customers", "in", full=True)

    assert incremental["in"].counts.deleted == 0  # an incremental read cannot see deletes
    assert full["in"].counts.deleted == 1
    with open_session(hub.db.engine) as session:
        kept = session.get(Account, account.id)
        links = session.scalar(select(func.count()).select_from(Xref))
    state = None if kept is None else ("archived" if kept.deleted_at else "kept")
    assert state == expected
    assert links == 2
    again = hub.run("customers")
    assert writes(again["in"]) == 0
    assert writes(again["out"]) == 0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("propagate", "gone"), ("archive", "B"), ("ignore", "A")],
)
def test_deletes_in_the_crm_follow_the_delete_policy(
    hub_factory: Any, policy: str, expected: str
) -> None:
    hub: Hub = hub_factory(customers=3)
    hub.set_rule("customers", deletes=policy)
    hub.run("customers")
    number = hub.erp.numbers("BD_Customer")[1]
    account = hub.account(number)
    assert account is not None
    with open_session(hub.db.engine, origin="crm") as session:
        records.soft_delete(session, Account, account.id, expected_version=account.version)

    result = hub.run("customers", "out")

    erp_customer = hub.erp.get("BD_Customer", number)
    state = "gone" if erp_customer is None else erp_customer["FForbidStatus"]
    assert state == expected
    assert result["out"].counts.deleted == (0 if policy == "ignore" else 1)
    again = hub.run("customers")
    assert writes(again["out"]) == 0
    with open_session(hub.db.engine) as session:
        assert session.scalar(select(func.count()).select_from(Conflict)) == 0


def test_a_full_read_does_not_take_a_quarantined_record_for_a_deleted_one(
    hub_factory: Any,
) -> None:
    hub: Hub = hub_factory(customers=3)
    hub.set_rule("customers", deletes="propagate")
    hub.run("customers")
    number = hub.erp.numbers("BD_Customer")[0]
    hub.erp.edit("BD_Customer", number, FTAXREGISTERCODE="9" * 40)  # longer than a credit code

    result = hub.run("customers", "in", full=True)

    assert result["in"].counts.quarantined == 1
    assert result["in"].counts.deleted == 0
    assert hub.account(number) is not None


def test_a_record_the_crm_checks_refuse_goes_to_quarantine_and_the_rest_of_its_page_lands(
    hub_factory: Any,
) -> None:
    hub: Hub = hub_factory(customers=6)
    numbers = hub.erp.numbers("BD_Customer")
    code = hub.erp.get("BD_Customer", numbers[1])
    assert code is not None
    # Two customers of the ERP with one credit code: the CRM keeps credit codes unique.
    hub.erp.edit("BD_Customer", numbers[4], FTAXREGISTERCODE=code["FTAXREGISTERCODE"])

    result = hub.run("customers", "in")

    assert result["in"].counts.created == 5
    assert result["in"].counts.quarantined == 1
    assert hub.count(Account) == 5
    with open_session(hub.db.engine) as session:
        entry = session.scalars(select(Quarantine)).one()
    assert entry.record_key in {numbers[1], numbers[4]}
    assert "credit_code" in entry.reason


def test_a_pipeline_runs_once_at_a_time_and_a_dead_run_does_not_block_it(
    hub_factory: Any,
) -> None:
    hub: Hub = hub_factory(customers=3)
    other = subprocess.Popen(["sleep", "60"])
    try:
        with open_session(hub.db.engine, origin="crm") as session:
            save_cursor(
                session,
                "kingdee-customers",
                "lock",
                {"host": socket.gethostname(), "pid": other.pid, "since": "2026-11-25T09:00:00"},
            )
        with pytest.raises(PipelineBusy, match=f"already running \\(process {other.pid}"):
            hub.run("customers")
        assert hub.count(Account) == 0
    finally:
        other.kill()
        other.wait()

    result = hub.run("customers")  # the holder is gone: its lease is taken over

    assert result["in"].counts.created == 3
    with open_session(hub.db.engine) as session:
        assert session.scalar(select(func.count()).select_from(SyncState)) == 2  # cursors only


def test_a_full_read_missing_most_records_deletes_nothing_until_told(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=30)
    hub.run("customers")
    for number in hub.erp.numbers("BD_Customer")[:20]:
        hub.erp.delete_direct("BD_Customer", number)

    with pytest.raises(InvalidInput, match="found 20 of 30 linked records gone"):
        hub.run("customers", "in", full=True)

    assert hub.count(Account) == 30
    with open_session(hub.db.engine) as session:
        last = session.scalars(select(SyncRun).order_by(SyncRun.started_at.desc())).first()
    assert last is not None
    assert last.status == "failed"
    path = hub.folder / "pipelines" / "kingdee-customers.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "max_delete_fraction: 1.0\n", "utf-8")

    result = hub.run("customers", "in", full=True)

    assert result["in"].counts.deleted == 20
    assert hub.count(Account) == 10  # archived: soft-deleted, as the mapping says


def test_runs_are_found_by_the_start_or_the_end_of_their_id(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=2)
    run_id = hub.run("customers", "in")["in"].run_id
    assert run_id is not None

    assert find_run(hub.db.engine, run_id.hex[-8:]).id == run_id
    assert find_run(hub.db.engine, str(run_id)).id == run_id
    with pytest.raises(NotFound):
        find_run(hub.db.engine, "ffffeeee")
    with pytest.raises(InvalidInput, match="hex digits"):
        find_run(hub.db.engine, "xyz%")
