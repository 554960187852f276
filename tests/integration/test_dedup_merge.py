"""Merging duplicate records in the core, and undoing a merge exactly (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select, update

from crm_core import records
from crm_core._credit_code import credit_code_check_char
from crm_core.db import open_session
from crm_core.dedup._merge import (
    MergeConflict,
    MergePlan,
    MergeRefused,
    UndoRefused,
    add_cannot_link,
    apply_merge,
    cannot_links,
    plan_merge,
    resolve_record,
    undo_merge,
)
from crm_core.dedup._survivorship import Rule, default_rules
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    Account,
    AccountContact,
    Activity,
    ActivityType,
    Base,
    Campaign,
    CampaignMember,
    ChangeLog,
    Contact,
    ContactRole,
    Document,
    Entity,
    Lead,
    MergeHistory,
    Opportunity,
    Order,
    Task,
    Xref,
    table_of,
)
from tests.conftest import Database

ACTOR = UUID("0190c0de-0000-7000-8000-00000000abcd")
VALID_CODE = "91330106MA2" + "B3C4D5"
VALID_CODE += credit_code_check_char(VALID_CODE)
OTHER_CODE = "91330100MA2" + "XY0001"
OTHER_CODE += credit_code_check_char(OTHER_CODE)
INVALID_CODE = OTHER_CODE[:-1] + ("0" if OTHER_CODE[-1] != "0" else "1")
BOOKKEEPING = {"version", "updated_at", "updated_by"}
NOT_DUMPED = {"change_log", "merge_history", "cannot_link"}


def dump(db: Database) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of every table (but the logs), bookkeeping columns left out."""
    tables = [t for t in Base.metadata.sorted_tables if t.name not in NOT_DUMPED]
    with db.engine.connect() as connection:
        return {
            table.name: {
                row["id"]: {k: v for k, v in row.items() if k not in BOOKKEEPING}
                for row in connection.execute(select(table)).mappings()
            }
            for table in tables
        }


def create(db: Database, model: type[Entity], **values: Any) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        return records.create(session, model, values).id


def set_times(db: Database, record_id: UUID, *, updated: datetime, created: datetime) -> None:
    """Pretend the account was created and last edited at these times."""
    accounts = table_of(Account)
    with open_session(db.engine, origin="crm") as session:
        session.execute(
            update(accounts)
            .where(accounts.c.id == record_id)
            .values(updated_at=updated, created_at=created)
        )


def link(db: Database, system: str, external_id: str, entity: str, record_id: UUID) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        xref = Xref(
            system=system,
            external_entity="BD_Customer" if entity == "accounts" else "contact",
            external_id=external_id,
            entity=entity,
            record_id=record_id,
            hash_in="h-" + external_id,
        )
        session.add(xref)
        session.flush()
        return xref.id


def get(db: Database, model: type[Entity], record_id: UUID) -> Any:
    with open_session(db.engine) as session:
        return records.get(session, model, record_id, include_deleted=True)


def plan(db: Database, entity: str, ids: list[UUID], **options: Any) -> MergePlan:
    with open_session(db.engine) as session:
        return plan_merge(session, entity, ids, **options)


def merge(db: Database, entity: str, ids: list[UUID], **options: Any) -> MergeHistory:
    with open_session(db.engine, origin="crm", actor_id=ACTOR) as session:
        planned = plan_merge(session, entity, ids, **options)
        return apply_merge(session, planned, reason={"test": True}, actor_id=ACTOR)


def undo(db: Database, merge_id: UUID) -> MergeHistory:
    with open_session(db.engine, origin="crm", actor_id=ACTOR) as session:
        return undo_merge(session, merge_id, ACTOR)


@dataclass(frozen=True)
class World:
    """Three records of one company (a, b, c), and what hangs off them."""

    a: UUID
    b: UUID
    c: UUID
    branch: UUID
    shared_contact: UUID
    b_contact: UUID
    c_contact: UUID
    opportunity: UUID
    order_a: UUID
    order_c: UUID
    activity_b: UUID
    activity_c: UUID
    task_c: UUID
    document_a: UUID
    lead_c: UUID
    link_a: UUID
    link_b: UUID


def world(db: Database) -> World:
    """Account b has the most references; a holds the valid credit code; c is the most
    complete in places and has an invalid code."""
    day = datetime(2025, 1, 1, tzinfo=UTC)
    a = create(
        db,
        Account,
        name="华信电子",
        credit_code=VALID_CODE,
        email="old@huaxin.cn",
        description="short",
        custom={"tier": "B", "legacy_id": 7},
    )
    b = create(
        db,
        Account,
        name="杭州华信电子科技有限公司",
        phone="0571-88888888",
        email="new@huaxin.cn",
        custom={"tier": "A", "region": "east"},
    )
    c = create(
        db,
        Account,
        name="华信电子",
        city="杭州",
        credit_code=INVALID_CODE,
        phone="0571-11111111",
        description="a much longer description",
    )
    set_times(db, a, created=day, updated=day)
    set_times(db, b, created=day + timedelta(days=1), updated=day + timedelta(days=300))
    set_times(db, c, created=day + timedelta(days=2), updated=day + timedelta(days=150))
    shared = create(db, Contact, first_name="伟", last_name="张", mobile="13800138000")
    b_contact = create(db, Contact, first_name="芳", last_name="李")
    c_contact = create(db, Contact, first_name="强", last_name="王")
    create(db, AccountContact, account_id=a, contact_id=shared, role=ContactRole.OTHER)
    create(
        db,
        AccountContact,
        account_id=b,
        contact_id=shared,
        role=ContactRole.DECISION_MAKER,
        is_primary=True,
    )
    create(db, AccountContact, account_id=b, contact_id=b_contact)
    create(db, AccountContact, account_id=c, contact_id=c_contact, role=ContactRole.FINANCE)
    now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    return World(
        a=a,
        b=b,
        c=c,
        branch=create(db, Account, name="华信电子苏州分公司", parent_id=a),
        shared_contact=shared,
        b_contact=b_contact,
        c_contact=c_contact,
        opportunity=create(
            db, Opportunity, name="ERP升级", account_id=b, contact_id=b_contact, amount=Decimal(1)
        ),
        order_a=create(db, Order, number="SO-A", account_id=a, total_amount=Decimal("10.50")),
        order_c=create(db, Order, number="SO-C", account_id=c, contact_id=c_contact),
        activity_b=create(
            db,
            Activity,
            type=ActivityType.CALL,
            subject="回访",
            occurred_at=now,
            related_type="accounts",
            related_id=b,
            account_id=b,
        ),
        activity_c=create(
            db,
            Activity,
            type=ActivityType.MEETING,
            subject="拜访",
            occurred_at=now,
            related_type="accounts",
            related_id=c,
            account_id=c,
        ),
        task_c=create(db, Task, title="寄合同", related_type="accounts", related_id=c),
        document_a=create(
            db, Document, name="营业执照.pdf", uri="s3://x/1", related_type="accounts", related_id=a
        ),
        lead_c=create(db, Lead, name="王强", company="华信", converted_account_id=c),
        link_a=link(db, "kingdee", "CUST-A", "accounts", a),
        link_b=link(db, "kingdee", "CUST-B", "accounts", b),
    )


def test_the_plan_chooses_the_survivor_and_each_value_and_writes_nothing(db: Database) -> None:
    w = world(db)
    before = dump(db)

    planned = plan(db, "account", [w.a, w.b, w.c])

    assert planned.survivor_id == w.b  # the most references
    assert planned.loser_ids == (w.a, w.c)
    fields = planned.fields
    assert (fields["name"].value, fields["name"].rule) == ("华信电子", Rule.MOST_COMPLETE)
    assert fields["name"].source_id == w.c  # two agree; c is the more recent of them
    assert (fields["phone"].value, fields["phone"].source_id) == ("0571-88888888", w.b)
    assert (fields["phone"].rule, fields["status"].rule) == (Rule.MOST_RECENT, Rule.SURVIVOR)
    assert (fields["email"].value, fields["city"].value) == ("new@huaxin.cn", "杭州")
    assert fields["description"].value == "a much longer description"
    assert (fields["credit_code"].value, fields["credit_code"].source_id) == (VALID_CODE, w.a)
    assert fields["custom.tier"].value == "A"
    assert planned.survivor_changes["custom"] == {"tier": "A", "region": "east", "legacy_id": 7}
    assert "phone" not in planned.survivor_changes
    assert planned.cleared == {w.a: ("credit_code",)}
    moved = {(r.table, r.column): (r.moved, r.removed) for r in planned.references}
    assert moved[("account_contacts", "account_id")] == (1, 1)
    assert moved[("orders", "account_id")] == (2, 0)
    assert moved[("accounts", "parent_id")] == (1, 0)
    assert moved[("xref", "record_id")] == (1, 0)
    assert dump(db) == before


def test_a_merge_moves_everything_to_the_survivor(db: Database) -> None:
    w = world(db)
    last_change = _last_change_id(db)

    history = merge(db, "account", [w.a, w.b, w.c])

    survivor = get(db, Account, w.b)
    assert (survivor.name, survivor.phone, survivor.email) == (
        "华信电子",
        "0571-88888888",
        "new@huaxin.cn",
    )
    assert (survivor.city, survivor.credit_code, survivor.description) == (
        "杭州",
        VALID_CODE,
        "a much longer description",
    )
    assert survivor.custom == {"tier": "A", "region": "east", "legacy_id": 7}
    for loser in (w.a, w.c):
        record = get(db, Account, loser)
        assert (record.merged_into_id, record.is_deleted) == (w.b, True)
        with open_session(db.engine) as session:
            assert resolve_record(session, "account", loser) == w.b
    assert get(db, Account, w.a).credit_code is None  # moved to the survivor
    assert get(db, Account, w.c).credit_code == INVALID_CODE

    with open_session(db.engine) as session:
        memberships = session.execute(
            select(AccountContact.account_id, AccountContact.contact_id, AccountContact.deleted_at)
        ).all()
        live = {(acc, con) for acc, con, gone in memberships if gone is None}
        assert live == {(w.b, w.shared_contact), (w.b, w.b_contact), (w.b, w.c_contact)}
        assert {(acc, con) for acc, con, gone in memberships if gone is not None} == {
            (w.a, w.shared_contact)  # the duplicate: removed, kept with the merged record
        }
        assert get(db, AccountContact, _membership(session, w.b, w.shared_contact)).is_primary
        assert {o.account_id for o in session.scalars(select(Order))} == {w.b}
        assert get(db, Account, w.branch).parent_id == w.b
        assert get(db, Activity, w.activity_c).account_id == w.b
        assert get(db, Activity, w.activity_c).related_id == w.b
        assert get(db, Task, w.task_c).related_id == w.b
        assert get(db, Document, w.document_a).related_id == w.b
        assert get(db, Lead, w.lead_c).converted_account_id == w.b
        links = {x.external_id: x for x in session.scalars(select(Xref))}
        assert (links["CUST-A"].record_id, links["CUST-A"].merged_from_id) == (w.b, w.a)
        assert (links["CUST-B"].record_id, links["CUST-B"].merged_from_id) == (w.b, None)

        stored = session.get(MergeHistory, history.id)
        assert stored is not None
        assert (stored.survivor_id, stored.merged_ids) == (w.b, [str(w.a), str(w.c)])
        assert (stored.merged_by, stored.reason) == (ACTOR, {"test": True})
        assert set(stored.before_images["accounts"]) == {
            str(w.a),
            str(w.b),
            str(w.c),
            str(w.branch),
        }
        assert stored.before_images["accounts"][str(w.a)]["credit_code"] == VALID_CODE
        assert stored.survivorship is not None
        assert stored.survivorship["name"]["source"] == str(w.c)

        logged = session.execute(
            select(
                ChangeLog.entity, ChangeLog.record_id, ChangeLog.origin, ChangeLog.actor_id
            ).where(ChangeLog.id > last_change)
        ).all()
    assert {origin for _, _, origin, _ in logged} == {"crm"}
    assert {actor for _, _, _, actor in logged} == {ACTOR}
    touched = {(entity, record_id) for entity, record_id, _, _ in logged}
    assert {("accounts", w.a), ("accounts", w.b), ("accounts", w.c)} <= touched
    assert {("orders", w.order_a), ("orders", w.order_c), ("leads", w.lead_c)} <= touched


def test_undo_restores_every_row_exactly_and_keeps_the_records_apart(db: Database) -> None:
    w = world(db)
    before = dump(db)
    history = merge(db, "account", [w.a, w.b, w.c])
    assert dump(db) != before

    undone = undo(db, history.id)

    assert dump(db) == before
    assert (undone.undone_by, undone.undone_at is not None) == (ACTOR, True)
    with open_session(db.engine) as session:
        assert cannot_links(session, "account") == {
            tuple(sorted((w.a, w.b))),
            tuple(sorted((w.b, w.c))),
        }
        assert resolve_record(session, "accounts", w.a) == w.a
    with pytest.raises(MergeRefused, match="un-merged before"):
        plan(db, "account", [w.a, w.b])
    with pytest.raises(UndoRefused, match="already undone"):
        undo(db, history.id)


def test_undo_keeps_a_later_edit_the_merge_did_not_touch(db: Database) -> None:
    w = world(db)
    history = merge(db, "account", [w.a, w.b, w.c])
    survivor = get(db, Account, w.b)
    with open_session(db.engine, origin="crm") as session:
        records.update(
            session, Account, w.b, {"website": "huaxin.cn"}, expected_version=survivor.version
        )

    undo(db, history.id)

    restored = get(db, Account, w.b)
    assert (restored.website, restored.name) == ("huaxin.cn", "杭州华信电子科技有限公司")


def test_undo_refuses_to_overwrite_a_later_edit_of_the_survivor(db: Database) -> None:
    w = world(db)
    history = merge(db, "account", [w.a, w.b, w.c])
    survivor = get(db, Account, w.b)
    with open_session(db.engine, origin="crm") as session:
        records.update(session, Account, w.b, {"name": "华信"}, expected_version=survivor.version)
    after_edit = dump(db)

    with pytest.raises(UndoRefused, match=rf"account {w.b} was changed after merge .*its name"):
        undo(db, history.id)

    assert dump(db) == after_edit
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(table_of(MergeHistory))) == 1
        assert cannot_links(session, "accounts") == set()


def test_undo_refuses_when_a_moved_row_was_moved_again(db: Database) -> None:
    w = world(db)
    history = merge(db, "account", [w.a, w.b, w.c])
    other = create(db, Account, name="另一家公司")
    order = get(db, Order, w.order_c)
    with open_session(db.engine, origin="crm") as session:
        records.update(
            session, Order, w.order_c, {"account_id": other}, expected_version=order.version
        )

    with pytest.raises(UndoRefused, match=rf"order {w.order_c} was changed .*account_id"):
        undo(db, history.id)


def test_a_stale_plan_is_a_conflict_and_writes_nothing(db: Database) -> None:
    w = world(db)
    planned = plan(db, "account", [w.a, w.b, w.c])
    edited = get(db, Account, w.c)
    with open_session(db.engine, origin="crm") as session:
        records.update(session, Account, w.c, {"phone": "110"}, expected_version=edited.version)
    before = dump(db)
    last_change = _last_change_id(db)

    with (
        pytest.raises(MergeConflict, match=rf"account {w.c} was changed since .*plan the merge"),
        open_session(db.engine, origin="crm") as session,
    ):
        apply_merge(session, planned, reason=None, actor_id=ACTOR)

    assert dump(db) == before
    assert _last_change_id(db) == last_change
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(table_of(MergeHistory))) == 0


def test_a_branch_and_its_head_office_are_never_merged(db: Database) -> None:
    w = world(db)
    with pytest.raises(MergeRefused, match=rf"\({w.branch}\) is a branch of {w.a}"):
        plan(db, "account", [w.a, w.branch])
    office = create(db, Account, name="华信电子苏州分公司园区办事处", parent_id=w.branch)
    with pytest.raises(MergeRefused, match=rf"\({office}\) is a branch of {w.a}"):
        plan(db, "account", [office, w.a])


def test_two_valid_credit_codes_are_two_companies(db: Database) -> None:
    first = create(db, Account, name="华信电子", credit_code=VALID_CODE)
    second = create(db, Account, name="华信电子", credit_code=OTHER_CODE)
    with pytest.raises(MergeRefused, match=rf"\({first}\) and .* \({second}\) have two different"):
        plan(db, "account", [first, second])


def test_what_cannot_be_merged_is_refused_clearly(db: Database) -> None:
    w = world(db)
    with pytest.raises(InvalidInput, match="at least two different records"):
        plan(db, "account", [w.a, w.a])
    with pytest.raises(InvalidInput, match="'orders' records cannot be merged"):
        plan(db, "orders", [w.order_a, w.order_c])
    with pytest.raises(NotFound, match="no account with id"):
        plan(db, "account", [w.a, w.shared_contact])
    with pytest.raises(InvalidInput, match="is not one of the records"):
        plan(db, "account", [w.a, w.b], survivor_id=w.c)
    with pytest.raises(InvalidInput, match="no such field"):
        plan(
            db, "account", [w.a, w.b], rules=default_rules("accounts").overriding({"x": "survivor"})
        )
    merge(db, "account", [w.a, w.c], survivor_id=w.a)
    with pytest.raises(MergeRefused, match=rf"account {w.c} was already merged into {w.a}"):
        plan(db, "account", [w.b, w.c])
    with open_session(db.engine, origin="crm") as session:
        add_cannot_link(session, "account", w.b, w.a, "checked by hand")
    with pytest.raises(MergeRefused, match="a person said they are different"):
        plan(db, "account", [w.a, w.b])


def test_the_survivor_can_be_chosen_and_a_trusted_source_can_win(db: Database) -> None:
    w = world(db)
    rules = default_rules("accounts").overriding(
        {"phone": Rule.SOURCE_PRIORITY, "email": "survivor"}, source_priority=["kingdee", "crm"]
    )
    planned = plan(db, "account", [w.b, w.c], survivor_id=w.c, rules=rules)
    assert (planned.survivor_id, planned.survivor_given) == (w.c, True)
    assert planned.fields["phone"].value == "0571-88888888"  # b is linked to kingdee
    assert planned.fields["email"].value is None  # the survivor's, empty as it is
    crm_first = rules.overriding({}, source_priority=["crm", "kingdee"])
    assert plan(db, "account", [w.b, w.c], rules=crm_first).fields["phone"].value == (
        "0571-11111111"
    )


def test_the_survivor_by_default_ties_to_the_oldest(db: Database) -> None:
    older = create(db, Account, name="甲")
    newer = create(db, Account, name="甲公司")
    set_times(db, older, created=datetime(2020, 1, 1, tzinfo=UTC), updated=datetime.now(UTC))
    assert plan(db, "account", [newer, older]).survivor_id == older


def test_merges_of_merges_undo_in_reverse_order(db: Database) -> None:
    w = world(db)
    before = dump(db)
    first = merge(db, "account", [w.a, w.b], survivor_id=w.b)
    second = merge(db, "account", [w.b, w.c], survivor_id=w.b)

    with pytest.raises(UndoRefused, match=rf"merged again later \(merge {second.id}\)"):
        undo(db, first.id)

    undo(db, second.id)
    undo(db, first.id)
    assert dump(db) == before


def test_an_id_resolves_through_a_chain_of_merges(db: Database) -> None:
    w = world(db)
    head = create(db, Account, name="华信集团")
    first = merge(db, "account", [w.a, w.c], survivor_id=w.c)
    merge(db, "account", [w.c, head], survivor_id=head)
    with open_session(db.engine) as session:
        assert resolve_record(session, "account", w.a) == head
    with pytest.raises(UndoRefused, match="merged again later"):
        undo(db, first.id)


def test_contacts_merge_and_undo(db: Database) -> None:
    company = create(db, Account, name="华信电子")
    other = create(db, Account, name="恒达物流")
    keep = create(db, Contact, first_name="伟", last_name="张", mobile="13800138000")
    dup = create(db, Contact, first_name="伟", last_name="张", email="zhang.wei@huaxin.cn")
    create(db, AccountContact, account_id=company, contact_id=keep)
    create(db, AccountContact, account_id=company, contact_id=dup, role=ContactRole.FINANCE)
    create(db, AccountContact, account_id=other, contact_id=dup)
    deal = create(db, Opportunity, name="续约", account_id=company, contact_id=dup)
    campaign = create(db, Campaign, name="双十一")
    create(db, CampaignMember, campaign_id=campaign, member_type="contacts", member_id=dup)
    call = create(
        db,
        Activity,
        type=ActivityType.CALL,
        subject="电话",
        occurred_at=datetime.now(UTC),
        related_type="contacts",
        related_id=dup,
    )
    link(db, "wecom", "zhangwei", "contacts", dup)
    before = dump(db)

    history = merge(db, "contact", [keep, dup], survivor_id=keep)

    merged = get(db, Contact, keep)
    assert (merged.mobile, merged.email) == ("13800138000", "zhang.wei@huaxin.cn")
    assert get(db, Opportunity, deal).contact_id == keep
    assert get(db, Activity, call).related_id == keep
    with open_session(db.engine) as session:
        assert resolve_record(session, "contacts", dup) == keep
        assert session.scalars(select(CampaignMember.member_id)).all() == [keep]
        live = session.execute(
            select(AccountContact.account_id).where(
                AccountContact.contact_id == keep, AccountContact.deleted_at.is_(None)
            )
        ).scalars()
        assert sorted(live) == sorted([company, other])
        assert session.scalars(select(Xref.merged_from_id)).all() == [dup]

    undo(db, history.id)
    assert dump(db) == before
    with open_session(db.engine) as session:
        assert cannot_links(session, "contact") == {tuple(sorted((keep, dup)))}


def _last_change_id(db: Database) -> int:
    with open_session(db.engine) as session:
        return session.scalar(select(func.coalesce(func.max(ChangeLog.id), 0))) or 0


def _membership(session: Any, account: UUID, contact: UUID) -> UUID:
    found: UUID = session.scalar(
        select(AccountContact.id).where(
            AccountContact.account_id == account, AccountContact.contact_id == contact
        )
    )
    return found
