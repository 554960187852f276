"""Lead assignment: round robin (fair over 1,000 leads, and across runs), capacity quotas,
region and industry filters, the fallback pool, and leads from any source, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select

from crm_core.db import open_session
from crm_core.models import (
    ChangeLog,
    Lead,
    LeadStatus,
    Notification,
    OwnershipHistory,
    Team,
    TeamMember,
    User,
)
from crm_core.rules.assignment import assign_leads
from crm_core.rules.settings import RulesSettings
from tests.conftest import Database

NOW = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)


def add_team(
    db: Database, name: str, members: list[str], *, inactive: tuple[str, ...] = ()
) -> dict[str, UUID]:
    with open_session(db.engine, origin="crm") as session:
        team = Team(name=name)
        session.add(team)
        session.flush()
        ids: dict[str, UUID] = {}
        for member in members:
            user = User(
                name=member,
                email=f"{member}@example.com",
                phone=f"1380000{len(ids):04d}",
                is_active=member not in inactive,
            )
            session.add(user)
            session.flush()
            session.add(TeamMember(team_id=team.id, user_id=user.id))
            ids[member] = user.id
        return ids


def add_leads(db: Database, count: int, *, origin: str = "crm", **values: Any) -> list[UUID]:
    with open_session(db.engine, origin=origin) as session:
        leads = [
            Lead(
                name=f"线索{i}",
                company=f"公司{i}",
                created_at=NOW - timedelta(minutes=count - i),
                **values,
            )
            for i in range(count)
        ]
        session.add_all(leads)
        session.flush()
        return [lead.id for lead in leads]


def run(db: Database, settings: RulesSettings, **options: Any) -> Any:
    with open_session(db.engine, origin="crm") as session:
        return assign_leads(session, settings, now=NOW, **options)


def owners(db: Database, leads: list[UUID]) -> list[UUID | None]:
    with open_session(db.engine) as session:
        found = dict(
            session.execute(select(Lead.id, Lead.owner_id).where(Lead.id.in_(leads))).all()
        )
    return [found[lead] for lead in leads]


ROUND_ROBIN = RulesSettings.model_validate(
    {
        "assignment": {"rules": [{"name": "east", "team": "华东销售部"}]},
        "notifications": {"channels": {"sales": {"kind": "wecom", "webhook_env": "SALES_HOOK"}}},
    }
)


def test_round_robin_is_fair_over_1000_leads_and_across_runs(db: Database) -> None:
    members = add_team(db, "华东销售部", [f"sales{i}" for i in range(7)])
    leads = add_leads(db, 1000)

    first = run(db, ROUND_ROBIN, lead_ids=leads[:333])
    run(db, ROUND_ROBIN, lead_ids=leads[333:700])
    run(db, ROUND_ROBIN)
    assert first.assigned == {"east": 333}

    assigned = owners(db, leads)
    counts = Counter(assigned)
    assert set(counts) == set(members.values())
    assert sorted(counts.values()) == [142] + [143] * 6
    # Strict turns: in lead order, the members follow one fixed cycle, across the three runs.
    cycle = assigned[:7]
    assert len(set(cycle)) == 7
    assert all(owner == cycle[i % 7] for i, owner in enumerate(assigned))


def test_each_assignment_is_recorded_logged_and_announced_to_the_owner(db: Database) -> None:
    members = add_team(db, "华东销售部", ["wang", "li"])
    leads = add_leads(db, 4)
    report = run(db, ROUND_ROBIN)
    assert report.per_user == {"li": 2, "wang": 2}
    assert report.notifications == 2
    with open_session(db.engine) as session:
        entries = session.scalars(select(OwnershipHistory).order_by(OwnershipHistory.id)).all()
        assert [(e.action, e.rule, e.at) for e in entries] == [("assign", "east", NOW)] * 4
        assert {e.record_id for e in entries} == set(leads)
        owner_changes = session.scalar(
            select(func.count()).where(
                ChangeLog.entity == "leads", ChangeLog.op == "update", ChangeLog.origin == "crm"
            )
        )
        assert owner_changes == 4
        notes = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert {n.recipient_id for n in notes} == set(members.values())
        assert all(n.kind == "lead_assigned" and n.channel == "sales" for n in notes)
        assert all("2 new lead(s)" in n.text for n in notes)
        lead = session.get(Lead, leads[0])
        assert lead is not None
        assert lead.owned_since == NOW
        team = session.scalar(select(Team.id).where(Team.name == "华东销售部"))
        assert lead.team_id == team  # the lead joins the team of the rule


def test_capacity_fills_the_most_room_first_and_skips_full_members(db: Database) -> None:
    members = add_team(db, "电销组", ["a", "b", "c"])
    add_leads(db, 3, owner_id=members["a"])  # a already holds 3 open leads
    add_leads(db, 2, owner_id=members["b"], status=LeadStatus.CONVERTED)  # closed: not counted
    settings = RulesSettings.model_validate(
        {
            "pools": [{"name": "overflow", "entity": "leads"}],
            "assignment": {
                "rules": [
                    {
                        "name": "phone",
                        "team": "电销组",
                        "strategy": "capacity",
                        "quota": 5,
                        "quotas": {"c@example.com": 2},
                    }
                ],
                "fallback_pool": "overflow",
            },
        }
    )
    leads = add_leads(db, 12)
    report = run(db, settings)
    # Room: a 2, b 5, c 2 -> 9 leads placed, 3 to the fallback pool.
    assert report.per_user == {"a": 2, "b": 5, "c": 2}
    assert report.to_fallback_pool == 3
    with open_session(db.engine) as session:
        pooled = session.scalars(select(Lead.id).where(Lead.pool == "overflow")).all()
        assert set(pooled) == set(leads[-3:])
    # The first lead goes to the member with the most room.
    assert owners(db, leads[:1]) == [members["b"]]


def test_filters_route_by_region_and_industry_and_the_rest_wait(db: Database) -> None:
    east = add_team(db, "华东销售部", ["wang"])
    factory = add_team(db, "制造业组", ["zhao"], inactive=())
    add_team(db, "离职组", ["gone"], inactive=("gone",))
    settings = RulesSettings.model_validate(
        {
            "assignment": {
                "rules": [
                    {"name": "east", "when": {"province": ["浙江", "江苏"]}, "team": "华东销售部"},
                    {
                        "name": "factories",
                        "when": {"industry": "制造业"},
                        "users": ["zhao@example.com"],
                    },
                    {"name": "nobody", "when": {"province": "西藏"}, "team": "离职组"},
                ]
            }
        }
    )
    zj = add_leads(db, 1, province=" 浙江 ", industry="制造业")
    sh = add_leads(db, 1, province="上海", industry="制造业")
    xz = add_leads(db, 1, province="西藏")
    other = add_leads(db, 1, province="广东", industry="零售")
    report = run(db, settings)
    assert owners(db, zj + sh + xz + other) == [east["wang"], factory["zhao"], None, None]
    assert report.assigned == {"east": 1, "factories": 1}
    assert report.waiting == 2


def test_leads_from_any_source_are_assigned_only_when_waiting(db: Database) -> None:
    members = add_team(db, "华东销售部", ["wang"])
    from_erp = add_leads(db, 1, origin="kingdee")
    manual = add_leads(db, 1)
    with open_session(db.engine) as session:  # a write from outside the hub (origin external)
        session.execute(insert(Lead).values(name="外部", company="外部公司", created_at=NOW))
        external = session.scalar(select(Lead.id).where(Lead.name == "外部"))
        session.commit()
    assert external is not None
    owned = add_leads(db, 1, owner_id=members["wang"])
    pooled = add_leads(db, 1, pool="somewhere")
    closed = add_leads(db, 1, status=LeadStatus.DISQUALIFIED)
    report = run(db, ROUND_ROBIN)
    assert report.assigned == {"east": 3}
    assert owners(db, [*from_erp, *manual, external]) == [members["wang"]] * 3
    assert owners(db, pooled + closed) == [None, None]
    assert run(db, ROUND_ROBIN).assigned == {}
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(OwnershipHistory)) == 3
    assert owned


def test_a_dry_run_plans_and_writes_nothing(db: Database) -> None:
    add_team(db, "华东销售部", ["wang", "li"])
    leads = add_leads(db, 5)
    report = run(db, ROUND_ROBIN, dry_run=True)
    assert (report.assigned, report.dry_run) == ({"east": 5}, True)
    assert owners(db, leads) == [None] * 5
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
        assert session.scalar(select(func.count()).select_from(OwnershipHistory)) == 0
