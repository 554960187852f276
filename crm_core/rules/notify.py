"""The notification outbox: rules tell a sales team something (a lead assigned, a recycle
coming, the morning reminders) by writing a row, and :func:`deliver` posts what is due to the
team's group chat through the messaging port (:mod:`crm_core.messaging`).

Writing and sending are apart, so that a chat robot that is down or slow never blocks, nor
rolls back, the rule that had something to say:

* :func:`notify` adds a :class:`~crm_core.models.Notification` in the caller's transaction: it
  is stored when the rule's change commits, and not at all when it rolls back. It never sends
  and never raises for a delivery reason. A ``key`` makes it idempotent (``INSERT ... ON
  CONFLICT DO NOTHING``, safe when two rules race): a rule that runs twice announces once.
* :func:`deliver` sends the pending notifications that are due, oldest first, each in its own
  short transactions: it *claims* a row (moves its ``next_attempt_at`` a lease ahead and
  commits; on PostgreSQL the row is picked ``FOR UPDATE SKIP LOCKED``, so two deliverers never
  claim the same one), posts it with no transaction open (a slow robot holds no lock, which
  matters on SQLite's single writer), then records the outcome and commits. A crash loses
  nothing: a claimed row that was not settled is due again when its lease ends, so at most the
  one message in flight is sent twice.

What a failure does to a notification:

* the service refused it for good (:class:`~crm_core.messaging.MessageRejected`: a bad key or
  signature, too long...): ``failed`` at once, with the service's errcode and errmsg;
* the robot's rate limit (:class:`~crm_core.messaging.MessagingThrottled`): still ``pending``,
  due again after the wait the service asked for or the backoff, whichever is longer; not an
  attempt;
* anything else (the service unreachable, the channel's webhook not set): one more attempt,
  due again after ``backoff_seconds * 2 ** (attempts - 1)``; ``failed`` when ``max_attempts``
  are spent.

After a throttle or a failure that is not a refusal the channel is left alone for the rest of
the call: its other notifications stay pending, untouched, for the next one.

Webhooks carry the robot's credential: errors are stored and logged through
:func:`~crm_core.messaging.redact`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crm_core.db import ORIGIN_CRM, is_postgres, open_session
from crm_core.messaging import (
    Message,
    MessageRejected,
    MessagingError,
    MessagingThrottled,
    Messenger,
    messenger_types,
    redact,
)
from crm_core.models import Notification, User, utcnow
from crm_core.rules.settings import NotificationSettings

__all__ = [
    "FAILED",
    "LEASE",
    "PENDING",
    "SENT",
    "STATUSES",
    "DeliveryReport",
    "deliver",
    "list_notifications",
    "notify",
    "open_messenger",
]

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENT, FAILED)
"""A notification's statuses."""

LEASE = timedelta(minutes=10)
"""How long a claimed notification is left to its deliverer before it is due again (far more
than a robot's three tries with their timeouts take)."""


def notify(
    session: Session,
    settings: NotificationSettings,
    *,
    kind: str,
    text: str,
    channel: str | None,
    recipient_id: UUID | None = None,
    key: str | None = None,
    now: datetime,
) -> bool:
    """Add a notification to the outbox in the caller's transaction; return whether one was
    stored.

    ``channel`` (else the settings' default channel) is the chat it goes to; with none, the
    notification is only logged. ``recipient_id`` is the user it is for: they are @-mentioned
    by their mobile number when they have one. With a ``key`` already in the outbox nothing is
    stored. Nothing is sent: :func:`deliver` does that.
    """
    chosen = settings.channel_for(channel)
    if chosen is None:
        log.info("%s notification not stored (no channel configured): %s", kind, text)
        return False
    mentions: list[str] = []
    if recipient_id is not None:
        phone = session.scalar(select(User.phone).where(User.id == recipient_id))
        if phone and phone.strip():
            mentions.append(phone.strip())
    values: dict[str, Any] = {
        "key": key,
        "kind": kind,
        "channel": chosen,
        "recipient_id": recipient_id,
        "text": text,
        "mentions": mentions,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    if is_postgres(session):
        statement = (
            pg_insert(Notification)
            .values(values)
            .on_conflict_do_nothing(index_elements=[Notification.key])
            .returning(Notification.id)
        )
    else:
        statement = (
            sqlite_insert(Notification)
            .values(values)
            .on_conflict_do_nothing(index_elements=[Notification.key])
            .returning(Notification.id)
        )
    stored = session.execute(statement).scalar_one_or_none() is not None
    if not stored:
        log.debug("%s notification %s already in the outbox", kind, key)
    return stored


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver` call did: notifications ``sent``, ``retried`` (an attempt
    failed or the robot throttled; due again later), ``failed`` (for good, in this call), and
    how many are still ``pending`` in the outbox afterwards (due or not)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    pending: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts, for a job's summary."""
        return asdict(self)


@dataclass(frozen=True)
class _Claimed:
    id: int
    channel: str
    text: str
    mentions: tuple[str, ...]
    attempts: int


def open_messenger(settings: NotificationSettings, channel: str) -> Messenger:
    """A messenger for ``channel`` from its webhook (and secret) in the environment; a
    :class:`MessagingError` saying what is missing when it cannot be made."""
    found = settings.channels.get(channel)
    if found is None:
        raise MessagingError(f"the channel {channel!r} is not defined in the notification settings")
    webhook = found.webhook()
    if webhook is None:
        raise MessagingError(f"{found.webhook_env} is not set")
    factory = messenger_types().get(found.kind)
    if factory is None:
        raise MessagingError(f"no {found.kind} messenger is installed")
    if found.kind != "dingtalk":
        return cast("Messenger", factory(webhook))
    secret = found.secret()
    if found.secret_env is not None and secret is None:
        raise MessagingError(f"{found.secret_env} is not set")
    return cast("Messenger", factory(webhook, secret))


def deliver(
    engine: Engine,
    settings: NotificationSettings,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    messengers: Mapping[str, Messenger] | None = None,
) -> DeliveryReport:
    """Send the pending notifications due at ``now`` (default: the current time), oldest
    first, at most ``limit`` of them; settle each in its own transaction (see the module's
    description). ``messengers`` gives the messenger of a channel instead of opening one from
    the settings (the caller closes those). Never raises for a delivery reason."""
    delivery = _Delivery(engine, settings, now if now is not None else utcnow(), messengers)
    try:
        while limit is None or delivery.attempted < limit:
            claimed = delivery.claim()
            if claimed is None:
                break
            delivery.send(claimed)
    finally:
        delivery.close()
    with open_session(engine) as session:
        pending = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == PENDING)
        )
    return DeliveryReport(**delivery.counts, pending=int(pending or 0))


class _Delivery:
    """One :func:`deliver` call: its clock, its messengers (one per channel) and the channels
    it leaves alone from now on (throttled, unreachable or not configured)."""

    def __init__(
        self,
        engine: Engine,
        settings: NotificationSettings,
        now: datetime,
        given: Mapping[str, Messenger] | None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self.given = dict(given or {})
        self.opened: dict[str, Messenger] = {}
        self.resting: set[str] = set()
        self.counts = {"sent": 0, "retried": 0, "failed": 0}

    @property
    def attempted(self) -> int:
        return sum(self.counts.values())

    def claim(self) -> _Claimed | None:
        """Take the oldest due notification of a channel not resting, for a lease; commit."""
        with open_session(self.engine, origin=ORIGIN_CRM) as session:
            statement = (
                select(Notification)
                .where(Notification.status == PENDING, Notification.next_attempt_at <= self.now)
                .order_by(Notification.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if self.resting:
                statement = statement.where(Notification.channel.not_in(sorted(self.resting)))
            row = session.scalars(statement).first()
            if row is None:
                return None
            row.next_attempt_at = self.now + LEASE
            mentions = tuple(str(mobile) for mobile in row.mentions)
            return _Claimed(row.id, row.channel, row.text, mentions, row.attempts)

    def messenger(self, channel: str) -> Messenger:
        """The channel's messenger: the one given, else one opened on first use."""
        found = self.given.get(channel) or self.opened.get(channel)
        if found is None:
            found = self.opened[channel] = open_messenger(self.settings, channel)
        return found

    def send(self, claimed: _Claimed) -> None:
        """Post one claimed notification and record the outcome."""
        try:
            self.messenger(claimed.channel).send(Message(claimed.text, mentions=claimed.mentions))
        except MessageRejected as refused:
            error = redact(f"{refused.errcode} {refused.errmsg}")
            log.warning("notification %s refused by %s: %s", claimed.id, claimed.channel, error)
            self._settle(
                claimed, "failed", status=FAILED, attempts=claimed.attempts + 1, last_error=error
            )
        except MessagingThrottled as throttled:
            wait = max(throttled.retry_after or 0.0, self.settings.backoff_seconds)
            log.info(
                "notification %s throttled by %s; due again in %gs",
                claimed.id,
                claimed.channel,
                wait,
            )
            self.resting.add(claimed.channel)
            self._settle(
                claimed,
                "retried",
                next_attempt_at=self.now + timedelta(seconds=wait),
                last_error=redact(str(throttled)),
            )
        except MessagingError as failure:
            self.resting.add(claimed.channel)
            self._failed_attempt(claimed, redact(str(failure)))
        else:
            log.info("notification %s sent to %s", claimed.id, claimed.channel)
            self._settle(
                claimed,
                "sent",
                status=SENT,
                sent_at=self.now,
                attempts=claimed.attempts + 1,
                last_error=None,
            )

    def _failed_attempt(self, claimed: _Claimed, error: str) -> None:
        attempts = claimed.attempts + 1
        most = self.settings.max_attempts
        if attempts >= most:
            log.warning(
                "notification %s to %s failed after %d attempts: %s",
                claimed.id,
                claimed.channel,
                attempts,
                error,
            )
            self._settle(claimed, "failed", status=FAILED, attempts=attempts, last_error=error)
            return
        wait = timedelta(seconds=self.settings.backoff_seconds * 2 ** (attempts - 1))
        log.info(
            "notification %s to %s not delivered (attempt %d of %d; due again in %s): %s",
            claimed.id,
            claimed.channel,
            attempts,
            most,
            wait,
            error,
        )
        self._settle(
            claimed, "retried", attempts=attempts, next_attempt_at=self.now + wait, last_error=error
        )

    def _settle(self, claimed: _Claimed, outcome: str, **values: Any) -> None:
        """Record the outcome of an attempt, in its own transaction, and count it."""
        with open_session(self.engine, origin=ORIGIN_CRM) as session:
            session.execute(
                update(Notification).where(Notification.id == claimed.id).values(**values)
            )
        self.counts[outcome] += 1

    def close(self) -> None:
        """Close the messengers this call opened."""
        for messenger in self.opened.values():
            close = getattr(messenger, "close", None)
            if close is not None:
                close()


def list_notifications(
    session: Session, status: str | None = None, limit: int = 50
) -> list[Notification]:
    """The newest notifications (of one status), newest first."""
    statement = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        statement = statement.where(Notification.status == status)
    return list(session.scalars(statement))
