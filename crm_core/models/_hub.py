"""The hub's own tables: the change feed, links to external records, sync bookkeeping,
quarantine, conflicts, merges and the search index (DESIGN.md section 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import Base, BigId, Json, RecordRef, Str32, Str64, Str255, column_default
from crm_core.models._types import JSONType, new_id, server_now, utcnow

__all__ = [
    "CannotLink",
    "ChangeCursor",
    "ChangeLog",
    "Conflict",
    "MergeHistory",
    "Quarantine",
    "SearchDoc",
    "SyncRun",
    "SyncState",
    "Xref",
]


class ChangeLog(Base):
    """One insert, update, soft delete, restore or delete of a CRM entity row.

    Written by database triggers in the same transaction as the write, whoever makes it.
    ``changed`` maps each changed column to its new value for updates (bookkeeping columns
    excluded) and is NULL for inserts and deletes, where every column is new or gone.
    ``txid`` is the PostgreSQL transaction id (0 on SQLite): ordering the feed by
    ``(txid, id)`` and reading only transactions older than every running one never skips a
    change that commits late (see :mod:`crm_core.changes`).
    """

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_txid_id", "txid", "id").ddl_if(dialect="postgresql"),)

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    txid: Mapped[BigId] = mapped_column(server_default=text("0"))
    entity: Mapped[Str64]
    record_id: Mapped[UUID]
    op: Mapped[Str32]
    changed: Mapped[Json | None]
    version: Mapped[int | None]
    changed_at: Mapped[datetime] = mapped_column(server_default=server_now())
    origin: Mapped[Str64]
    actor_id: Mapped[UUID | None]


class Xref(Base):
    """The link between a CRM record and its counterpart in an external system.

    Holds the external id and version, the hash of the field values last synced in each
    direction (for no-op suppression and echo detection) and those values themselves (the base
    of the three-way compare that finds conflicts).
    """

    __tablename__ = "xref"
    __table_args__ = (
        UniqueConstraint("system", "external_entity", "external_id"),
        Index(None, "entity", "record_id", "system"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    system: Mapped[Str64]
    external_entity: Mapped[Str64]
    external_id: Mapped[Str255]
    entity: Mapped[Str64]
    record_id: Mapped[UUID]
    external_version: Mapped[Str255 | None]
    hash_in: Mapped[Str64 | None]
    hash_out: Mapped[Str64 | None]
    synced_values: Mapped[Json | None]
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=server_now()
    )
    merged_from_id: Mapped[UUID | None]
    """The record this link belonged to before a merge moved it to ``record_id`` (the
    survivor); NULL for a record's own links. Undoing the merge moves it back."""


class SyncState(Base):
    """The opaque cursor of one pipeline in one direction."""

    __tablename__ = "sync_state"

    pipeline: Mapped[Str255] = mapped_column(primary_key=True)
    direction: Mapped[Str32] = mapped_column(primary_key=True)
    cursor: Mapped[Json | None]
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=server_now()
    )


class SyncRun(Base):
    """One run of a pipeline (or migration): its outcome, counts and timings."""

    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "pipeline", "started_at"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    pipeline: Mapped[Str255]
    direction: Mapped[Str32]
    status: Mapped[Str32] = column_default("running")
    dry_run: Mapped[bool] = column_default(False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    finished_at: Mapped[datetime | None]
    read: Mapped[int] = column_default(0)
    created: Mapped[int] = column_default(0)
    updated: Mapped[int] = column_default(0)
    unchanged: Mapped[int] = column_default(0)
    conflicts: Mapped[int] = column_default(0)
    quarantined: Mapped[int] = column_default(0)
    deleted: Mapped[int] = column_default(0)
    error: Mapped[str | None]
    timings: Mapped[Json | None]


class Quarantine(Base):
    """A record that could not be mapped, validated or written, kept to be fixed and replayed."""

    __tablename__ = "quarantine"
    __table_args__ = (Index(None, "status", "pipeline"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    run_id: Mapped[UUID | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    pipeline: Mapped[Str255 | None]
    source: Mapped[Str255]
    entity: Mapped[Str64]
    direction: Mapped[Str32]
    record_key: Mapped[Str255 | None]
    payload: Mapped[dict[str, Any]]
    reason: Mapped[str]
    error_kind: Mapped[Str32]
    attempts: Mapped[int] = column_default(1)
    status: Mapped[Str32] = column_default("open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    last_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    resolved_at: Mapped[datetime | None]


class Conflict(Base):
    """A field both sides changed since the last sync, awaiting a rule or a person."""

    __tablename__ = "conflict"
    __table_args__ = (Index(None, "status", "pipeline"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    run_id: Mapped[UUID | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    pipeline: Mapped[Str255]
    entity: Mapped[Str64]
    record_id: Mapped[RecordRef]
    system: Mapped[Str64]
    external_id: Mapped[Str255]
    field: Mapped[Str255]
    base_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    crm_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    source_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    crm_changed_at: Mapped[datetime | None]
    source_changed_at: Mapped[datetime | None]
    rule: Mapped[Str32]
    status: Mapped[Str32] = column_default("open")
    resolution: Mapped[Str32 | None]
    resolved_by: Mapped[UUID | None]
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())


class MergeHistory(Base):
    """A merge of duplicate records, with the before-images that let it be undone."""

    __tablename__ = "merge_history"
    __table_args__ = (Index(None, "entity", "survivor_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    entity: Mapped[Str64]
    survivor_id: Mapped[RecordRef]
    merged_ids: Mapped[list[Any]]
    before_images: Mapped[dict[str, Any]]
    relinked: Mapped[dict[str, Any]] = column_default(dict)
    reason: Mapped[dict[str, Any] | None]
    merged_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    merged_by: Mapped[UUID | None]
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[UUID | None]
    survivorship: Mapped[dict[str, Any] | None]
    """Per field of the survivor: the value the merge chose, the record it came from and the
    survivorship rule that chose it."""


class CannotLink(Base):
    """Two records a person has said are different (by undoing their merge): dedup never
    proposes merging them again. ``record_a`` is the smaller id of the pair."""

    __tablename__ = "cannot_link"
    __table_args__ = (
        UniqueConstraint("entity", "record_a", "record_b"),
        CheckConstraint("record_a < record_b", name="ordered_pair"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    entity: Mapped[Str64]
    record_a: Mapped[RecordRef]
    record_b: Mapped[RecordRef]
    reason: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=server_now())
    created_by: Mapped[UUID | None]


class SearchDoc(Base):
    """The search tokens of one account, contact or lead (see :mod:`crm_core.search`).

    On SQLite an FTS5 table indexes ``tokens``; on PostgreSQL a GIN index over the token array.
    """

    __tablename__ = "search_doc"
    __table_args__ = (
        UniqueConstraint("entity", "record_id"),
        # PostgreSQL: the migrations add the GIN index ix_search_doc_tokens over
        # array_to_tsvector(string_to_array(tokens, ' ')); SQLite: the FTS5 table search_fts.
    )

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    entity: Mapped[Str32]
    record_id: Mapped[UUID]
    tokens: Mapped[str] = mapped_column(Text)


class ChangeCursor(Base):
    """How far a consumer of the change feed (such as the search index) has read it: a
    :class:`crm_core.changes.FeedPosition` as JSON."""

    __tablename__ = "change_cursor"

    consumer: Mapped[Str64] = mapped_column(primary_key=True)
    position: Mapped[Json] = column_default(dict)
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=server_now()
    )
