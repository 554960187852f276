"""Reminders: what each salesperson has coming up, collected per owner and sent to them in
their team's chat once a day (``tongbu reminders send``, the morning reminders DAG).

An owner's reminders (:func:`collect_reminders`, for a ``horizon`` after ``now``):

* **tasks**: their open tasks (not done, not cancelled, not deleted) that are due or whose
  reminder time comes within the horizon (``due_at`` or ``remind_at`` at or before
  ``now + horizon``); those already past their due time are included and flagged *overdue*;
* **follow-ups**: their planned follow-ups, activities of type ``follow_up`` set within the
  horizon (``now <= occurred_at <= now + horizon``);
* **recycle warnings**: the records their public pool will take back soon, as
  :func:`crm_core.rules.pool.upcoming_recycles` lists them (within each pool's ``warn_days``).

Only active users get reminders, and only those with something to be reminded of. Each kind is
read with one query for every owner at once.

:func:`send_reminders` queues one notification per owner (:func:`crm_core.rules.notify.notify`)
to the default channel, @-mentioning the owner, with the key
``reminders:<owner id>:<local date>`` (the date in the owner's own time zone, ``users.time_zone``,
else the rules'; times in the message too): running it again the
same day queues nothing more. Then it delivers what is due.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from crm_core.db import ORIGIN_CRM, create_engine, open_session
from crm_core.errors import InvalidInput
from crm_core.models import Account, Activity, ActivityType, Task, TaskStatus, User, utcnow
from crm_core.rules.notify import DeliveryReport, deliver, notify
from crm_core.rules.pool import UpcomingRecycle, upcoming_recycles
from crm_core.rules.settings import RulesSettings, load_rules

__all__ = [
    "KIND",
    "FollowUpReminder",
    "OwnerReminders",
    "RemindersReport",
    "TaskReminder",
    "collect_reminders",
    "parse_horizon",
    "reminder_key",
    "reminders_job",
    "render",
    "send_reminders",
]

KIND = "reminders"
"""The kind of the reminder notifications."""

log = logging.getLogger(__name__)

_SECTION_LIMIT = 10
"""Items of one kind named one by one in a message; the rest are counted."""

_HORIZON = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True)
class TaskReminder:
    """An open task due (or to be reminded of) within the horizon."""

    task_id: UUID
    title: str
    due_at: datetime | None
    remind_at: datetime | None
    overdue: bool
    """Its due time has passed."""

    @property
    def at(self) -> datetime:
        """When it is due, else when its reminder is set."""
        when = self.due_at or self.remind_at
        if when is None:  # never: the query takes tasks with one of them
            raise ValueError(f"task {self.task_id} has neither a due nor a reminder time")
        return when


@dataclass(frozen=True)
class FollowUpReminder:
    """A planned follow-up within the horizon."""

    activity_id: UUID
    subject: str
    at: datetime
    account: str | None
    """The name of the account it concerns, if any."""


@dataclass(frozen=True)
class OwnerReminders:
    """One user's reminders, each kind in time order."""

    owner_id: UUID
    name: str
    email: str | None
    phone: str | None
    tasks: tuple[TaskReminder, ...] = ()
    follow_ups: tuple[FollowUpReminder, ...] = ()
    recycles: tuple[UpcomingRecycle, ...] = ()
    time_zone: str | None = None
    """The user's own time zone (``users.time_zone``), if set."""

    def zone(self, default: tzinfo) -> tzinfo:
        """The time zone to show the user times in: their own when it is a known one, else
        ``default`` (the rules file's)."""
        if self.time_zone:
            try:
                return ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("user %s has an unknown time zone %r", self.name, self.time_zone)
        return default

    @property
    def overdue(self) -> int:
        """How many of the tasks are overdue."""
        return sum(task.overdue for task in self.tasks)

    @property
    def count(self) -> int:
        """How many reminders in all."""
        return len(self.tasks) + len(self.follow_ups) + len(self.recycles)


@dataclass(frozen=True)
class RemindersReport:
    """What :func:`send_reminders` did: the reminders collected, the notifications ``queued``
    (one per owner), those ``skipped`` (the owner was already reminded that day, or no channel
    is configured), and the delivery that followed (``None`` for a dry run)."""

    reminders: tuple[OwnerReminders, ...]
    queued: int = 0
    skipped: int = 0
    delivery: DeliveryReport | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly counts, for a job's summary."""
        return {
            "owners": len(self.reminders),
            "tasks": sum(len(owner.tasks) for owner in self.reminders),
            "overdue": sum(owner.overdue for owner in self.reminders),
            "follow_ups": sum(len(owner.follow_ups) for owner in self.reminders),
            "recycles": sum(len(owner.recycles) for owner in self.reminders),
            "queued": self.queued,
            "skipped": self.skipped,
            "delivery": self.delivery.as_dict() if self.delivery is not None else None,
            "dry_run": self.dry_run,
        }


def parse_horizon(text: str) -> timedelta:
    """``"1d"``, ``"12h"``, ``"30m"`` or a sum such as ``"1d12h"`` as a time span."""
    compact = text.strip().lower()
    parts = _HORIZON.findall(compact)
    if not compact or _HORIZON.sub("", compact).strip():
        raise InvalidInput(
            f"{text!r} is not a horizon: give a number of days, hours or minutes such as 1d, "
            "12h or 1d12h"
        )
    return sum(
        (timedelta(**{_UNITS[unit]: int(number)}) for number, unit in parts), start=timedelta()
    )


def reminder_key(owner_id: UUID, now: datetime, zone: tzinfo) -> str:
    """The idempotency key of an owner's reminders on the local day of ``now``."""
    return f"{KIND}:{owner_id}:{now.astimezone(zone).date().isoformat()}"


def collect_reminders(
    session: Session,
    settings: RulesSettings,
    now: datetime,
    horizon: timedelta,
    recycles: Iterable[UpcomingRecycle] | None = None,
) -> list[OwnerReminders]:
    """Each active user's reminders within ``horizon`` after ``now``, by name; users with none
    are left out. ``recycles`` are the upcoming recycles to warn of (default: the pools'
    :func:`~crm_core.rules.pool.upcoming_recycles`). Writes nothing."""
    until = now + horizon
    if recycles is None:
        recycles = _upcoming_recycles(session, settings, now)
    tasks = _tasks(session, now, until)
    follow_ups = _follow_ups(session, now, until)
    warned: dict[UUID, list[UpcomingRecycle]] = defaultdict(list)
    for item in recycles:
        warned[item.owner_id].append(item)
    owner_ids = set(tasks) | set(follow_ups) | set(warned)
    if not owner_ids:
        return []
    users = session.execute(
        select(User.id, User.name, User.email, User.phone, User.time_zone)
        .where(User.id.in_(sorted(owner_ids)), User.is_active.is_(True), User.deleted_at.is_(None))
        .order_by(User.name, User.id)
    )
    return [
        OwnerReminders(
            owner_id=user_id,
            name=name,
            email=email,
            phone=phone,
            tasks=tuple(sorted(tasks.get(user_id, ()), key=lambda t: (t.at, t.title))),
            follow_ups=tuple(sorted(follow_ups.get(user_id, ()), key=lambda f: f.at)),
            recycles=tuple(sorted(warned.get(user_id, ()), key=lambda r: (r.due_at, r.label))),
            time_zone=time_zone,
        )
        for user_id, name, email, phone, time_zone in users
    ]


def _upcoming_recycles(
    session: Session, settings: RulesSettings, now: datetime
) -> list[UpcomingRecycle]:
    if not any(pool.recycle.enabled for pool in settings.pools):
        return []
    return upcoming_recycles(session, settings, now)


def _tasks(session: Session, now: datetime, until: datetime) -> dict[UUID, list[TaskReminder]]:
    rows = session.execute(
        select(Task.owner_id, Task.id, Task.title, Task.due_at, Task.remind_at)
        .join(User, User.id == Task.owner_id)
        .where(
            Task.status == TaskStatus.OPEN,
            Task.deleted_at.is_(None),
            or_(Task.due_at <= until, Task.remind_at <= until),
            User.is_active.is_(True),
        )
    )
    found: dict[UUID, list[TaskReminder]] = defaultdict(list)
    for owner_id, task_id, title, due_at, remind_at in rows:
        if owner_id is None:  # never: the join needs it
            continue
        overdue = due_at is not None and due_at < now
        found[owner_id].append(TaskReminder(task_id, title, due_at, remind_at, overdue))
    return found


def _follow_ups(
    session: Session, now: datetime, until: datetime
) -> dict[UUID, list[FollowUpReminder]]:
    rows = session.execute(
        select(Activity.owner_id, Activity.id, Activity.subject, Activity.occurred_at, Account.name)
        .join(User, User.id == Activity.owner_id)
        .outerjoin(Account, Account.id == Activity.account_id)
        .where(
            Activity.type == ActivityType.FOLLOW_UP,
            Activity.deleted_at.is_(None),
            Activity.occurred_at >= now,
            Activity.occurred_at <= until,
            User.is_active.is_(True),
        )
    )
    found: dict[UUID, list[FollowUpReminder]] = defaultdict(list)
    for owner_id, activity_id, subject, occurred_at, account in rows:
        if owner_id is None:  # never: the join needs it
            continue
        found[owner_id].append(FollowUpReminder(activity_id, subject, occurred_at, account))
    return found


def render(owner_reminders: OwnerReminders, zone: tzinfo) -> str:
    """The chat message of one owner's reminders, times in ``zone``."""
    reminders = owner_reminders
    counts = [
        f"{len(reminders.tasks)} 任务 tasks" if reminders.tasks else "",
        f"{reminders.overdue} 逾期 overdue" if reminders.overdue else "",
        f"{len(reminders.follow_ups)} 跟进 follow-ups" if reminders.follow_ups else "",
        f"{len(reminders.recycles)} 回收预警 recycle warnings" if reminders.recycles else "",
    ]
    lines = [f"【提醒 Reminders】{reminders.name}: {', '.join(c for c in counts if c)}"]

    def when(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"

    if reminders.tasks:
        lines.append("任务 Tasks:")
        lines += _listed(
            f"- {when(task.at)} {task.title}" + (" ⚠ 逾期 overdue" if task.overdue else "")
            for task in reminders.tasks
        )
    if reminders.follow_ups:
        lines.append("跟进 Follow-ups:")
        lines += _listed(
            f"- {when(item.at)} {item.subject}" + (f" ({item.account})" if item.account else "")
            for item in reminders.follow_ups
        )
    if reminders.recycles:
        lines.append("公海回收 Returning to the pool:")
        lines += _listed(
            f"- {item.label} [{item.pool}] → {when(item.due_at)} ({item.reason})"
            for item in reminders.recycles
        )
    return "\n".join(lines)


def _listed(lines: Iterable[str]) -> list[str]:
    every = list(lines)
    shown = every[:_SECTION_LIMIT]
    if len(every) > _SECTION_LIMIT:
        more = len(every) - _SECTION_LIMIT
        shown.append(f"... and {more} more / 另有 {more} 条")
    return shown


def send_reminders(
    engine: Engine,
    settings: RulesSettings,
    now: datetime,
    horizon: timedelta,
    *,
    dry_run: bool = False,
) -> RemindersReport:
    """Queue one reminders notification per owner (once per local day) to the default
    channel, then deliver what is due. A dry run collects and writes nothing."""
    with open_session(engine) as session:
        collected = collect_reminders(session, settings, now, horizon)
    if dry_run:
        return RemindersReport(tuple(collected), dry_run=True)
    queued = 0
    with open_session(engine, origin=ORIGIN_CRM) as session:
        for owner in collected:
            queued += int(
                notify(
                    session,
                    settings.notifications,
                    kind=KIND,
                    text=render(owner, owner.zone(settings.zone)),
                    channel=None,
                    recipient_id=owner.owner_id,
                    key=reminder_key(owner.owner_id, now, owner.zone(settings.zone)),
                    now=now,
                )
            )
    delivery = deliver(engine, settings.notifications, now=now)
    return RemindersReport(
        tuple(collected), queued=queued, skipped=len(collected) - queued, delivery=delivery
    )


def reminders_job(
    horizon: str = "1d",
    *,
    rules: str | Path | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """The morning reminders (a ``tongbu`` command or an Airflow task): queue and deliver each
    owner's reminders for the next ``horizon``; return the counts. Notifications that cannot
    be delivered stay in the outbox to be retried; they do not fail the job."""
    settings = load_rules(rules)
    span = parse_horizon(horizon)
    engine = create_engine(database_url)
    try:
        report = send_reminders(engine, settings, utcnow(), span)
    finally:
        engine.dispose()
    return report.as_dict()
