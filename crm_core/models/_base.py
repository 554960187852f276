"""The declarative base, shared column types and the columns every CRM entity has."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from crm_core.models._types import (
    ExactDecimal,
    JSONType,
    UTCDateTime,
    new_id,
    server_literal,
    server_now,
    server_uuid,
    utcnow,
)

__all__ = [
    "Base",
    "BigId",
    "CurrencyCode",
    "Entity",
    "Json",
    "Money",
    "Quantity",
    "RecordRef",
    "Str32",
    "Str64",
    "Str255",
    "Timestamp",
    "column_default",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Str32 = Annotated[str, 32]
Str64 = Annotated[str, 64]
Str255 = Annotated[str, 255]
Money = Annotated[Decimal, "money"]
Quantity = Annotated[Decimal, "quantity"]
Timestamp = Annotated[datetime, "timestamp"]
Json = Annotated[dict[str, Any], "json"]
CurrencyCode = Annotated[str, "currency"]
BigId = Annotated[int, "bigid"]
RecordRef = Annotated[UUID, "record"]


class Base(DeclarativeBase):
    """Declarative base of every table of the CRM core."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        str: Text(),
        Str32: String(32),
        Str64: String(64),
        Str255: String(255),
        int: Integer(),
        bool: Boolean(),
        date: Date(),
        datetime: UTCDateTime(),
        Timestamp: UTCDateTime(),
        UUID: Uuid(),
        RecordRef: Uuid(),
        Decimal: ExactDecimal(),
        Money: ExactDecimal(20, 4),
        Quantity: ExactDecimal(20, 4),
        CurrencyCode: String(3),
        Json: JSONType,
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        BigId: BigInteger().with_variant(Integer(), "sqlite"),
    }


def column_default(value: Any, *args: Any, **kwargs: Any) -> Any:
    """A mapped column whose default is ``value`` in Python and in the database alike."""
    return mapped_column(*args, default=value, server_default=server_literal(value), **kwargs)


ENTITY_BOOKKEEPING = ("version", "updated_at", "updated_by")
"""Columns that change with every write; change capture does not list them as changed fields."""


class Entity(Base):
    """Columns every CRM entity row has, and optimistic concurrency on ``version``.

    ``id`` is a UUIDv7; ``version`` starts at 1 and grows by one with every update (the
    database bumps it for writers that do not); ``deleted_at`` marks a soft delete; ``custom``
    holds custom fields as JSON.
    """

    __abstract__ = True

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=new_id, server_default=server_uuid(), sort_order=-100
    )
    owner_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    team_id: Mapped[UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=server_now()
    )
    created_by: Mapped[UUID | None]
    updated_by: Mapped[UUID | None]
    version: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    deleted_at: Mapped[datetime | None]
    custom: Mapped[Json] = mapped_column(default=dict, server_default=text("'{}'"))

    @declared_attr.directive
    @classmethod
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @property
    def is_deleted(self) -> bool:
        """Whether the record is soft-deleted."""
        return self.deleted_at is not None
