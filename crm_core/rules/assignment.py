"""Lead assignment: new leads handed to salespeople by rule, whatever brought them in (sync,
migration, a person).

A lead waits for assignment while it is open, has no owner and belongs to no pool. The rules
of the rules file (:class:`~crm_core.rules.settings.AssignmentSettings`) are tried in order;
the first whose ``when`` matches the lead's fields takes it and gives it to one of its members
(a team's active members and/or listed users):

* ``round_robin``: the next member after the one who got the rule's previous lead, in a fixed
  order (by e-mail address, then id); members at their quota are skipped;
* ``capacity``: the member with the most room under their quota of open leads (ties go round
  the same fixed order).

Whose turn it is is kept in ``rule_state``, so fairness holds across runs. A lead no rule takes,
or that no member has room for, goes to the ``fallback_pool`` when there is one and otherwise
waits for the next run. Each assignment writes the lead's owner (so it is in ``change_log``), a
row of ``ownership_history`` and a notification to the new owner (one per owner and run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crm_core.db import is_postgres
from crm_core.errors import ConfigError
from crm_core.models import Lead, OwnershipHistory, RuleState, Team, TeamMember, User
from crm_core.rules.notify import notify
from crm_core.rules.pool import OPEN_LEAD_STATUSES
from crm_core.rules.settings import AssignmentRule, RulesSettings

__all__ = ["AssignmentReport", "Member", "assign_leads", "rule_members", "waiting_leads"]

_STATE_PREFIX = "assignment:"
_FILTER_FIELDS = ("province", "city", "country", "industry", "source", "company_size")
_NOTIFY_LIST_LIMIT = 10


@dataclass
class Member:
    """A member of an assignment rule, with their quota and the open leads they hold."""

    user_id: UUID
    name: str
    email: str | None
    quota: int | None
    held: int
    team_id: UUID | None = None
    """The rule's team, when the member is in it: an assigned lead joins that team."""

    @property
    def room(self) -> int | None:
        """How many more open leads they may take (``None``: no limit)."""
        return None if self.quota is None else max(self.quota - self.held, 0)


@dataclass
class AssignmentReport:
    """What one assignment run did."""

    assigned: dict[str, int] = field(default_factory=dict)
    """Leads assigned, per rule."""
    per_user: dict[str, int] = field(default_factory=dict)
    """Leads assigned, per member (by name)."""
    to_fallback_pool: int = 0
    waiting: int = 0
    """Leads left unassigned (no rule took them, or no member had room, and no fallback)."""
    notifications: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-friendly counts."""
        return {
            "assigned": dict(self.assigned),
            "per_user": dict(self.per_user),
            "to_fallback_pool": self.to_fallback_pool,
            "waiting": self.waiting,
            "notifications": self.notifications,
            "dry_run": self.dry_run,
        }


def _key(value: str | None) -> str:
    return " ".join((value or "").split()).casefold()


def _matches(rule: AssignmentRule, values: dict[str, str | None]) -> bool:
    return all(
        _key(values.get(name)) in {_key(value) for value in wanted}
        for name, wanted in rule.when.items()
    )


def waiting_leads(session: Session, lead_ids: Sequence[UUID] | None = None) -> list[Any]:
    """The leads waiting for assignment (oldest first): open, no owner, in no pool."""
    statement = (
        select(Lead.id, Lead.name, Lead.company, *(getattr(Lead, f) for f in _FILTER_FIELDS))
        .where(
            Lead.owner_id.is_(None),
            Lead.pool.is_(None),
            Lead.deleted_at.is_(None),
            Lead.status.in_(OPEN_LEAD_STATUSES),
        )
        .order_by(Lead.created_at, Lead.id)
    )
    if lead_ids is not None:
        statement = statement.where(Lead.id.in_(list(lead_ids)))
    return list(session.execute(statement).all())


def rule_members(session: Session, rule: AssignmentRule) -> list[Member]:
    """The rule's active members in round-robin order, with their quotas and open leads."""
    users: dict[UUID, User] = {}
    team_id: UUID | None = None
    team_members: set[UUID] = set()
    if rule.team is not None:
        team_id = session.scalar(
            select(Team.id).where(Team.name == rule.team, Team.deleted_at.is_(None))
        )
        if team_id is None:
            raise ConfigError(f"assignment rule {rule.name}: no team named {rule.team!r}")
        for user in session.scalars(
            select(User)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == team_id, TeamMember.deleted_at.is_(None))
        ):
            users[user.id] = user
            team_members.add(user.id)
    if rule.users:
        found = {
            user.email: user
            for user in session.scalars(select(User).where(User.email.in_(rule.users)))
        }
        missing = [email for email in rule.users if email not in found]
        if missing:
            raise ConfigError(f"assignment rule {rule.name}: no user {', '.join(missing)}")
        users.update({user.id: user for user in found.values()})
    active = [u for u in users.values() if u.is_active and u.deleted_at is None]
    held = dict(
        session.execute(
            select(Lead.owner_id, func.count())
            .where(
                Lead.owner_id.in_([u.id for u in active]),
                Lead.deleted_at.is_(None),
                Lead.status.in_(OPEN_LEAD_STATUSES),
            )
            .group_by(Lead.owner_id)
        ).all()
    )
    members = [
        Member(
            user_id=user.id,
            name=user.name,
            email=user.email,
            quota=rule.quotas.get(user.email or "", rule.quota),
            held=int(held.get(user.id, 0)),
            team_id=team_id if user.id in team_members else None,
        )
        for user in active
    ]
    return sorted(members, key=lambda m: (m.email or "", str(m.user_id)))


class _Turns:
    """Whose turn it is in one rule, kept in ``rule_state`` between runs."""

    def __init__(self, session: Session, rule: AssignmentRule, *, dry_run: bool) -> None:
        self.name = f"{_STATE_PREFIX}{rule.name}"
        self.session = session
        self.dry_run = dry_run
        if not dry_run:
            self._ensure_row()
        statement = select(RuleState.state).where(RuleState.name == self.name)
        if is_postgres(session) and not dry_run:
            statement = statement.with_for_update()  # one assigner per rule at a time
        state = session.scalar(statement) or {}
        self.last: str | None = state.get("last_user")

    def _ensure_row(self) -> None:
        values = {"name": self.name, "state": {}}
        if is_postgres(self.session):
            self.session.execute(pg_insert(RuleState).values(values).on_conflict_do_nothing())
        else:
            self.session.execute(sqlite_insert(RuleState).values(values).on_conflict_do_nothing())

    def order_from_last(self, members: list[Member]) -> list[Member]:
        """The members, starting with the one after the last one served."""
        ids = [str(m.user_id) for m in members]
        start = ids.index(self.last) + 1 if self.last in ids else 0
        return members[start:] + members[:start]

    def save(self, now: datetime) -> None:
        if self.dry_run:
            return
        self.session.execute(
            update(RuleState)
            .where(RuleState.name == self.name)
            .values(state={"last_user": self.last}, updated_at=now)
        )


def _pick(rule: AssignmentRule, members: list[Member], turns: _Turns) -> Member | None:
    ordered = [m for m in turns.order_from_last(members) if m.room is None or m.room > 0]
    if not ordered:
        return None
    if rule.strategy == "capacity":
        # The most room wins; ``max`` keeps the first of equals, i.e. the next in turn.
        return max(ordered, key=lambda m: m.room if m.room is not None else 0)
    return ordered[0]


def assign_leads(
    session: Session,
    settings: RulesSettings,
    *,
    now: datetime,
    lead_ids: Sequence[UUID] | None = None,
    dry_run: bool = False,
) -> AssignmentReport:
    """Assign the waiting leads (or those of ``lead_ids`` that are waiting) by the rules."""
    config = settings.assignment
    report = AssignmentReport(dry_run=dry_run)
    leads = waiting_leads(session, lead_ids)
    if not leads:
        return report
    members: dict[str, list[Member]] = {}
    turns: dict[str, _Turns] = {}
    for rule in config.rules:
        members[rule.name] = rule_members(session, rule)
        turns[rule.name] = _Turns(session, rule, dry_run=dry_run)
    given: dict[UUID, list[Any]] = defaultdict(list)
    channel_of: dict[UUID, str | None] = {}
    fallback: list[UUID] = []
    for lead in leads:
        values = {name: getattr(lead, name) for name in _FILTER_FIELDS}
        matched = next((r for r in config.rules if _matches(r, values)), None)
        member = _pick(matched, members[matched.name], turns[matched.name]) if matched else None
        if matched is None or member is None:
            if config.fallback_pool is not None:
                fallback.append(lead.id)
            else:
                report.waiting += 1
            continue
        if not dry_run and not _give(session, lead.id, member, matched, now):
            continue  # someone took it meanwhile
        member.held += 1
        turns[matched.name].last = str(member.user_id)
        report.assigned[matched.name] = report.assigned.get(matched.name, 0) + 1
        report.per_user[member.name] = report.per_user.get(member.name, 0) + 1
        given[member.user_id].append(lead)
        channel_of[member.user_id] = matched.channel
    report.to_fallback_pool = len(fallback)
    if dry_run:
        return report
    for turn in turns.values():
        turn.save(now)
    if fallback:
        _to_fallback(session, config.fallback_pool or "", fallback, now)
    for user_id, assigned in given.items():
        stored = notify(
            session,
            settings.notifications,
            kind="lead_assigned",
            text=_assigned_text(assigned),
            channel=channel_of[user_id],
            recipient_id=user_id,
            now=now,
        )
        report.notifications += int(stored)
    session.flush()
    return report


def _give(
    session: Session, lead_id: UUID, member: Member, rule: AssignmentRule, now: datetime
) -> bool:
    values: dict[str, Any] = {"owner_id": member.user_id, "owned_since": now}
    if member.team_id is not None:
        values["team_id"] = member.team_id
    taken = session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.owner_id.is_(None), Lead.pool.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(
        OwnershipHistory(
            entity=Lead.__tablename__,
            record_id=lead_id,
            action="assign",
            to_owner_id=member.user_id,
            rule=rule.name,
            reason=f"rule {rule.name} ({rule.strategy.replace('_', ' ')})",
            at=now,
        )
    )
    return True


def _to_fallback(session: Session, pool: str, lead_ids: list[UUID], now: datetime) -> None:
    session.execute(
        update(Lead)
        .where(Lead.id.in_(lead_ids), Lead.owner_id.is_(None), Lead.pool.is_(None))
        .values(pool=pool)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        insert(OwnershipHistory),
        [
            {
                "entity": Lead.__tablename__,
                "record_id": lead_id,
                "pool": pool,
                "action": "add",
                "reason": "no assignment rule took it, or no member had room",
                "at": now,
            }
            for lead_id in lead_ids
        ],
    )


def _assigned_text(leads: list[Any]) -> str:
    lines = [f"{len(leads)} new lead(s) assigned to you / 新分配给您的线索:"]
    for lead in leads[:_NOTIFY_LIST_LIMIT]:
        where = " ".join(part for part in (lead.province, lead.city) if part)
        label = " · ".join(part for part in (lead.company, lead.name, where) if part)
        lines.append(f"- {label or lead.id}")
    if len(leads) > _NOTIFY_LIST_LIMIT:
        more = len(leads) - _NOTIFY_LIST_LIMIT
        lines.append(f"... and {more} more / 另有 {more} 条")
    return "\n".join(lines)
