"""Lead conversion (SQLite and PostgreSQL): a lead becomes an account (new, given, or the one
the dedup matcher is sure of), a contact and an opportunity, keeping every activity and link,
in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import pytest
from sqlalchemy import func, select

from crm_core import records
from crm_core.db import open_session
from crm_core.dedup import credit_code_check_char
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
    Document,
    Entity,
    Lead,
    LeadStatus,
    MatchKey,
    Opportunity,
    OwnershipHistory,
    Pipeline,
    Stage,
    Task,
    User,
    Xref,
)
from crm_core.rules import conversion
from crm_core.rules.conversion import (
    AccountChoiceNeeded,
    Conversion,
    convert,
    split_person_name,
)
from tests.conftest import Database

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)

HUAXIN_CODE = "91330106MA2CF3K2X"
HUAXIN_CODE += credit_code_check_char(HUAXIN_CODE)

E = TypeVar("E", bound=Entity)


def add(db: Database, model: type[E], **values: Any) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        return records.create(session, model, values).id


def load(db: Database, model: type[E], record_id: UUID) -> E:
    with open_session(db.engine) as session:
        return records.get(session, model, record_id, include_deleted=True)


def count(db: Database, model: type[Base], *conditions: Any) -> int:
    with open_session(db.engine) as session:
        query = select(func.count()).select_from(model).where(*conditions)
        return int(session.scalar(query) or 0)


def new_lead(db: Database, **values: Any) -> UUID:
    return add(db, Lead, **{"name": "张伟", "company": "杭州华信电子科技有限公司", **values})


def add_pipelines(db: Database) -> tuple[UUID, UUID]:
    """A default pipeline and another; returns the default's first open stage and its id."""
    other = add(db, Pipeline, name="续约")
    add(db, Stage, pipeline_id=other, name="续约洽谈", position=0)
    default = add(db, Pipeline, name="新客户", is_default=True)
    add(db, Stage, pipeline_id=default, name="已流失", position=0, is_lost=True)
    first = add(db, Stage, pipeline_id=default, name="初步接洽", position=1, probability=10)
    add(db, Stage, pipeline_id=default, name="方案报价", position=2, probability=40)
    add(db, Stage, pipeline_id=default, name="赢单", position=9, probability=100, is_won=True)
    return default, first


def test_a_lead_becomes_a_new_account_contact_and_opportunity(db: Database) -> None:
    owner = add(db, User, name="销售一")
    pipeline, first_stage = add_pipelines(db)
    lead_id = new_lead(
        db,
        name="欧阳娜娜",
        company="华信电子",
        title="采购经理",
        phone="0571-88886666",
        mobile="13800138000",
        email="nana@huaxin-tech.cn",
        industry="制造业",
        company_size="200-999",
        city="杭州",
        province="浙江",
        country="CN",
        source="展会",
        owner_id=owner,
        status=LeadStatus.QUALIFIED,
        custom={"credit_code": HUAXIN_CODE.lower()},
    )

    done = convert(db.engine, lead_id, now=NOW, amount=Decimal("120000.50"))

    assert (done.account_created, done.matched_by, done.contact_created) == (True, None, True)
    account = load(db, Account, done.account_id)
    assert (account.name, account.credit_code, account.phone, account.email) == (
        "华信电子",
        HUAXIN_CODE,
        "0571-88886666",
        "nana@huaxin-tech.cn",
    )
    assert (account.industry, account.company_size, account.source) == ("制造业", "200-999", "展会")
    assert (account.city, account.province, account.country) == ("杭州", "浙江", "CN")
    assert (account.owner_id, account.owned_since) == (owner, NOW)

    contact = load(db, Contact, done.contact_id)
    assert (contact.last_name, contact.first_name, contact.display_name) == (
        "欧阳",
        "娜娜",
        "欧阳娜娜",
    )
    assert (contact.title, contact.phone, contact.mobile) == (
        "采购经理",
        "0571-88886666",
        "13800138000",
    )
    assert (contact.email, contact.owner_id) == ("nana@huaxin-tech.cn", owner)
    with open_session(db.engine) as session:
        link = session.scalars(
            select(AccountContact).where(AccountContact.contact_id == contact.id)
        ).one()
    assert (link.account_id, link.is_primary) == (account.id, True)

    assert done.opportunity_id is not None
    deal = load(db, Opportunity, done.opportunity_id)
    assert (deal.name, deal.account_id, deal.contact_id, deal.lead_id) == (
        "华信电子 – 欧阳娜娜",
        account.id,
        contact.id,
        lead_id,
    )
    assert (deal.pipeline_id, deal.stage_id) == (pipeline, first_stage)
    assert (deal.amount, deal.currency, deal.owner_id) == (Decimal("120000.50"), "CNY", owner)

    lead = load(db, Lead, lead_id)
    assert lead.status == LeadStatus.CONVERTED
    assert (lead.converted_at, lead.converted_account_id) == (NOW, account.id)
    assert (lead.converted_contact_id, lead.converted_opportunity_id) == (contact.id, deal.id)
    with open_session(db.engine) as session:
        [history] = session.scalars(select(OwnershipHistory)).all()
        keyed = set(session.scalars(select(MatchKey.record_id)))
    assert (history.entity, history.record_id, history.action) == ("leads", lead_id, "convert")
    assert (history.from_owner_id, history.to_owner_id) == (owner, owner)
    assert {account.id, contact.id} <= keyed  # matchable at the door at once


def test_without_pipelines_or_opportunity(db: Database) -> None:
    plain = new_lead(db, name="John Smith", company="Acme Trading Ltd")
    bare = new_lead(db, company="宁波海天塑机有限公司")

    done = convert(db.engine, plain, now=NOW, opportunity_name="  Acme pilot ", currency="usd")
    without = convert(db.engine, bare, now=NOW, opportunity=False)

    assert done.opportunity_id is not None
    deal = load(db, Opportunity, done.opportunity_id)
    assert (deal.name, deal.pipeline_id, deal.stage_id) == ("Acme pilot", None, None)
    assert (deal.amount, deal.currency) == (None, "USD")
    contact = load(db, Contact, done.contact_id)
    assert (contact.first_name, contact.last_name) == ("John", "Smith")
    assert without.opportunity_id is None
    assert load(db, Lead, bare).converted_opportunity_id is None


def test_a_lead_joins_the_account_holding_its_credit_code(db: Database) -> None:
    existing = add(db, Account, name="杭州华信电子科技有限公司", credit_code=HUAXIN_CODE)
    boss = add(db, Contact, last_name="王", first_name="芳")
    add(db, AccountContact, account_id=existing, contact_id=boss, is_primary=True)
    lead_id = new_lead(db, company="华信科技", custom={"credit_code": f" {HUAXIN_CODE} "})

    done = convert(db.engine, lead_id, now=NOW)

    assert (done.account_id, done.account_created, done.matched_by) == (
        existing,
        False,
        "credit code",
    )
    assert count(db, Account) == 1
    assert load(db, Account, existing).name == "杭州华信电子科技有限公司"  # left as it was
    with open_session(db.engine) as session:
        links = {
            link.contact_id: link.is_primary
            for link in session.scalars(
                select(AccountContact).where(AccountContact.account_id == existing)
            )
        }
    assert links == {boss: True, done.contact_id: False}


def test_a_lead_joins_the_account_the_matcher_is_sure_of_and_reuses_its_contact(
    db: Database,
) -> None:
    existing = add(db, Account, name="杭州华信电子科技有限公司", phone="0571-88886666", city="杭州")
    same_person = add(db, Contact, last_name="张", first_name="伟", email="Zhang.Wei@Huaxin.cn")
    add(db, AccountContact, account_id=existing, contact_id=same_person, is_primary=True)
    lead_id = new_lead(
        db,
        company="华信电子科技(杭州)有限公司",
        phone="+86 571 8888 6666",
        email="zhang.wei@huaxin.cn",
    )

    done = convert(db.engine, lead_id, now=NOW)

    assert (done.account_id, done.account_created) == (existing, False)
    assert done.matched_by is not None
    assert done.matched_by == "phone + name + contact + region"
    assert done.probability is not None
    assert done.probability >= 0.9
    assert (done.contact_id, done.contact_created) == (same_person, False)
    assert count(db, Contact) == 1
    assert count(db, AccountContact) == 1
    assert load(db, Opportunity, done.opportunity_id or existing).contact_id == same_person


def test_a_resemblance_is_not_linked_but_named(db: Database) -> None:
    existing = add(db, Account, name="杭州华信电子科技有限公司", phone="0571-88886666", city="杭州")
    boss = add(db, Contact, last_name="王", first_name="芳")
    add(db, AccountContact, account_id=existing, contact_id=boss)
    # The same name, but another phone and another person: maybe a second office, maybe not.
    lead_id = new_lead(db, name="李娜", company="杭州华信电子科技有限公司", phone="0571-12345678")

    with pytest.raises(AccountChoiceNeeded) as raised:
        convert(db.engine, lead_id, now=NOW)

    assert raised.value.candidate_id == existing
    assert 0.5 <= raised.value.probability < 0.9
    message = str(raised.value)
    assert str(existing) in message
    assert f"--account {existing})" in message
    assert "--new-account" in message
    assert load(db, Lead, lead_id).status == LeadStatus.NEW
    assert count(db, Account) == 1

    done = convert(db.engine, lead_id, now=NOW, new_account=True)

    assert (done.account_created, done.matched_by) == (True, None)
    assert count(db, Account) == 2


def test_an_account_given_is_used_as_it_is(db: Database) -> None:
    given = add(db, Account, name="上海浦江物流有限公司")
    lead_id = new_lead(db)

    done = convert(db.engine, lead_id, now=NOW, account_id=given)

    assert (done.account_id, done.account_created, done.matched_by) == (given, False, None)
    assert count(db, Account) == 1
    assert (
        load(db, Opportunity, done.opportunity_id or given).name
        == "杭州华信电子科技有限公司 – 张伟"
    )


def test_conversion_keeps_every_activity_and_link(db: Database) -> None:
    lead_id = new_lead(db)
    activities = [
        add(
            db,
            Activity,
            type=kind,
            subject=kind.value,
            occurred_at=NOW - timedelta(days=days),
            related_type="leads",
            related_id=lead_id,
        )
        for kind, days in (
            (ActivityType.CALL, 1),
            (ActivityType.MEETING, 3),
            (ActivityType.NOTE, 9),
        )
    ]
    tasks = [
        add(db, Task, title=title, related_type="leads", related_id=lead_id)
        for title in ("回访", "发报价")
    ]
    document = add(
        db,
        Document,
        name="需求.pdf",
        uri="s3://docs/需求.pdf",
        related_type="leads",
        related_id=lead_id,
    )
    campaign = add(db, Campaign, name="2026 春季展会")
    add(
        db,
        CampaignMember,
        campaign_id=campaign,
        member_type="leads",
        member_id=lead_id,
        status="responded",
        responded_at=NOW - timedelta(days=20),
    )
    with open_session(db.engine, origin="crm") as session:
        session.add(
            Xref(
                system="kingdee",
                external_entity="BD_Lead",
                external_id="L-0001",
                entity="leads",
                record_id=lead_id,
            )
        )

    done = convert(db.engine, lead_id, now=NOW)

    assert done.moved == conversion.Carried(activities=3, tasks=2, documents=1, campaigns=1)
    with open_session(db.engine) as session:
        on_lead = session.scalars(
            select(Activity).where(Activity.related_type == "leads", Activity.related_id == lead_id)
        ).all()
        on_account = set(
            session.scalars(select(Activity.id).where(Activity.account_id == done.account_id))
        )
        kept_tasks = set(
            session.scalars(
                select(Task.id).where(Task.related_type == "leads", Task.related_id == lead_id)
            )
        )
        kept_document = session.scalars(
            select(Document).where(Document.related_type == "leads", Document.related_id == lead_id)
        ).one()
        members = {
            (member.member_type, member.member_id): (member.status, member.responded_at)
            for member in session.scalars(select(CampaignMember))
        }
        xref = session.scalars(select(Xref)).one()
        from_account = set(
            session.scalars(select(Lead.id).where(Lead.converted_account_id == done.account_id))
        )
    assert {activity.id for activity in on_lead} == set(activities)
    assert on_account == set(activities)
    assert kept_tasks == set(tasks)
    assert kept_document.id == document
    assert members == {
        ("leads", lead_id): ("responded", NOW - timedelta(days=20)),
        ("contacts", done.contact_id): ("responded", NOW - timedelta(days=20)),
    }
    assert (xref.entity, xref.record_id, xref.external_id) == ("leads", lead_id, "L-0001")
    assert from_account == {lead_id}  # the tasks and documents are reached through the lead


def test_a_contact_already_in_the_campaign_is_not_added_twice(db: Database) -> None:
    existing = add(db, Account, name="上海浦江物流有限公司")
    person = add(db, Contact, last_name="张", first_name="伟", mobile="138 0013 8000")
    add(db, AccountContact, account_id=existing, contact_id=person)
    campaign = add(db, Campaign, name="2026 春季展会")
    add(db, CampaignMember, campaign_id=campaign, member_type="contacts", member_id=person)
    lead_id = new_lead(db, mobile="+8613800138000")
    add(db, CampaignMember, campaign_id=campaign, member_type="leads", member_id=lead_id)

    done = convert(db.engine, lead_id, now=NOW, account_id=existing)

    assert done.contact_id == person
    assert done.moved.campaigns == 1
    assert count(db, CampaignMember) == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (LeadStatus.DISQUALIFIED, "is disqualified: only an open lead"),
        (LeadStatus.CONVERTED, "was already converted"),
    ],
)
def test_a_closed_lead_is_refused(db: Database, status: LeadStatus, message: str) -> None:
    lead_id = new_lead(db, status=status)

    with pytest.raises(InvalidInput, match=message):
        convert(db.engine, lead_id, now=NOW)

    assert count(db, Account) == 0


def test_a_converted_lead_says_when_and_into_what(db: Database) -> None:
    lead_id = new_lead(db)
    first = convert(db.engine, lead_id, now=NOW)

    with pytest.raises(InvalidInput) as raised:
        convert(db.engine, lead_id, now=NOW + timedelta(days=1))

    assert str(raised.value) == (
        f"lead {lead_id} was already converted on 2026-06-01 into account {first.account_id}"
    )
    assert count(db, Account) == 1


def test_a_lead_without_a_company_needs_an_account(db: Database) -> None:
    lead_id = new_lead(db, company=None)

    with pytest.raises(InvalidInput, match="has no company"):
        convert(db.engine, lead_id, now=NOW)
    with pytest.raises(InvalidInput, match="not both"):
        convert(db.engine, lead_id, now=NOW, account_id=lead_id, new_account=True)
    with pytest.raises(InvalidInput, match="not a currency code"):
        convert(db.engine, lead_id, now=NOW, currency="人民币")


def snapshot(db: Database, lead_id: UUID) -> tuple[Any, ...]:
    lead = load(db, Lead, lead_id)
    return (
        lead.status,
        lead.version,
        lead.converted_account_id,
        count(db, Account),
        count(db, Contact),
        count(db, Opportunity),
        count(db, Activity, Activity.account_id.is_not(None)),
        count(db, CampaignMember),
        count(db, OwnershipHistory),
        count(db, ChangeLog),
    )


def test_nothing_is_written_when_a_conversion_fails(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead_id = new_lead(db)
    add(
        db,
        Activity,
        type=ActivityType.CALL,
        subject="call",
        occurred_at=NOW,
        related_type="leads",
        related_id=lead_id,
    )
    campaign = add(db, Campaign, name="2026 春季展会")
    add(db, CampaignMember, campaign_id=campaign, member_type="leads", member_id=lead_id)
    before = snapshot(db, lead_id)

    unknown = UUID("01900000-0000-7000-8000-000000000000")
    with pytest.raises(NotFound, match=f"no account with id {unknown}"):
        convert(db.engine, lead_id, now=NOW, account_id=unknown)
    assert snapshot(db, lead_id) == before

    def fail(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("the disk is full")

    # The account, contact, opportunity and activities are written by then.
    monkeypatch.setattr(conversion, "_join_campaigns", fail)
    with pytest.raises(RuntimeError):
        convert(db.engine, lead_id, now=NOW)
    assert snapshot(db, lead_id) == before


def test_the_change_log_has_every_write_as_the_crm(db: Database) -> None:
    actor = add(db, User, name="销售一")
    lead_id = new_lead(db)
    activity = add(
        db,
        Activity,
        type=ActivityType.CALL,
        subject="call",
        occurred_at=NOW,
        related_type="leads",
        related_id=lead_id,
    )
    with open_session(db.engine) as session:
        last = session.scalar(select(func.max(ChangeLog.id))) or 0

    done: Conversion = convert(db.engine, lead_id, now=NOW, actor_id=actor)

    with open_session(db.engine) as session:
        logged = session.scalars(select(ChangeLog).where(ChangeLog.id > last)).all()
    writes = {(entry.entity, entry.record_id, entry.op) for entry in logged}
    assert done.opportunity_id is not None
    assert writes == {
        ("accounts", done.account_id, "insert"),
        ("contacts", done.contact_id, "insert"),
        ("account_contacts", writes_of(logged, "account_contacts"), "insert"),
        ("opportunities", done.opportunity_id, "insert"),
        ("activities", activity, "update"),
        ("leads", lead_id, "update"),
    }
    assert {(entry.origin, entry.actor_id) for entry in logged} == {("crm", actor)}


def writes_of(logged: Sequence[ChangeLog], entity: str) -> UUID:
    [record_id] = {entry.record_id for entry in logged if entry.entity == entity}
    return record_id


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("张伟", ("伟", "张")),
        ("欧阳娜娜", ("娜娜", "欧阳")),
        ("欧阳", ("阳", "欧")),
        (" John  Smith ", ("John", "Smith")),
        ("Madonna", (None, "Madonna")),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_person_name(name: str | None, split: tuple[str | None, str | None]) -> None:
    assert split_person_name(name) == split
