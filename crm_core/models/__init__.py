"""The CRM core's tables as typed SQLAlchemy 2 models.

CRM entities (every one an :class:`Entity`: UUID id, owner and team, created/updated at and by,
version, soft delete, JSON custom fields) and the hub's own tables.
"""

from __future__ import annotations

from sqlalchemy import Table

from crm_core.models._base import ENTITY_BOOKKEEPING, Base, Entity
from crm_core.models._commerce import (
    Contract,
    Invoice,
    Order,
    OrderLine,
    Payment,
    Product,
    Quote,
    QuoteLine,
)
from crm_core.models._engagement import Activity, Campaign, CampaignMember, Document, Task, Ticket
from crm_core.models._enums import (
    ActivityType,
    CampaignStatus,
    ContactRole,
    ContractStatus,
    InvoiceStatus,
    LeadStatus,
    OrderStatus,
    PaymentMethod,
    Priority,
    QuoteStatus,
    TaskStatus,
    TicketStatus,
)
from crm_core.models._hub import (
    ChangeCursor,
    ChangeLog,
    Conflict,
    MergeHistory,
    Quarantine,
    SearchDoc,
    SyncRun,
    SyncState,
    Xref,
)
from crm_core.models._matching import MatchKey, MatchReview
from crm_core.models._migration import MigrationCheckpoint
from crm_core.models._org import Role, Team, TeamMember, User, UserRole
from crm_core.models._rules import Notification, OwnershipHistory, RuleState
from crm_core.models._sales import (
    Account,
    AccountContact,
    Contact,
    Lead,
    Opportunity,
    OpportunityStageHistory,
    Pipeline,
    Stage,
    person_name,
)
from crm_core.models._types import new_id, utcnow

__all__ = [
    "ENTITY_BOOKKEEPING",
    "Account",
    "AccountContact",
    "Activity",
    "ActivityType",
    "Base",
    "Campaign",
    "CampaignMember",
    "CampaignStatus",
    "ChangeCursor",
    "ChangeLog",
    "Conflict",
    "Contact",
    "ContactRole",
    "Contract",
    "ContractStatus",
    "Document",
    "Entity",
    "Invoice",
    "InvoiceStatus",
    "Lead",
    "LeadStatus",
    "MatchKey",
    "MatchReview",
    "MergeHistory",
    "MigrationCheckpoint",
    "Notification",
    "Opportunity",
    "OpportunityStageHistory",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OwnershipHistory",
    "Payment",
    "PaymentMethod",
    "Pipeline",
    "Priority",
    "Product",
    "Quarantine",
    "Quote",
    "QuoteLine",
    "QuoteStatus",
    "Role",
    "RuleState",
    "SearchDoc",
    "Stage",
    "SyncRun",
    "SyncState",
    "Task",
    "TaskStatus",
    "Team",
    "TeamMember",
    "Ticket",
    "TicketStatus",
    "User",
    "UserRole",
    "Xref",
    "entity_classes",
    "entity_tables",
    "new_id",
    "person_name",
    "table_of",
    "utcnow",
]


def table_of(model: type[Base]) -> Table:
    """The table of a model class, typed as a :class:`~sqlalchemy.Table`."""
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - every model here maps one table
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def entity_classes() -> list[type[Entity]]:
    """Every CRM entity model, in a stable order (by table name)."""
    classes = [
        mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, Entity)
    ]
    return sorted(classes, key=lambda cls: cls.__tablename__)


def entity_tables() -> list[str]:
    """The table names of every CRM entity: the tables change capture watches."""
    return [cls.__tablename__ for cls in entity_classes()]
