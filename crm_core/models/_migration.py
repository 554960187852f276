"""The bookkeeping of ``tongbu migrate``: where a migration run stands, saved with each chunk it
loads, so that ``--resume`` continues where a crash stopped it (DESIGN.md section 7)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import Base, Json, Str32, Str64, column_default
from crm_core.models._types import server_now, utcnow

__all__ = ["MigrationCheckpoint"]


class MigrationCheckpoint(Base):
    """One migration run (its ``sync_run`` row holds the outcome): what it reads, how far it
    got, and its counts so far. Updated in the same transaction as every chunk it loads."""

    __tablename__ = "migration_checkpoint"

    run_id: Mapped[UUID] = mapped_column(
        ForeignKey("sync_run.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str]
    """The source as the user named it (a file, or a database URL without its password)."""
    mapping: Mapped[str]
    """The mapping file."""
    fingerprint: Mapped[Str64]
    """A digest of what the source was when the run started: a resume refuses another one."""
    options: Mapped[Json]
    """The options the run was started with (chunk size, dedup, sheet, table...)."""
    phase: Mapped[Str32] = column_default("loading")
    """``loading`` or ``done``."""
    position: Mapped[int] = column_default(0)
    """How many source rows, in source order, are fully accounted for."""
    counts: Mapped[Json] = column_default(dict)
    """The counts so far, per source, and the checksums."""
    plan: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The dedup plan (which rows are one customer), fixed before loading starts."""
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=server_now()
    )
