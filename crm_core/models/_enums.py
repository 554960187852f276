"""Closed vocabularies of the CRM entities, stored as text with a CHECK constraint."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Enum

from crm_core.models._base import column_default

__all__ = [
    "ActivityType",
    "CampaignStatus",
    "ContactRole",
    "ContractStatus",
    "InvoiceStatus",
    "LeadStatus",
    "OrderStatus",
    "PaymentMethod",
    "Priority",
    "QuoteStatus",
    "TaskStatus",
    "TicketStatus",
    "enum_column",
    "enum_type",
]


class ActivityType(StrEnum):
    """What kind of interaction an activity records."""

    CALL = "call"
    MEETING = "meeting"
    NOTE = "note"
    FOLLOW_UP = "follow_up"
    EMAIL = "email"


class ContactRole(StrEnum):
    """The part a contact plays at an account."""

    DECISION_MAKER = "decision_maker"
    INFLUENCER = "influencer"
    USER = "user"
    FINANCE = "finance"
    TECHNICAL = "technical"
    OTHER = "other"


class LeadStatus(StrEnum):
    """Where a lead is on its way to becoming a customer."""

    NEW = "new"
    WORKING = "working"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


class TaskStatus(StrEnum):
    """Whether a task or reminder still needs doing."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    """Urgency of a task or ticket."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    """Life cycle of a service ticket."""

    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CampaignStatus(StrEnum):
    """Life cycle of a marketing campaign."""

    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"
    ABORTED = "aborted"


class QuoteStatus(StrEnum):
    """Life cycle of a quote."""

    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"


class OrderStatus(StrEnum):
    """Life cycle of a sales order."""

    DRAFT = "draft"
    CONFIRMED = "confirmed"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class ContractStatus(StrEnum):
    """Life cycle of a contract."""

    DRAFT = "draft"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class InvoiceStatus(StrEnum):
    """Life cycle of an invoice."""

    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class PaymentMethod(StrEnum):
    """How a payment was made."""

    BANK_TRANSFER = "bank_transfer"
    ALIPAY = "alipay"
    WECHAT_PAY = "wechat_pay"
    CARD = "card"
    CASH = "cash"
    OTHER = "other"


def enum_column(default: StrEnum, name: str) -> Any:
    """A mapped column of ``default``'s enum, defaulting to it in Python and in the database."""
    return column_default(default, enum_type(type(default), name))


def enum_type(enum: type[StrEnum], name: str) -> Enum:
    """A text column restricted to ``enum``'s values by a CHECK constraint named ``name``."""
    values: Any = lambda members: [member.value for member in members]  # noqa: E731
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=values,
        validate_strings=True,
    )
