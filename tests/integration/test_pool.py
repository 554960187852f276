"""The public pool: claims within caps, limits and cool-down, returns, locks, recycling and its
warnings on a controllable clock, and the ownership history, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select, update

from crm_core.db import open_session
from crm_core.errors import ConfigError, InvalidInput
from crm_core.models import (
    Account,
    Activity,
    ActivityType,
    ChangeLog,
    Lead,
    LeadStatus,
    Notification,
    Opportunity,
    OwnershipHistory,
    Pipeline,
    Stage,
    Team,
    TeamMember,
    User,
)
from crm_core.rules.pool import (
    ClaimRefused,
    adopt,
    claim,
    give_back,
    history,
    pool_status,
    record_outside_owner_changes,
    recycle,
    set_locked,
    transfer,
    upcoming_recycles,
)
from crm_core.rules.settings import RulesSettings
from tests.conftest import Database

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

SETTINGS = RulesSettings.model_validate(
    {
        "pools": [
            {
                "name": "east",
                "entity": "accounts",
                "scope": {"province": ["浙江", "江苏"]},
                "max_held": 3,
                "daily_claims": 2,
                "cooldown_days": 7,
                "recycle": {"no_followup_days": 30, "no_won_deal_days": 90, "warn_days": 3},
                "channel": "east-sales",
            },
            {"name": "north", "entity": "accounts", "teams": ["华北销售部"]},
            {
                "name": "leads",
                "entity": "leads",
                "recycle": {"no_followup_days": 10, "warn_days": 2},
            },
        ],
        "notifications": {
            "channels": {"east-sales": {"kind": "wecom", "webhook_env": "EAST_WEBHOOK"}},
        },
    }
)


def add_user(db: Database, name: str, *, team: str | None = None, phone: str | None = None) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        user = User(name=name, email=f"{name}@example.com", phone=phone)
        session.add(user)
        session.flush()
        if team is not None:
            team_id = session.scalar(select(Team.id).where(Team.name == team))
            if team_id is None:
                created = Team(name=team)
                session.add(created)
                session.flush()
                team_id = created.id
            session.add(TeamMember(team_id=team_id, user_id=user.id))
        return user.id


def add_account(db: Database, name: str, **values: Any) -> UUID:
    values.setdefault("created_at", T0 - timedelta(days=400))
    with open_session(db.engine, origin="crm") as session:
        account = Account(name=name, **values)
        session.add(account)
        session.flush()
        return account.id


def add_activity(
    db: Database, account_id: UUID, owner: UUID | None, at: datetime, kind: ActivityType
) -> None:
    with open_session(db.engine, origin="crm") as session:
        session.add(
            Activity(
                type=kind,
                subject=kind.value,
                occurred_at=at,
                account_id=account_id,
                related_type="accounts",
                related_id=account_id,
                owner_id=owner,
            )
        )


def do_claim(db: Database, pool: str, record: UUID, user: UUID, now: datetime) -> None:
    with open_session(db.engine, origin="crm", actor_id=user) as session:
        claim(session, SETTINGS, pool, record, user, now=now)


def do_recycle(db: Database, now: datetime, **options: Any) -> Any:
    with open_session(db.engine, origin="crm") as session:
        return recycle(session, SETTINGS, now=now, **options)


def owner_of(db: Database, record: UUID, model: Any = Account) -> UUID | None:
    with open_session(db.engine) as session:
        return session.scalar(select(model.owner_id).where(model.id == record))


def actions(db: Database, record: UUID) -> list[tuple[str, str | None]]:
    with open_session(db.engine) as session:
        return [(row.action, row.reason) for row in history(session, record)]


def test_claim_gives_the_record_and_records_who_when_and_why(db: Database) -> None:
    wang = add_user(db, "wang")
    account = add_account(db, "杭州华信", pool="east")

    do_claim(db, "east", account, wang, T0)

    with open_session(db.engine) as session:
        record = session.get(Account, account)
        assert record is not None
        assert (record.owner_id, record.owned_since) == (wang, T0)
        [entry] = history(session, account)
        assert (entry.action, entry.pool, entry.from_owner_id, entry.to_owner_id) == (
            "claim",
            "east",
            None,
            wang,
        )
        assert (entry.actor_id, entry.at) == (wang, T0)
        change = session.scalars(
            select(ChangeLog).where(ChangeLog.record_id == account, ChangeLog.op == "update")
        ).one()
        assert change.changed is not None
        assert UUID(change.changed["owner_id"]) == wang
        assert (change.origin, change.actor_id) == ("crm", wang)


def test_a_held_record_cannot_be_claimed_and_nothing_changes(db: Database) -> None:
    wang, li = add_user(db, "wang"), add_user(db, "li")
    account = add_account(db, "杭州华信", pool="east")
    do_claim(db, "east", account, wang, T0)

    with pytest.raises(ClaimRefused, match="already held by wang") as refused:
        do_claim(db, "east", account, li, T0)
    assert refused.value.why == "taken"
    assert owner_of(db, account) == wang
    assert actions(db, account) == [("claim", None)]


def test_a_record_of_another_pool_or_no_pool_is_refused(db: Database) -> None:
    wang = add_user(db, "wang", team="华北销售部")
    north = add_account(db, "北京", pool="north")
    loose = add_account(db, "无池")
    with pytest.raises(ClaimRefused, match="in pool north, not east"):
        do_claim(db, "east", north, wang, T0)
    with pytest.raises(ClaimRefused, match="in no pool"):
        do_claim(db, "east", loose, wang, T0)
    with pytest.raises(ConfigError, match="no pool named 'west'"):
        do_claim(db, "west", north, wang, T0)


def test_the_per_user_cap_counts_the_records_of_the_pool_held(db: Database) -> None:
    wang = add_user(db, "wang")
    accounts = [add_account(db, f"客户{i}", pool="east") for i in range(5)]
    for day, account in enumerate(accounts[:3]):
        do_claim(db, "east", account, wang, T0 + timedelta(days=day))
    with pytest.raises(ClaimRefused, match="already holds 3 records of pool east") as refused:
        do_claim(db, "east", accounts[3], wang, T0 + timedelta(days=5))
    assert refused.value.why == "max_held"

    with open_session(db.engine, origin="crm", actor_id=wang) as session:
        give_back(session, SETTINGS, accounts[0], reason="没有需求", actor_id=wang, now=T0)
    do_claim(db, "east", accounts[3], wang, T0 + timedelta(days=5))
    assert owner_of(db, accounts[3]) == wang


def test_the_daily_limit_counts_claims_in_the_rules_time_zone(db: Database) -> None:
    wang = add_user(db, "wang")
    accounts = [add_account(db, f"客户{i}", pool="east") for i in range(4)]
    morning = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    do_claim(db, "east", accounts[0], wang, morning)
    with open_session(db.engine, origin="crm", actor_id=wang) as session:
        give_back(session, SETTINGS, accounts[0], reason="重复", actor_id=wang, now=morning)
    do_claim(db, "east", accounts[1], wang, morning + timedelta(hours=1))
    with pytest.raises(ClaimRefused, match="claimed 2 records from pool east today") as refused:
        do_claim(db, "east", accounts[2], wang, morning + timedelta(hours=2))
    assert refused.value.why == "daily_claims"
    # 15:59 UTC is still the same day in Shanghai; 16:00 UTC is the next one.
    with pytest.raises(ClaimRefused):
        do_claim(db, "east", accounts[2], wang, datetime(2026, 3, 2, 15, 59, tzinfo=UTC))
    do_claim(db, "east", accounts[2], wang, datetime(2026, 3, 2, 16, 0, tzinfo=UTC))
    assert owner_of(db, accounts[2]) == wang


def test_the_previous_owner_waits_out_the_cool_down_others_do_not(db: Database) -> None:
    wang, li = add_user(db, "wang"), add_user(db, "li")
    account = add_account(db, "杭州华信", pool="east")
    do_claim(db, "east", account, wang, T0)
    returned_at = T0 + timedelta(days=1)
    with open_session(db.engine, origin="crm", actor_id=wang) as session:
        give_back(session, SETTINGS, account, reason="联系不上", actor_id=wang, now=returned_at)

    with pytest.raises(ClaimRefused, match="cool-down 7 days") as refused:
        do_claim(db, "east", account, wang, returned_at + timedelta(days=6, hours=23))
    assert refused.value.why == "cooldown"
    do_claim(db, "east", account, li, returned_at + timedelta(hours=1))
    with open_session(db.engine, origin="crm", actor_id=li) as session:
        give_back(
            session,
            SETTINGS,
            account,
            reason="不是目标客户",
            actor_id=li,
            now=returned_at + timedelta(hours=2),
        )
    do_claim(db, "east", account, wang, returned_at + timedelta(days=7))
    assert owner_of(db, account) == wang
    assert actions(db, account) == [
        ("claim", None),
        ("return", "联系不上"),
        ("claim", None),
        ("return", "不是目标客户"),
        ("claim", None),
    ]


def test_only_the_owner_returns_with_a_reason_and_the_lock_goes_with_the_owner(
    db: Database,
) -> None:
    wang, li = add_user(db, "wang"), add_user(db, "li")
    account = add_account(db, "杭州华信", pool="east")
    do_claim(db, "east", account, wang, T0)
    with open_session(db.engine, origin="crm") as session:
        set_locked(session, account, True, actor_id=None, now=T0, reason="重点客户")

    with (
        open_session(db.engine, origin="crm") as session,
        pytest.raises(InvalidInput, match="reason"),
    ):
        give_back(session, SETTINGS, account, reason="  ", actor_id=wang, now=T0)
    with (
        open_session(db.engine, origin="crm") as session,
        pytest.raises(InvalidInput, match="not held"),
    ):
        give_back(session, SETTINGS, account, reason="x", actor_id=li, now=T0)
    with open_session(db.engine, origin="crm") as session:
        record = give_back(session, SETTINGS, account, reason="放弃", actor_id=wang, now=T0)
        assert (record.owner_id, record.pool, record.pool_locked) == (None, "east", False)


def test_pool_teams_limit_who_may_claim(db: Database) -> None:
    zhao = add_user(db, "zhao", team="华北销售部")
    qian = add_user(db, "qian", team="华东销售部")
    account = add_account(db, "北京", pool="north")
    with pytest.raises(ClaimRefused, match="not in the teams of pool north") as refused:
        do_claim(db, "north", account, qian, T0)
    assert refused.value.why == "not_member"
    do_claim(db, "north", account, zhao, T0)


def test_adopt_puts_records_without_a_pool_into_the_pool_of_their_scope(db: Database) -> None:
    zj = add_account(db, "杭州", province="浙江")
    js = add_account(db, "南京", province=" 江苏 ")
    bj = add_account(db, "北京", province="北京")
    placed = add_account(db, "上海", province="浙江", pool="north")
    with open_session(db.engine, origin="crm") as session:
        assert adopt(session, SETTINGS) == {"east": 2}
    with open_session(db.engine) as session:
        pools = dict(session.execute(select(Account.id, Account.pool)).all())
    assert pools == {zj: "east", js: "east", bj: None, placed: "north"}


def test_recycle_warns_k_days_before_then_takes_back_the_neglected(db: Database) -> None:
    wang = add_user(db, "wang", phone="13800138000")
    neglected = add_account(db, "冷客户", pool="east")
    followed = add_account(db, "热客户", pool="east")
    locked = add_account(db, "锁定客户", pool="east")
    do_claim(db, "east", neglected, wang, T0)
    do_claim(db, "east", followed, wang, T0)
    do_claim(db, "east", locked, wang, T0 - timedelta(days=1))  # two claims a day at most
    with open_session(db.engine, origin="crm") as session:
        set_locked(session, locked, True, actor_id=wang, now=T0)
    # A follow-up by the owner on day 20 moves its clock; a colleague's call does not count.
    li = add_user(db, "li")
    add_activity(db, followed, wang, T0 + timedelta(days=20), ActivityType.CALL)
    add_activity(db, neglected, li, T0 + timedelta(days=20), ActivityType.CALL)
    add_activity(db, neglected, wang, T0 + timedelta(days=21), ActivityType.NOTE)

    report = do_recycle(db, T0 + timedelta(days=26, hours=23))
    assert (report.recycled, report.warned) == ({"east": 0, "leads": 0}, {"east": 0, "leads": 0})

    warn_time = T0 + timedelta(days=27, hours=1)
    report = do_recycle(db, warn_time)
    assert report.warned["east"] == 1
    assert report.notifications == 1
    with open_session(db.engine) as session:
        [upcoming] = upcoming_recycles(session, SETTINGS, warn_time)
        assert (upcoming.record_id, upcoming.due_at) == (neglected, T0 + timedelta(days=30))
        assert upcoming.reason == "no follow-up for 30 days"
        [note] = session.scalars(select(Notification)).all()
        assert (note.kind, note.channel, note.recipient_id) == (
            "recycle_warning",
            "east-sales",
            wang,
        )
        assert "冷客户" in note.text
        assert "热客户" not in note.text
        assert note.mentions == ["13800138000"]
    # The warning is given once, not at every run.
    assert do_recycle(db, warn_time + timedelta(hours=12)).warned["east"] == 0

    report = do_recycle(db, T0 + timedelta(days=30, seconds=1))
    assert report.recycled["east"] == 1
    assert owner_of(db, neglected) is None
    assert owner_of(db, followed) == wang
    assert owner_of(db, locked) == wang
    assert actions(db, neglected)[-2:] == [
        ("warn", "no follow-up for 30 days: recycled 2026-04-01 02:00 UTC"),
        ("recycle", "no follow-up for 30 days"),
    ]
    with open_session(db.engine) as session:
        last = session.scalars(
            select(ChangeLog).where(ChangeLog.record_id == neglected).order_by(ChangeLog.id.desc())
        ).first()
        assert last is not None
        assert last.changed is not None
        assert last.changed["owner_id"] is None
    # Day 50: the followed account's clock ran out 30 days after its last follow-up.
    assert do_recycle(db, T0 + timedelta(days=50, seconds=1)).recycled["east"] == 1
    assert owner_of(db, followed) is None
    assert owner_of(db, locked) == wang


def test_no_won_deal_recycles_even_with_follow_ups_unless_a_deal_was_won(db: Database) -> None:
    wang = add_user(db, "wang")
    busy = add_account(db, "只跟进", pool="east")
    winner = add_account(db, "成交客户", pool="east")
    do_claim(db, "east", busy, wang, T0)
    do_claim(db, "east", winner, wang, T0)
    for day in range(0, 100, 10):
        for account in (busy, winner):
            add_activity(db, account, wang, T0 + timedelta(days=day), ActivityType.MEETING)
    with open_session(db.engine, origin="crm") as session:
        pipeline = Pipeline(name="默认")
        session.add(pipeline)
        session.flush()
        won = Stage(pipeline_id=pipeline.id, name="赢单", position=9, is_won=True)
        session.add(won)
        session.flush()
        session.add(
            Opportunity(
                name="大单",
                account_id=winner,
                stage_id=won.id,
                closed_at=T0 + timedelta(days=60),
            )
        )
    report = do_recycle(db, T0 + timedelta(days=90, seconds=1))
    assert report.recycled["east"] == 1
    assert owner_of(db, busy) is None
    assert owner_of(db, winner) == wang
    assert actions(db, busy)[-1] == ("recycle", "no won deal for 90 days")


def test_lead_pools_recycle_open_leads_only(db: Database) -> None:
    wang = add_user(db, "wang")
    with open_session(db.engine, origin="crm") as session:
        open_lead = Lead(name="张伟", pool="leads", owner_id=wang, owned_since=T0)
        converted = Lead(
            name="李娜", pool="leads", owner_id=wang, owned_since=T0, status=LeadStatus.CONVERTED
        )
        session.add_all([open_lead, converted])
    report = do_recycle(db, T0 + timedelta(days=10, seconds=1))
    assert report.recycled["leads"] == 1
    assert owner_of(db, open_lead.id, Lead) is None
    assert owner_of(db, converted.id, Lead) == wang


def test_a_dry_run_counts_and_writes_nothing(db: Database) -> None:
    wang = add_user(db, "wang")
    account = add_account(db, "冷客户", province="浙江")
    with open_session(db.engine, origin="crm") as session:
        adopt(session, SETTINGS)
    do_claim(db, "east", account, wang, T0)
    report = do_recycle(db, T0 + timedelta(days=31), dry_run=True)
    assert (report.recycled["east"], report.dry_run) == (1, True)
    assert owner_of(db, account) == wang
    with open_session(db.engine) as session:
        statuses = {status.pool.name: status for status in pool_status(session, SETTINGS, T0)}
    assert (statuses["east"].held, statuses["east"].waiting) == (1, 0)


def claim_at_once(
    pg: Database, settings: RulesSettings, claims: list[tuple[UUID, UUID]]
) -> list[str]:
    """Each (user, record) claimed from pool "north" in its own transaction and thread, all
    released together once every transaction has begun; each one's outcome ("won" or why not)."""
    barrier = threading.Barrier(len(claims))
    outcomes: list[str] = []

    def attempt(user: UUID, record: UUID) -> None:
        with open_session(pg.engine, origin="crm", actor_id=user) as session:
            session.execute(select(1))  # the transaction has begun before the race
            barrier.wait()
            try:
                claim(session, settings, "north", record, user, now=T0)
                outcomes.append("won")
            except ClaimRefused as refused:
                outcomes.append(refused.why)

    threads = [threading.Thread(target=attempt, args=pair) for pair in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_people_claiming_the_same_record_at_once_exactly_one_wins(
    pg: Database,
) -> None:
    users = [add_user(pg, f"user{i}") for i in range(8)]
    accounts = [add_account(pg, f"客户{i}", pool="north") for i in range(20)]
    settings = RulesSettings.model_validate({"pools": [{"name": "north", "entity": "accounts"}]})
    for account in accounts:
        outcomes = claim_at_once(pg, settings, [(user, account) for user in users])
        assert sorted(outcomes) == ["taken"] * (len(users) - 1) + ["won"]
        with open_session(pg.engine) as session:
            claims = session.scalars(
                select(OwnershipHistory).where(OwnershipHistory.record_id == account)
            ).all()
            assert len(claims) == 1
            assert owner_of(pg, account) == claims[0].to_owner_id


def test_a_transfer_hands_the_record_over_and_starts_the_new_owners_clock(db: Database) -> None:
    wang, li = add_user(db, "wang"), add_user(db, "li")
    account = add_account(db, "杭州华信", pool="east")
    do_claim(db, "east", account, wang, T0)
    with open_session(db.engine, origin="crm") as session:
        set_locked(session, account, True, actor_id=None, now=T0)
    later = T0 + timedelta(days=29)
    with open_session(db.engine, origin="crm") as session:
        with pytest.raises(InvalidInput, match="reason"):
            transfer(session, account, li, reason="", actor_id=None, now=later)
        moved = transfer(session, account, li, reason="王磊离职", actor_id=None, now=later)
        assert (moved.owner_id, moved.owned_since, moved.pool_locked) == (li, later, False)
    assert actions(db, account)[-1] == ("transfer", "王磊离职")
    # Wang's 30 days would have run out on day 30; Li's clock started on day 29.
    assert do_recycle(db, T0 + timedelta(days=31)).recycled["east"] == 0
    assert owner_of(db, account) == li


def test_one_persons_simultaneous_claims_never_pass_the_cap_together(pg: Database) -> None:
    settings = RulesSettings.model_validate(
        {"pools": [{"name": "north", "entity": "accounts", "max_held": 3}]}
    )
    wang = add_user(pg, "wang")
    accounts = [add_account(pg, f"客户{i}", pool="north") for i in range(8)]
    do_claim_with = accounts[:2]
    with open_session(pg.engine, origin="crm", actor_id=wang) as session:
        for account in do_claim_with:
            claim(session, settings, "north", account, wang, now=T0)
    outcomes = claim_at_once(pg, settings, [(wang, account) for account in accounts[2:]])
    assert sorted(outcomes) == ["max_held"] * 5 + ["won"]
    with open_session(pg.engine) as session:
        held = session.scalar(
            select(func.count()).select_from(Account).where(Account.owner_id == wang)
        )
    assert held == 3


def test_an_owner_set_outside_the_rules_is_logged_and_starts_their_clock(db: Database) -> None:
    from crm_core import records
    from crm_core.models import utcnow

    wang, li = add_user(db, "wang"), add_user(db, "li")
    account = add_account(db, "杭州华信", pool="east")
    claimed_at = utcnow() - timedelta(days=40)
    do_claim(db, "east", account, wang, claimed_at)
    with open_session(db.engine, origin="kingdee") as session:  # the ERP names a new owner
        stored = session.get(Account, account)
        assert stored is not None
        records.update(session, Account, account, {"owner_id": li}, expected_version=stored.version)
    with open_session(db.engine) as session:  # a plain SQL write, owner unchanged: ignored
        session.execute(update(Account).values(phone="0571-1"))
        session.commit()

    assert record_outside_owner_changes(db.engine) == 1
    assert record_outside_owner_changes(db.engine) == 0  # each change is logged once

    with open_session(db.engine) as session:
        entry = history(session, account)[-1]
        assert (entry.action, entry.from_owner_id, entry.to_owner_id) == ("change", wang, li)
        assert entry.reason == "owner set outside the pool rules (by kingdee)"
        record = session.get(Account, account)
        assert record is not None
        assert record.owned_since == entry.at
        assert utcnow() - entry.at < timedelta(minutes=5)
    # Wang's claim is 40 days old, but Li got the account just now: nothing is due.
    assert do_recycle(db, utcnow() + timedelta(hours=1)).recycled["east"] == 0
