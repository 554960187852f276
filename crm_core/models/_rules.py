"""The bookkeeping of the CRM rules (:mod:`crm_core.rules`): who owned what and why, the
notifications waiting to be delivered, and the small state a rule keeps between runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Index
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import Base, BigId, Json, Str32, Str64, Str255, column_default
from crm_core.models._types import JSONType, server_now, utcnow

__all__ = ["Notification", "OwnershipHistory", "RuleState"]


class OwnershipHistory(Base):
    """One change of a record's owner (or of its lock), with who made it, when and why.

    ``action`` is ``claim``, ``return``, ``recycle``, ``assign``, ``transfer``, ``convert``,
    ``lock``, ``unlock`` or ``add`` (put into a pool). The owner change itself is a write of
    the record, so it is in ``change_log`` too; this table keeps the reason and the rule.
    """

    __tablename__ = "ownership_history"
    __table_args__ = (
        Index(None, "entity", "record_id", "at"),
        Index(None, "actor_id", "action", "at"),
    )

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    entity: Mapped[Str64]
    """The record's table: ``accounts`` or ``leads``."""
    record_id: Mapped[UUID]
    pool: Mapped[Str64 | None]
    action: Mapped[Str32]
    from_owner_id: Mapped[UUID | None]
    to_owner_id: Mapped[UUID | None]
    actor_id: Mapped[UUID | None]
    """The user who acted (a claim's claimant); NULL when a rule or job did it."""
    rule: Mapped[Str64 | None]
    """The pool or assignment rule that made the change, when one did."""
    reason: Mapped[str | None]
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())


class Notification(Base):
    """A message for a team's group chat, waiting in the outbox until it is delivered.

    Rules write notifications in the same transaction as the change they announce and never
    wait for delivery; :func:`crm_core.rules.notify.deliver` sends what is due, retrying with
    backoff. ``key`` makes a notification idempotent: a rule that runs twice does not
    announce the same thing twice.
    """

    __tablename__ = "notification"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[Str255 | None] = mapped_column(unique=True)
    kind: Mapped[Str32]
    """``lead_assigned``, ``recycle_warning``, ``recycled``, ``reminders``..."""
    channel: Mapped[Str64]
    """The chat it goes to: a channel named in the notification settings."""
    recipient_id: Mapped[UUID | None]
    """The user it is for (mentioned by mobile number), if any."""
    text: Mapped[str]
    mentions: Mapped[list[Any]] = mapped_column(
        JSONType, default=list, server_default=sql_text("'[]'")
    )
    """Mobile numbers of the members to @."""
    status: Mapped[Str32] = column_default("pending")
    """``pending``, ``sent`` or ``failed`` (refused for good, or out of attempts)."""
    attempts: Mapped[int] = column_default(0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    last_error: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    sent_at: Mapped[datetime | None]


class RuleState(Base):
    """What a rule remembers between runs (e.g. whose turn a round robin is), by rule name."""

    __tablename__ = "rule_state"

    name: Mapped[Str64] = mapped_column(primary_key=True)
    state: Mapped[Json] = column_default(dict)
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=server_now()
    )
