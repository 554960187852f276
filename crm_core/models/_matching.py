"""The tables of matching at the door: the blocking keys of every account and contact, indexed,
and the records created in the grey zone that a person should look at (DESIGN.md section 6)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Float, Index
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import Base, Json, RecordRef, Str32, Str64, Str255, column_default
from crm_core.models._types import new_id, server_now, utcnow

__all__ = ["MatchKey", "MatchReview"]


class MatchKey(Base):
    """One blocking key of one record: ``kind`` names the key (``name_core``,
    ``last+postcode``...), ``key`` is a digest of the record's normalised value of it.

    Kept up to date from the change feed (see :mod:`crm_core.dedup`); a new record is matched
    by looking its keys up here instead of scanning every record.
    """

    __tablename__ = "match_key"
    __table_args__ = (Index(None, "entity", "record_id"),)

    entity: Mapped[Str64] = mapped_column(primary_key=True)
    key: Mapped[Str32] = mapped_column(primary_key=True)
    """A digest of the key's kind and value: one indexed lookup finds every kind at once."""
    record_id: Mapped[RecordRef] = mapped_column(primary_key=True)
    kind: Mapped[Str64]


class MatchReview(Base):
    """A record that arrived resembling an existing one, but not enough to be linked to it: it
    was created, and a person should decide whether the two are one customer."""

    __tablename__ = "match_review"
    __table_args__ = (Index(None, "entity", "status"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    entity: Mapped[Str64]
    record_id: Mapped[RecordRef]
    candidate_id: Mapped[RecordRef]
    probability: Mapped[float] = mapped_column(Float)
    evidence: Mapped[Json | None]
    """Each comparison's level and weight, as ``tongbu dedup`` explains a pair."""
    source: Mapped[Str255 | None]
    """Where the record came from: a pipeline, a migration."""
    status: Mapped[Str32] = column_default("open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[Json | None]
