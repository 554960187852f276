"""The interaction history and the work around it: activities, tasks, tickets, campaigns,
documents."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import (
    CurrencyCode,
    Entity,
    Money,
    RecordRef,
    Str32,
    Str64,
    Str255,
    column_default,
)
from crm_core.models._enums import (
    ActivityType,
    CampaignStatus,
    Priority,
    TaskStatus,
    TicketStatus,
    enum_column,
    enum_type,
)

__all__ = ["Activity", "Campaign", "CampaignMember", "Document", "Task", "Ticket"]


class Activity(Entity):
    """A call, meeting, note or follow-up, linked to any record.

    ``related_type`` is the linked record's table (``accounts``, ``contacts``, ``leads``,
    ``opportunities``...), ``related_id`` its id; ``account_id`` rolls the activity up to the
    account it concerns, so an account's history is one indexed lookup.
    """

    __tablename__ = "activities"
    __table_args__ = (
        Index(None, "related_type", "related_id"),
        Index(None, "account_id", "occurred_at"),
    )

    type: Mapped[ActivityType] = mapped_column(enum_type(ActivityType, "activity_type"))
    subject: Mapped[str]
    body: Mapped[str | None]
    occurred_at: Mapped[datetime]
    duration_seconds: Mapped[int | None]
    related_type: Mapped[Str32 | None]
    related_id: Mapped[RecordRef | None]
    account_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))


class Task(Entity):
    """A task or reminder for its owner, optionally about a record."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index(None, "owner_id", "status", "due_at"),
        Index(None, "related_type", "related_id"),
    )

    title: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[TaskStatus] = enum_column(TaskStatus.OPEN, "task_status")
    priority: Mapped[Priority] = enum_column(Priority.NORMAL, "task_priority")
    due_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    related_type: Mapped[Str32 | None]
    related_id: Mapped[RecordRef | None]


class Ticket(Entity):
    """A service ticket raised by or for a customer."""

    __tablename__ = "tickets"

    number: Mapped[Str64] = mapped_column(unique=True)
    subject: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[TicketStatus] = enum_column(TicketStatus.OPEN, "ticket_status")
    priority: Mapped[Priority] = enum_column(Priority.NORMAL, "ticket_priority")
    channel: Mapped[Str32 | None]
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class Campaign(Entity):
    """A marketing campaign and its budget."""

    __tablename__ = "campaigns"

    name: Mapped[Str255]
    type: Mapped[Str32 | None]
    status: Mapped[CampaignStatus] = enum_column(CampaignStatus.PLANNED, "campaign_status")
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    budget: Mapped[Money | None]
    currency: Mapped[CurrencyCode | None]
    description: Mapped[str | None]


class CampaignMember(Entity):
    """A lead or contact targeted by a campaign, and how they responded."""

    __tablename__ = "campaign_members"
    __table_args__ = (UniqueConstraint("campaign_id", "member_type", "member_id"),)

    campaign_id: Mapped[UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    member_type: Mapped[Str32]
    member_id: Mapped[RecordRef]
    status: Mapped[Str32] = column_default("targeted")
    responded_at: Mapped[datetime | None]


class Document(Entity):
    """A reference to a file kept elsewhere (object store, drive, ERP attachment)."""

    __tablename__ = "documents"
    __table_args__ = (Index(None, "related_type", "related_id"),)

    name: Mapped[Str255]
    uri: Mapped[str]
    mime_type: Mapped[Str255 | None]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[Str64 | None]
    related_type: Mapped[Str32 | None]
    related_id: Mapped[RecordRef | None]
