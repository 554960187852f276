"""The public pool (公海): accounts and leads nobody is working, claimed by salespeople, given
back, and taken back from owners who neglect them.

A record belongs to a pool when its ``pool`` column names one (pools are defined in the rules
file, :mod:`crm_core.rules.settings`); it waits *in* the pool while it has no owner. Here:

* :func:`claim` gives a waiting record to a user, within the pool's per-user cap
  (``max_held``), daily limit (``daily_claims``, counted in the rules' time zone) and the
  cool-down that keeps a previous owner from claiming straight back what they gave up. The
  claim is one conditional ``UPDATE``: of two people claiming the same record at the same
  moment exactly one wins.
* :func:`give_back` returns an owned record to its pool, with a reason.
* :func:`set_locked` locks a record to its owner: a locked record is never recycled.
* :func:`transfer` hands a record to another salesperson (a manager's decision).
* :func:`adopt` puts records that have no pool yet into the pool whose scope they match.
* :func:`recycle` takes back, set-wise, every unlocked record whose owner has logged no
  follow-up for ``no_followup_days`` or won no deal (converted no lead) for
  ``no_won_deal_days``, and warns owners ``warn_days`` before: one notification per owner and
  pool, each record warned once per approach to its recycle date.

Every change of owner is a write of the record (so it is in ``change_log``) and a row of
``ownership_history`` with who made it, when and why.

The clock of a record starts when its owner got it (``owned_since``). An owner set outside the
rules (a sync, a person, SQL) is found in the change feed by
:func:`record_outside_owner_changes`, which logs it and starts that owner's clock; until it
runs, such a record's clock is its creation time. A follow-up is an activity of one of the pool's
``followup_types``, logged by the record's owner, about the record (for an account: any
activity rolled up to it), that happened no later than now.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal, cast
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from crm_core._follow import lock_cursor
from crm_core.changes import Change, FeedPosition, read_changes
from crm_core.db import ORIGIN_CRM, is_postgres, open_session
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    Account,
    Activity,
    Lead,
    LeadStatus,
    Opportunity,
    OwnershipHistory,
    Stage,
    Team,
    TeamMember,
    User,
)
from crm_core.rules.notify import notify
from crm_core.rules.settings import PoolSettings, RulesSettings

__all__ = [
    "OPEN_LEAD_STATUSES",
    "ClaimRefused",
    "PoolStatus",
    "RecycleReport",
    "UpcomingRecycle",
    "adopt",
    "claim",
    "find_pool_record",
    "give_back",
    "history",
    "pool_model",
    "pool_status",
    "record_outside_owner_changes",
    "recycle",
    "set_locked",
    "transfer",
    "upcoming_recycles",
]

log = logging.getLogger(__name__)

PoolModel = type[Account] | type[Lead]

OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED)
"""A lead in one of these statuses can be held, claimed and recycled."""

_WARNING_LIST_LIMIT = 20
"""Records named one by one in a warning; the rest are counted."""


class ClaimRefused(InvalidInput):
    """A claim the pool's rules refuse. ``why`` is a short code: ``taken``, ``not_in_pool``,
    ``max_held``, ``daily_claims``, ``cooldown``, ``not_member`` or ``inactive``."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True)
class UpcomingRecycle:
    """An owned record its pool will take back soon, and why."""

    entity: str
    record_id: UUID
    label: str
    pool: str
    owner_id: UUID
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class RecycleReport:
    """What one recycle run did, per pool."""

    recycled: dict[str, int]
    warned: dict[str, int]
    adopted: dict[str, int]
    notifications: int
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-friendly counts."""
        return {
            "recycled": dict(self.recycled),
            "warned": dict(self.warned),
            "adopted": dict(self.adopted),
            "notifications": self.notifications,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class PoolStatus:
    """A pool's numbers: records waiting, held, locked, and due for recycling within the
    warning period."""

    pool: PoolSettings
    waiting: int
    held: int
    locked: int
    due_soon: int


def pool_model(pool: PoolSettings) -> PoolModel:
    """The model of the pool's records."""
    return Account if pool.entity == "accounts" else Lead


def _label_column(model: PoolModel) -> Any:
    if model is Account:
        return Account.name
    return func.coalesce(Lead.company, Lead.name, "")


def _live(model: PoolModel) -> ColumnElement[bool]:
    """Records that can be in a pool at all: not deleted, and (leads) still open."""
    condition: ColumnElement[bool] = model.deleted_at.is_(None)
    if model is Lead:
        condition = and_(condition, Lead.status.in_(OPEN_LEAD_STATUSES))
    return condition


def _user(session: Session, user_id: UUID) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound(f"no user with id {user_id}")
    return user


def _lock_user(session: Session, user_id: UUID) -> None:
    """Serialise one user's claims (PostgreSQL), so two at once cannot both pass the caps."""
    if is_postgres(session):
        session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _day_start(settings: RulesSettings, now: datetime) -> datetime:
    local = now.astimezone(settings.zone)
    return datetime.combine(local.date(), time(0), tzinfo=settings.zone)


def _record_history(
    session: Session,
    *,
    entity: str,
    record_id: UUID,
    pool: str | None,
    action: str,
    from_owner: UUID | None,
    to_owner: UUID | None,
    actor_id: UUID | None,
    now: datetime,
    reason: str | None = None,
    rule: str | None = None,
) -> None:
    session.add(
        OwnershipHistory(
            entity=entity,
            record_id=record_id,
            pool=pool,
            action=action,
            from_owner_id=from_owner,
            to_owner_id=to_owner,
            actor_id=actor_id,
            rule=rule,
            reason=reason,
            at=now,
        )
    )


def find_pool_record(session: Session, record_id: UUID) -> Account | Lead:
    """The account or lead with this id (:class:`NotFound` when it is neither)."""
    account = session.get(Account, record_id, populate_existing=True)
    if account is not None and account.deleted_at is None:
        return account
    lead = session.get(Lead, record_id, populate_existing=True)
    if lead is not None and lead.deleted_at is None:
        return lead
    raise NotFound(f"no account or lead with id {record_id}")


def claim(
    session: Session,
    settings: RulesSettings,
    pool_name: str,
    record_id: UUID,
    user_id: UUID,
    *,
    now: datetime,
) -> Account | Lead:
    """Give the waiting record ``record_id`` of pool ``pool_name`` to ``user_id``.

    Raises :class:`ClaimRefused` when the pool's rules refuse (the record is taken or not in
    the pool, the user holds ``max_held`` records of the pool or claimed ``daily_claims``
    today, the cool-down since they gave it up has not passed, they are not in the pool's
    teams) and writes nothing then.
    """
    pool = settings.pool(pool_name)
    model = pool_model(pool)
    user = _user(session, user_id)
    if not user.is_active:
        raise ClaimRefused("inactive", f"user {user.name} is not active")
    if pool.teams and not _is_member(session, user_id, pool.teams):
        raise ClaimRefused(
            "not_member",
            f"{user.name} is not in the teams of pool {pool.name}: " + ", ".join(pool.teams),
        )
    _lock_user(session, user_id)
    if pool.max_held is not None:
        held = session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.pool == pool.name, model.owner_id == user_id, _live(model))
        )
        if (held or 0) >= pool.max_held:
            raise ClaimRefused(
                "max_held",
                f"{user.name} already holds {held} records of pool {pool.name}, "
                f"the most one may hold ({pool.max_held})",
            )
    if pool.daily_claims is not None:
        today = session.scalar(
            select(func.count()).where(
                OwnershipHistory.actor_id == user_id,
                OwnershipHistory.action == "claim",
                OwnershipHistory.pool == pool.name,
                OwnershipHistory.at >= _day_start(settings, now),
                OwnershipHistory.at < _day_start(settings, now) + timedelta(days=1),
            )
        )
        if (today or 0) >= pool.daily_claims:
            raise ClaimRefused(
                "daily_claims",
                f"{user.name} has claimed {today} records from pool {pool.name} today, "
                f"the daily limit ({pool.daily_claims})",
            )
    if pool.cooldown_days:
        _check_cooldown(session, pool=pool, model=model, record_id=record_id, user=user, now=now)
    claimed = session.execute(
        update(model)
        .where(
            model.id == record_id,
            model.pool == pool.name,
            model.owner_id.is_(None),
            _live(model),
        )
        .values(owner_id=user_id, owned_since=now, pool_locked=False)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _why_not_claimed(session, pool, model, record_id)
    _record_history(
        session,
        entity=model.__tablename__,
        record_id=record_id,
        pool=pool.name,
        action="claim",
        from_owner=None,
        to_owner=user_id,
        actor_id=user_id,
        now=now,
    )
    session.flush()
    return find_pool_record(session, record_id)


def _is_member(session: Session, user_id: UUID, teams: Sequence[str]) -> bool:
    found = session.scalar(
        select(func.count())
        .select_from(TeamMember)
        .join(Team, Team.id == TeamMember.team_id)
        .where(
            TeamMember.user_id == user_id,
            Team.name.in_(teams),
            TeamMember.deleted_at.is_(None),
        )
    )
    return bool(found)


def _check_cooldown(
    session: Session,
    *,
    pool: PoolSettings,
    model: PoolModel,
    record_id: UUID,
    user: User,
    now: datetime,
) -> None:
    last_loss = session.scalar(
        select(func.max(OwnershipHistory.at)).where(
            OwnershipHistory.entity == model.__tablename__,
            OwnershipHistory.record_id == record_id,
            OwnershipHistory.from_owner_id == user.id,
            OwnershipHistory.action.in_(("return", "recycle")),
        )
    )
    if last_loss is None:
        return
    free_at = last_loss + timedelta(days=pool.cooldown_days)
    if now < free_at:
        raise ClaimRefused(
            "cooldown",
            f"{user.name} gave this record up on {last_loss:%Y-%m-%d %H:%M} UTC and may claim it "
            f"back from {free_at:%Y-%m-%d %H:%M} UTC (cool-down {pool.cooldown_days} days)",
        )


def _why_not_claimed(
    session: Session, pool: PoolSettings, model: PoolModel, record_id: UUID
) -> Exception:
    record = cast("Account | Lead | None", session.get(model, record_id, populate_existing=True))
    noun = "account" if model is Account else "lead"
    if record is None or record.deleted_at is not None:
        return NotFound(f"no {noun} with id {record_id}")
    if record.pool != pool.name:
        where = f"pool {record.pool}" if record.pool else "no pool"
        return ClaimRefused("not_in_pool", f"{noun} {record_id} is in {where}, not {pool.name}")
    if record.owner_id is not None:
        owner = session.get(User, record.owner_id)
        name = owner.name if owner is not None else str(record.owner_id)
        return ClaimRefused("taken", f"{noun} {record_id} is already held by {name}")
    return ClaimRefused("not_in_pool", f"{noun} {record_id} cannot be claimed (it is closed)")


def give_back(
    session: Session,
    settings: RulesSettings,
    record_id: UUID,
    *,
    reason: str,
    actor_id: UUID | None,
    now: datetime,
    pool_name: str | None = None,
) -> Account | Lead:
    """Return an owned record to its pool (or to ``pool_name``), with ``reason``.

    ``actor_id`` is who returns it; ``None`` means an administrator acting for the owner.
    Only the owner may return a record. The lock, if any, goes with the owner.
    """
    if not reason.strip():
        raise InvalidInput("give the reason the record goes back to the pool")
    record = find_pool_record(session, record_id)
    model: PoolModel = type(record)
    target = pool_name or record.pool
    if target is None:
        raise InvalidInput(f"{record_id} belongs to no pool: name the pool to return it to")
    pool = settings.pool(target)
    if pool.entity != model.__tablename__:
        raise InvalidInput(f"pool {pool.name} holds {pool.entity}, not {model.__tablename__}")
    if record.owner_id is None:
        raise InvalidInput(f"{record_id} has no owner: it is already in pool {record.pool}")
    if actor_id is not None and record.owner_id != actor_id:
        raise InvalidInput(f"{record_id} is not held by the user returning it")
    return _write_owner(
        session,
        record,
        {"owner_id": None, "owned_since": None, "pool_locked": False, "pool": pool.name},
        action="return",
        actor_id=actor_id,
        now=now,
        reason=reason.strip(),
    )


def transfer(
    session: Session,
    record_id: UUID,
    to_user_id: UUID,
    *,
    reason: str,
    actor_id: UUID | None,
    now: datetime,
) -> Account | Lead:
    """Hand a record to another salesperson (a manager's decision), with ``reason``.

    Unlike a claim, no pool rule applies; the new owner's clock starts now and a lock, which
    was the previous owner's, is lifted.
    """
    if not reason.strip():
        raise InvalidInput("give the reason the record changes hands")
    record = find_pool_record(session, record_id)
    user = _user(session, to_user_id)
    if not user.is_active:
        raise InvalidInput(f"user {user.name} is not active")
    if record.owner_id == to_user_id:
        raise InvalidInput(f"{record_id} is already held by {user.name}")
    return _write_owner(
        session,
        record,
        {"owner_id": to_user_id, "owned_since": now, "pool_locked": False},
        action="transfer",
        actor_id=actor_id,
        now=now,
        reason=reason.strip(),
    )


def _write_owner(
    session: Session,
    record: Account | Lead,
    values: dict[str, Any],
    *,
    action: str,
    actor_id: UUID | None,
    now: datetime,
    reason: str | None,
) -> Account | Lead:
    """Write ``values`` (owner, lock, pool) to the record, as long as its owner is still the one
    read, and log the change in ``ownership_history``; the record as written."""
    model: PoolModel = type(record)
    written = session.execute(
        update(model)
        .where(model.id == record.id, model.owner_id.is_not_distinct_from(record.owner_id))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput(f"{record.id} changed hands meanwhile; look again and retry")
    _record_history(
        session,
        entity=model.__tablename__,
        record_id=record.id,
        pool=values.get("pool", record.pool),
        action=action,
        from_owner=record.owner_id,
        to_owner=values.get("owner_id", record.owner_id),
        actor_id=actor_id,
        now=now,
        reason=reason,
    )
    session.flush()
    return find_pool_record(session, record.id)


def set_locked(
    session: Session,
    record_id: UUID,
    locked: bool,
    *,
    actor_id: UUID | None,
    now: datetime,
    reason: str | None = None,
) -> Account | Lead:
    """Lock (or unlock) an owned record to its owner: a locked record is never recycled."""
    record = find_pool_record(session, record_id)
    if locked and record.owner_id is None:
        raise InvalidInput(f"{record_id} has no owner to lock it to")
    if record.pool_locked == locked:
        return record
    return _write_owner(
        session,
        record,
        {"pool_locked": locked},
        action="lock" if locked else "unlock",
        actor_id=actor_id,
        now=now,
        reason=reason,
    )


OUTSIDE_CHANGES_CONSUMER = "ownership"
"""The change-feed cursor of :func:`record_outside_owner_changes`."""


def record_outside_owner_changes(engine: Engine, *, batch_size: int = 5000) -> int:
    """Log the owner changes made outside the pool rules, and start the new owners' clocks.

    A sync that maps an owner field, a person editing a record, or plain SQL can give an
    account or a lead a new owner. Such a change is in ``change_log`` like any write, but
    without ``owned_since``: the rules always set both. Each one found in the feed since the
    last call becomes a row of ``ownership_history`` (action ``change``, with the origin and
    actor of the write), and the record's ``owned_since`` becomes the time of the change, so
    the new owner is not taken for a neglectful one. Returns how many were found.
    """
    found = 0
    while True:
        with open_session(engine, origin=ORIGIN_CRM) as session:
            cursor = lock_cursor(session, OUTSIDE_CHANGES_CONSUMER)
            changes, after = read_changes(
                session,
                FeedPosition.from_json(cursor.position),
                entities=(Account.__tablename__, Lead.__tablename__),
                limit=batch_size,
            )
            for change in changes:
                if _is_outside_owner_change(change):
                    _adopt_outside_change(session, change)
                    found += 1
            cursor.position = after.to_json()
        if len(changes) < batch_size:
            return found


def _is_outside_owner_change(change: Change) -> bool:
    changed = change.changed or {}
    return (
        change.op == "update"
        and changed.get("owner_id") is not None
        and "owned_since" not in changed
    )


def _adopt_outside_change(session: Session, change: Change) -> None:
    model: PoolModel = Account if change.entity == Account.__tablename__ else Lead
    owner = UUID(str((change.changed or {})["owner_id"]))
    previous = session.scalar(
        select(OwnershipHistory.to_owner_id)
        .where(
            OwnershipHistory.entity == change.entity,
            OwnershipHistory.record_id == change.record_id,
        )
        .order_by(OwnershipHistory.at.desc(), OwnershipHistory.id.desc())
        .limit(1)
    )
    record_pool = session.scalar(select(model.pool).where(model.id == change.record_id))
    _record_history(
        session,
        entity=change.entity,
        record_id=change.record_id,
        pool=record_pool,
        action="change",
        from_owner=previous,
        to_owner=owner,
        actor_id=change.actor_id,
        now=change.changed_at,
        reason=f"owner set outside the pool rules (by {change.origin})",
    )
    session.execute(
        update(model)
        .where(model.id == change.record_id, model.owner_id == owner)
        .values(owned_since=change.changed_at)
        .execution_options(synchronize_session=False)
    )


def history(session: Session, record_id: UUID) -> list[OwnershipHistory]:
    """The record's ownership history, oldest first."""
    return list(
        session.scalars(
            select(OwnershipHistory)
            .where(OwnershipHistory.record_id == record_id)
            .order_by(OwnershipHistory.at, OwnershipHistory.id)
        )
    )


def _scope_condition(model: PoolModel, pool: PoolSettings) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    for field, values in pool.scope.items():
        column = getattr(model, field, None)
        if column is None:
            return literal(False)
        conditions.append(func.trim(column).in_([value.strip() for value in values]))
    return and_(true(), *conditions)


def adopt(
    session: Session, settings: RulesSettings, pools: Iterable[str] | None = None
) -> dict[str, int]:
    """Put records that belong to no pool into the first pool (in file order) whose scope they
    match; return how many each pool took. Pools without a scope take nothing."""
    chosen = set(pools) if pools is not None else None
    adopted: dict[str, int] = {}
    for pool in settings.pools:
        if not pool.scope or (chosen is not None and pool.name not in chosen):
            continue
        model = pool_model(pool)
        result = session.execute(
            update(model)
            .where(model.pool.is_(None), _live(model), _scope_condition(model, pool))
            .values(pool=pool.name)
            .execution_options(synchronize_session=False)
        )
        adopted[pool.name] = int(result.rowcount)  # type: ignore[attr-defined]
    return adopted


def _basis(model: PoolModel) -> Any:
    """When the owner's clock started: when they got the record, else its creation."""
    return func.coalesce(model.owned_since, model.created_at)


def _no_followup_since(model: PoolModel, pool: PoolSettings, cut: datetime, now: datetime) -> Any:
    linked = (
        Activity.account_id == Account.id
        if model is Account
        else and_(Activity.related_type == Lead.__tablename__, Activity.related_id == Lead.id)
    )
    return ~exists().where(
        linked,
        Activity.owner_id == model.owner_id,
        Activity.type.in_(pool.followup_types),
        Activity.occurred_at > cut,
        Activity.occurred_at <= now,
        Activity.deleted_at.is_(None),
    )


def _no_won_deal_since(model: PoolModel, cut: datetime) -> Any:
    if model is Lead:
        return true()  # an open lead has not been converted
    return ~exists().where(
        Opportunity.account_id == Account.id,
        Opportunity.stage_id == Stage.id,
        Stage.is_won.is_(True),
        Opportunity.closed_at > cut,
        Opportunity.deleted_at.is_(None),
    )


Criterion = Literal["no_followup", "no_won_deal"]


def _criteria(pool: PoolSettings) -> list[tuple[Criterion, int, str]]:
    found: list[tuple[Criterion, int, str]] = []
    days = pool.recycle.no_followup_days
    if days is not None:
        found.append(("no_followup", days, f"no follow-up for {days} days"))
    days = pool.recycle.no_won_deal_days
    if days is not None:
        noun = "won deal" if pool.entity == "accounts" else "conversion"
        found.append(("no_won_deal", days, f"no {noun} for {days} days"))
    return found


def _due(
    model: PoolModel,
    pool: PoolSettings,
    *,
    criterion: Criterion,
    days: int,
    at: datetime,
    now: datetime,
) -> ColumnElement[bool]:
    """Records held under ``pool`` that the criterion makes due for recycling at time ``at``
    (given what is known at ``now``)."""
    cut = at - timedelta(days=days)
    quiet = (
        _no_followup_since(model, pool, cut, now)
        if criterion == "no_followup"
        else _no_won_deal_since(model, cut)
    )
    return and_(
        model.pool == pool.name,
        model.owner_id.is_not(None),
        model.pool_locked.is_(False),
        _live(model),
        _basis(model) <= cut,
        quiet,
    )


def _any_due(
    model: PoolModel, pool: PoolSettings, at: datetime, now: datetime
) -> ColumnElement[bool]:
    return or_(
        *(_due(model, pool, criterion=c, days=d, at=at, now=now) for c, d, _ in _criteria(pool))
    )


def recycle(
    session: Session,
    settings: RulesSettings,
    *,
    now: datetime,
    pools: Iterable[str] | None = None,
    dry_run: bool = False,
) -> RecycleReport:
    """Take back what neglectful owners hold, and warn the owners of what is next.

    Set-wise, per pool and criterion: one statement records the recycles in
    ``ownership_history`` and clears the owners. Then the owners of records due within
    ``warn_days`` get one notification per pool (in the outbox, see
    :mod:`crm_core.rules.notify`). A dry run counts without writing.
    """
    chosen = set(pools) if pools is not None else None
    for name in chosen or ():
        settings.pool(name)  # ConfigError for an unknown pool
    adopted = {} if dry_run else adopt(session, settings, chosen)
    recycled: dict[str, int] = {}
    warned: dict[str, int] = {}
    notifications = 0
    for pool in settings.pools:
        if not pool.recycle.enabled or (chosen is not None and pool.name not in chosen):
            continue
        model = pool_model(pool)
        if dry_run:
            recycled[pool.name] = int(
                session.scalar(
                    select(func.count()).select_from(model).where(_any_due(model, pool, now, now))
                )
                or 0
            )
            warned[pool.name] = len(_upcoming(session, pool, now, only_unwarned=True))
            continue
        recycled[pool.name] = sum(
            _take_back(session, model, pool, criterion=criterion, days=days, reason=reason, now=now)
            for criterion, days, reason in _criteria(pool)
        )
        upcoming = _upcoming(session, pool, now, only_unwarned=True)
        warned[pool.name] = len(upcoming)
        notifications += _warn(session, settings, pool, upcoming, now)
        log.info("pool %s: %d recycled, %d warned", pool.name, recycled[pool.name], len(upcoming))
    session.flush()
    return RecycleReport(recycled, warned, adopted, notifications, dry_run)


def _take_back(
    session: Session,
    model: PoolModel,
    pool: PoolSettings,
    *,
    criterion: Criterion,
    days: int,
    reason: str,
    now: datetime,
) -> int:
    """Recycle the records one criterion makes due: history rows and owner cleared together."""
    due = _due(model, pool, criterion=criterion, days=days, at=now, now=now)
    entity = model.__tablename__
    history_columns = [
        "entity",
        "record_id",
        "pool",
        "action",
        "from_owner_id",
        "to_owner_id",
        "actor_id",
        "rule",
        "reason",
        "at",
    ]

    def history_select(source: Any) -> Any:
        return select(
            literal(entity),
            source.c.id,
            literal(pool.name),
            literal("recycle"),
            source.c.owner_id,
            literal(None, type_=OwnershipHistory.to_owner_id.type),
            literal(None, type_=OwnershipHistory.actor_id.type),
            literal(pool.name),
            literal(reason),
            literal(now, type_=OwnershipHistory.at.type),
        )

    if is_postgres(session):
        # One statement: lock the due rows, clear their owners, log what was taken from whom.
        locked = (
            select(model.id, model.owner_id).where(due).with_for_update(skip_locked=True).cte("due")
        )
        cleared = (
            update(model)
            .where(model.id == locked.c.id)
            .values(owner_id=None, owned_since=None)
            .returning(model.id)
            .cte("cleared")
        )
        source = select(locked.c.id, locked.c.owner_id).join(cleared, cleared.c.id == locked.c.id)
        statement = (
            insert(OwnershipHistory)
            .from_select(history_columns, history_select(source.subquery()))
            .returning(OwnershipHistory.id)
        )
        # With data-modifying CTEs the driver reports no row count: count what was logged.
        return len(session.execute(statement).all())
    # SQLite: the session holds the write lock, so nothing changes between the two statements.
    candidates = select(model.id, model.owner_id).where(due).subquery()
    inserted = session.execute(
        insert(OwnershipHistory).from_select(history_columns, history_select(candidates))
    )
    taken = (
        select(OwnershipHistory.record_id)
        .where(
            OwnershipHistory.entity == entity,
            OwnershipHistory.action == "recycle",
            OwnershipHistory.rule == pool.name,
            OwnershipHistory.at == now,
        )
        .scalar_subquery()
    )
    session.execute(
        update(model)
        .where(model.id.in_(taken), model.owner_id.is_not(None))
        .values(owner_id=None, owned_since=None)
        .execution_options(synchronize_session=False)
    )
    return int(inserted.rowcount)  # type: ignore[attr-defined]


def _upcoming(
    session: Session, pool: PoolSettings, now: datetime, *, only_unwarned: bool = False
) -> list[UpcomingRecycle]:
    """Records of the pool due within ``warn_days`` (not due yet), with their due time."""
    model = pool_model(pool)
    horizon = now + timedelta(days=pool.recycle.warn_days)
    if horizon <= now:
        return []
    condition = and_(_any_due(model, pool, horizon, now), ~_any_due(model, pool, now, now))
    if only_unwarned:
        condition = and_(
            condition,
            ~exists().where(
                OwnershipHistory.entity == model.__tablename__,
                OwnershipHistory.record_id == model.id,
                OwnershipHistory.action == "warn",
                OwnershipHistory.at > now - timedelta(days=pool.recycle.warn_days),
            ),
        )
    last_followup = (
        select(func.max(Activity.occurred_at))
        .where(
            Activity.account_id == Account.id
            if model is Account
            else and_(Activity.related_type == Lead.__tablename__, Activity.related_id == Lead.id),
            Activity.owner_id == model.owner_id,
            Activity.type.in_(pool.followup_types),
            Activity.occurred_at <= now,
            Activity.deleted_at.is_(None),
        )
        .scalar_subquery()
    )
    last_won: Any = literal(None, type_=Opportunity.closed_at.type)
    if model is Account:
        last_won = (
            select(func.max(Opportunity.closed_at))
            .join(Stage, Stage.id == Opportunity.stage_id)
            .where(
                Opportunity.account_id == Account.id,
                Stage.is_won.is_(True),
                Opportunity.deleted_at.is_(None),
            )
            .scalar_subquery()
        )
    rows = session.execute(
        select(
            model.id,
            _label_column(model),
            model.owner_id,
            _basis(model).label("basis"),
            last_followup.label("last_followup"),
            last_won.label("last_won"),
        )
        .where(condition)
        .order_by(model.owner_id, model.id)
    ).all()
    found: list[UpcomingRecycle] = []
    for record_id, label, owner_id, basis, followup, won in rows:
        dues: list[tuple[datetime, str]] = []
        for criterion, days, reason in _criteria(pool):
            last = followup if criterion == "no_followup" else won
            start = max(basis, last) if last is not None else basis
            dues.append((start + timedelta(days=days), reason))
        due_at, reason = min(dues)
        found.append(
            UpcomingRecycle(
                pool.entity, record_id, label or "", pool.name, owner_id, due_at, reason
            )
        )
    return found


def upcoming_recycles(
    session: Session, settings: RulesSettings, now: datetime
) -> list[UpcomingRecycle]:
    """Every held record that its pool will take back within the pool's ``warn_days``."""
    found: list[UpcomingRecycle] = []
    for pool in settings.pools:
        if pool.recycle.enabled:
            found.extend(_upcoming(session, pool, now))
    return found


def _warn(
    session: Session,
    settings: RulesSettings,
    pool: PoolSettings,
    upcoming: list[UpcomingRecycle],
    now: datetime,
) -> int:
    """Log a ``warn`` for each record and queue one notification per owner."""
    if not upcoming:
        return 0
    session.execute(
        insert(OwnershipHistory),
        [
            {
                "entity": item.entity,
                "record_id": item.record_id,
                "pool": pool.name,
                "action": "warn",
                "from_owner_id": item.owner_id,
                "to_owner_id": item.owner_id,
                "rule": pool.name,
                "reason": f"{item.reason}: recycled {item.due_at:%Y-%m-%d %H:%M} UTC",
                "at": now,
            }
            for item in upcoming
        ],
    )
    per_owner: dict[UUID, list[UpcomingRecycle]] = defaultdict(list)
    for item in upcoming:
        per_owner[item.owner_id].append(item)
    sent = 0
    for owner_id, items in per_owner.items():
        text = _warning_text(settings, pool, items)
        stored = notify(
            session,
            settings.notifications,
            kind="recycle_warning",
            text=text,
            channel=pool.channel,
            recipient_id=owner_id,
            key=f"recycle_warning:{pool.name}:{owner_id}:{now:%Y%m%dT%H%M%S}",
            now=now,
        )
        sent += int(stored)
    return sent


def _warning_text(settings: RulesSettings, pool: PoolSettings, items: list[UpcomingRecycle]) -> str:
    noun = "客户 accounts" if pool.entity == "accounts" else "线索 leads"
    lines = [f"【{pool.label}】{len(items)} {noun} will return to the pool soon / 即将被收回:"]
    for item in sorted(items, key=lambda i: i.due_at)[:_WARNING_LIST_LIMIT]:
        local = item.due_at.astimezone(settings.zone)
        lines.append(f"- {item.label} ({item.reason}) → {local:%Y-%m-%d %H:%M}")
    if len(items) > _WARNING_LIST_LIMIT:
        more = len(items) - _WARNING_LIST_LIMIT
        lines.append(f"... and {more} more / 另有 {more} 条")
    lines.append("Log a follow-up to keep them. 跟进即可保留。")
    return "\n".join(lines)


def pool_status(session: Session, settings: RulesSettings, now: datetime) -> list[PoolStatus]:
    """Each pool's numbers."""
    statuses: list[PoolStatus] = []
    for pool in settings.pools:
        model = pool_model(pool)
        in_pool = and_(model.pool == pool.name, _live(model))
        waiting, held, locked = session.execute(
            select(
                func.count().filter(model.owner_id.is_(None)),
                func.count().filter(model.owner_id.is_not(None)),
                func.count().filter(model.pool_locked.is_(True), model.owner_id.is_not(None)),
            ).where(in_pool)
        ).one()
        due_soon = len(_upcoming(session, pool, now)) if pool.recycle.enabled else 0
        statuses.append(PoolStatus(pool, int(waiting), int(held), int(locked), due_soon))
    return statuses
