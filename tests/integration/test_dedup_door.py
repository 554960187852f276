"""Matching at the door (SQLite and PostgreSQL): arriving records are compared with the stored
ones through the indexed blocking keys; a sync links a sure match instead of creating a
duplicate and flags the grey zone for review; `tongbu dedup run` plans merges in the core."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from crm_core import records
from crm_core.db import open_session
from crm_core.dedup import credit_code_check_char, entity_spec
from crm_core.dedup._core import apply_core_dedup, plan_core_dedup
from crm_core.dedup._door import Matcher, rebuild_match_keys, refresh_match_keys
from crm_core.dedup._merge import apply_merge, plan_merge
from crm_core.models import Account, MatchKey, MatchReview, table_of
from tests.conftest import Database
from tests.integration.sync_harness import Hub, writes

HUAXIN = "91330106MA2CF3K2X"
HUAXIN += credit_code_check_char(HUAXIN)


def add_account(db: Database, **values: Any) -> Any:
    with open_session(db.engine, origin="crm") as session:
        account = records.create(session, Account, values)
        return account.id


def keys_of(db: Database, record_id: Any) -> int:
    with open_session(db.engine) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(MatchKey).where(MatchKey.record_id == record_id)
            )
            or 0
        )


def test_match_keys_follow_every_write_even_from_outside_the_hub(db: Database) -> None:
    first = add_account(db, name="杭州华信电子科技有限公司", phone="0571-88886666")
    assert refresh_match_keys(db.engine) == 1
    assert keys_of(db, first) >= 3  # credit code absent: name, sound, head, tail, phone...

    with db.engine.begin() as connection:
        connection.execute(update(table_of(Account)).values(deleted_at=func.now()))
    refresh_match_keys(db.engine)
    assert keys_of(db, first) == 0

    second = add_account(db, name="宁波海天塑机有限公司")
    assert rebuild_match_keys(db.engine) == 2  # both read; the deleted one gets no keys
    assert keys_of(db, first) == 0
    assert keys_of(db, second) > 0


def test_a_sure_match_links_a_lookalike_stays_new_and_the_grey_zone_is_flagged(
    db: Database,
) -> None:
    existing = add_account(
        db,
        name="杭州华信电子科技有限公司",
        credit_code=HUAXIN,
        phone="0571-88886666",
        email="sales@huaxin-tech.cn",
        city="杭州",
    )
    add_account(db, name="宁波海天塑机有限公司", phone="0574-86181234", city="宁波")
    refresh_match_keys(db.engine)
    with open_session(db.engine) as session:
        matcher = Matcher.for_entity(session, "accounts")
        same, other_city, resembling, unrelated = matcher.match(
            session,
            [
                {"name": "华信电子科技(杭州)有限责任公司", "phone": "+86 571 8888 6666"},
                {"name": "苏州华信电子科技有限公司", "phone": "0512-66668888"},
                {"name": "杭州華信電子科技有限公司"},
                {"name": "上海浦江物流有限公司", "phone": "021-55556666"},
            ],
        )
    assert (same.decision, same.record_id) == ("link", existing)
    assert same.probability >= 0.9
    assert other_city.decision == "new"
    assert resembling.decision in {"link", "review"}
    assert resembling.record_id == existing
    assert unrelated.decision == "new"
    assert {name: level for name, level, _weight in same.evidence}["phone"] == "same phone"


def test_a_sync_links_an_erp_customer_to_the_account_already_in_the_crm(
    hub_factory: Any, db: Database
) -> None:
    hub: Hub = hub_factory(customers=3)
    erp = hub.erp.all("BD_Customer")[0]
    existing = add_account(
        db,
        name=erp["FName"],
        credit_code=erp["FTAXREGISTERCODE"] or None,
        phone=erp.get("FTEL") or None,
    )

    hub.run("customers", "in")

    assert hub.count(Account) == 3
    linked = hub.account(erp["FNumber"])
    assert linked is not None
    assert linked.id == existing


def test_dedup_run_plans_merges_in_the_core_and_applies_them(db: Database) -> None:
    survivor = add_account(
        db, name="杭州华信电子科技有限公司", credit_code=HUAXIN, phone="0571-88886666"
    )
    duplicate = add_account(db, name="华信电子科技(杭州)有限公司", phone="+86 571 8888 6666")
    add_account(db, name="苏州华信电子科技有限公司", phone="0512-66668888")

    planned = plan_core_dedup(db.engine, entity_spec("account"))
    assert [set(plan.record_ids) for plan, _chance in planned.plans] == [{survivor, duplicate}]
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(MatchReview)) == 0

    done, failed = apply_core_dedup(db.engine, planned)
    assert (len(done), failed) == (1, [])
    with open_session(db.engine) as session:
        merged = session.get(Account, duplicate)
        assert merged is not None
        assert merged.merged_into_id in {survivor, duplicate} or merged.deleted_at is None
        live = session.scalar(
            select(func.count()).select_from(Account).where(Account.deleted_at.is_(None))
        )
    assert live == 2
    again = plan_core_dedup(db.engine, entity_spec("account"))
    assert again.plans == []


def test_a_merge_in_the_crm_deactivates_the_duplicate_in_the_erp_once(hub_factory: Any) -> None:
    hub: Hub = hub_factory(customers=3)
    first, second, _third = hub.erp.numbers("BD_Customer")
    hub.erp.edit("BD_Customer", second, FTAXREGISTERCODE="")  # a duplicate entered without it
    hub.run("customers")
    kept, merged = hub.account(first), hub.account(second)
    assert kept is not None
    assert merged is not None
    with open_session(hub.db.engine, origin="crm") as session:
        plan = plan_merge(session, "account", [kept.id, merged.id], survivor_id=kept.id)
        apply_merge(session, plan)

    result = hub.run("customers")

    assert result["out"].counts.deleted == 1
    duplicate = hub.erp.get("BD_Customer", second)
    survivor = hub.erp.get("BD_Customer", first)
    assert duplicate is not None
    assert survivor is not None
    assert (duplicate["FForbidStatus"], survivor["FForbidStatus"]) == ("B", "A")
    linked = hub.account(second)
    assert linked is not None
    assert linked.id == kept.id  # orders of the old ERP customer still find the survivor
    again = hub.run("customers")
    assert writes(again["in"]) == 0
    assert writes(again["out"]) == 0
    still = hub.account(first)
    assert still is not None
    assert still.custom.get("erp_status") != "forbidden"


def test_dedup_run_links_a_branch_to_its_head_office_and_never_merges_them(db: Database) -> None:
    head = add_account(db, name="杭州华信电子科技有限公司", credit_code=HUAXIN, city="杭州")
    branch_code = "91330108MA2CF3K3Y"
    branch = add_account(
        db,
        name="杭州华信电子科技有限公司滨江分公司",
        credit_code=branch_code + credit_code_check_char(branch_code),
        city="杭州",
    )

    planned = plan_core_dedup(db.engine, entity_spec("account"))
    assert planned.plans == []
    assert planned.branches == [(branch, head)]
    apply_core_dedup(db.engine, planned)

    with open_session(db.engine) as session:
        linked = session.get(Account, branch)
        assert linked is not None
        assert linked.parent_id == head
    assert plan_core_dedup(db.engine, entity_spec("account")).branches == []
