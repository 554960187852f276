"""Accounts, contacts, leads and the opportunity pipeline."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import CurrencyCode, Entity, Money, Str32, Str64, Str255, column_default
from crm_core.models._enums import ContactRole, LeadStatus, enum_column

__all__ = [
    "Account",
    "AccountContact",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityStageHistory",
    "Pipeline",
    "Stage",
    "person_name",
]


class Account(Entity):
    """A customer company (or a prospect).

    ``credit_code`` is the unified social credit code (统一社会信用代码), unique when present.
    ``parent_id`` links a branch to its head office; ``merged_into_id`` points a record that was
    merged away to its survivor, so old ids still resolve.
    """

    __tablename__ = "accounts"
    # name: sync match keys and dedup look accounts up by their exact name.
    __table_args__ = (Index(None, "owner_id"), Index(None, "name"), Index(None, "pool", "owner_id"))

    name: Mapped[str]
    short_name: Mapped[Str255 | None]
    credit_code: Mapped[Str32 | None] = mapped_column(unique=True)
    industry: Mapped[Str64 | None]
    company_size: Mapped[Str32 | None]
    phone: Mapped[Str64 | None]
    email: Mapped[Str255 | None]
    website: Mapped[Str255 | None]
    address: Mapped[str | None]
    city: Mapped[Str64 | None]
    province: Mapped[Str64 | None]
    country: Mapped[Str32 | None]
    postcode: Mapped[Str32 | None]
    source: Mapped[Str64 | None]
    status: Mapped[Str32] = column_default("active")
    description: Mapped[str | None]
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    merged_into_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    pool: Mapped[Str64 | None]
    """The public pool (公海) the account belongs to: it waits there while it has no owner,
    and returns there when its owner gives it back or neglects it (:mod:`crm_core.rules.pool`)."""
    pool_locked: Mapped[bool] = column_default(False)
    """A locked account is never taken back from its owner automatically."""
    owned_since: Mapped[datetime | None]
    """When the current owner got the account (claim, assignment, transfer)."""


class Contact(Entity):
    """A person at one or more accounts."""

    __tablename__ = "contacts"

    first_name: Mapped[Str255 | None]
    last_name: Mapped[Str255 | None]
    title: Mapped[Str255 | None]
    department: Mapped[Str255 | None]
    phone: Mapped[Str64 | None]
    mobile: Mapped[Str64 | None]
    email: Mapped[Str255 | None]
    wechat: Mapped[Str64 | None]
    birth_date: Mapped[date | None]
    national_id: Mapped[Str64 | None]
    street: Mapped[str | None]
    city: Mapped[Str64 | None]
    state: Mapped[Str64 | None]
    postcode: Mapped[Str32 | None]
    country: Mapped[Str32 | None]
    description: Mapped[str | None]
    merged_into_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )

    @property
    def display_name(self) -> str:
        """The name as people write it: 张伟 (family name first) or "John Smith"."""
        return person_name(self.first_name, self.last_name)


class AccountContact(Entity):
    """A contact's role at an account (contacts and accounts are many-to-many)."""

    __tablename__ = "account_contacts"
    __table_args__ = (UniqueConstraint("account_id", "contact_id"),)

    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[ContactRole] = enum_column(ContactRole.OTHER, "contact_role")
    is_primary: Mapped[bool] = column_default(False)


class Lead(Entity):
    """An unqualified prospect: a person and the company they work for."""

    __tablename__ = "leads"
    __table_args__ = (
        Index(None, "owner_id"),
        Index(None, "status"),
        Index(None, "pool", "owner_id"),
    )

    name: Mapped[Str255 | None]
    company: Mapped[str | None]
    title: Mapped[Str255 | None]
    phone: Mapped[Str64 | None]
    mobile: Mapped[Str64 | None]
    email: Mapped[Str255 | None]
    source: Mapped[Str64 | None]
    status: Mapped[LeadStatus] = enum_column(LeadStatus.NEW, "lead_status")
    industry: Mapped[Str64 | None]
    company_size: Mapped[Str32 | None]
    city: Mapped[Str64 | None]
    province: Mapped[Str64 | None]
    country: Mapped[Str32 | None]
    score: Mapped[int | None]
    description: Mapped[str | None]
    converted_at: Mapped[datetime | None]
    converted_account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    converted_contact_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    converted_opportunity_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL", use_alter=True)
    )
    pool: Mapped[Str64 | None]
    """The public pool the lead belongs to (see :attr:`Account.pool`)."""
    pool_locked: Mapped[bool] = column_default(False)
    """A locked lead is never taken back from its owner automatically."""
    owned_since: Mapped[datetime | None]
    """When the current owner got the lead (claim, assignment, transfer)."""


class Pipeline(Entity):
    """A sales process: an ordered list of stages."""

    __tablename__ = "pipelines"

    name: Mapped[Str255] = mapped_column(unique=True)
    is_default: Mapped[bool] = column_default(False)
    description: Mapped[str | None]


class Stage(Entity):
    """A step of a pipeline, with its win probability and whether it closes the deal."""

    __tablename__ = "stages"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "name"),
        UniqueConstraint("pipeline_id", "position"),
    )

    pipeline_id: Mapped[UUID] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    name: Mapped[Str255]
    position: Mapped[int]
    probability: Mapped[int] = column_default(0)
    is_won: Mapped[bool] = column_default(False)
    is_lost: Mapped[bool] = column_default(False)


class Opportunity(Entity):
    """A deal in progress with an account. Each stage change is kept in the stage history."""

    __tablename__ = "opportunities"
    __table_args__ = (Index(None, "owner_id"), Index(None, "stage_id"))

    name: Mapped[str]
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    lead_id: Mapped[UUID | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    pipeline_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("pipelines.id", ondelete="SET NULL")
    )
    stage_id: Mapped[UUID | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    amount: Mapped[Money | None]
    currency: Mapped[CurrencyCode | None]
    probability: Mapped[int | None]
    expected_close_date: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    source: Mapped[Str64 | None]
    lost_reason: Mapped[str | None]
    description: Mapped[str | None]


class OpportunityStageHistory(Entity):
    """One stage an opportunity entered, and when: written by the database on every change."""

    __tablename__ = "opportunity_stage_history"
    __table_args__ = (Index(None, "opportunity_id", "entered_at"),)

    opportunity_id: Mapped[UUID] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"))
    from_stage_id: Mapped[UUID | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    to_stage_id: Mapped[UUID | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    entered_at: Mapped[datetime]


def person_name(first_name: str | None, last_name: str | None) -> str:
    """A person's name as people write it: 张伟 (family name first) or "John Smith"."""
    first, last = first_name or "", last_name or ""
    if any("\u3400" <= char <= "\u9fff" for char in first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()
