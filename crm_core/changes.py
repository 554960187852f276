"""Reading the change feed: ``change_log`` in commit-safe order, for any consumer.

Consumers (the search index now, outbound sync later) keep a :class:`FeedPosition` and read the
changes after it. On PostgreSQL, ids are handed out before transactions commit, so a
transaction can commit a *smaller* id after a larger one was already read. The feed is therefore
ordered by ``(txid, id)`` and read only up to the oldest transaction still running: every change
at or below that horizon has committed (or never will), and every change that commits later sorts
above it. SQLite admits one writer at a time, so ids commit in order and ``txid`` is always 0.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Integer,
    Uuid,
    and_,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from crm_core.db import is_postgres
from crm_core.models import Base, ChangeLog
from crm_core.models._types import ExactDecimal, UTCDateTime

__all__ = ["Change", "FeedPosition", "decode_changed", "feed_horizon", "read_changes"]

# Transactions with a smaller id have all ended; none of their changes can still appear.
_OLDEST_RUNNING_TXID: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger()
)


@dataclass(frozen=True, order=True)
class FeedPosition:
    """A place in the change feed: everything at or before it has been consumed."""

    txid: int = 0
    change_id: int = 0


@dataclass(frozen=True)
class Change:
    """One row of the change feed, with ``changed`` decoded to Python values."""

    id: int
    txid: int
    entity: str
    record_id: UUID
    op: str
    changed: dict[str, Any] | None
    version: int | None
    changed_at: datetime
    origin: str
    actor_id: UUID | None

    @property
    def position(self) -> FeedPosition:
        """The feed position just after this change."""
        return FeedPosition(self.txid, self.id)


def feed_horizon(session: Session) -> FeedPosition | None:
    """The last position that is safe to read now, or None when the feed is empty."""
    if not is_postgres(session):
        last = session.scalar(select(func.max(ChangeLog.id)))
        return FeedPosition(0, last) if last is not None else None
    query = (
        select(ChangeLog.txid, ChangeLog.id)
        .where(ChangeLog.txid < _OLDEST_RUNNING_TXID)
        .order_by(ChangeLog.txid.desc(), ChangeLog.id.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    return FeedPosition(row.txid, row.id) if row is not None else None


def read_changes(
    session: Session,
    after: FeedPosition,
    *,
    until: FeedPosition,
    entities: Collection[str] | None = None,
    limit: int = 1000,
) -> list[Change]:
    """The changes after ``after`` and at or before ``until`` (a :func:`feed_horizon`), oldest
    first, at most ``limit`` of them, optionally only for some entity tables."""
    log = ChangeLog.__table__.c
    if is_postgres(session):
        position = tuple_(log.txid, log.id)
        window = and_(
            position > tuple_(literal(after.txid), literal(after.change_id)),
            position <= tuple_(literal(until.txid), literal(until.change_id)),
        )
    else:  # txid is always 0: the id alone orders the feed, and it is the rowid
        window = and_(log.id > after.change_id, log.id <= until.change_id)
    query = (
        select(
            log.id,
            log.txid,
            log.entity,
            log.record_id,
            log.op,
            log.changed,
            log.version,
            log.changed_at,
            log.origin,
            log.actor_id,
        )
        .where(window)
        .order_by(log.txid, log.id)
        .limit(limit)
    )
    if entities is not None:
        query = query.where(log.entity.in_(sorted(entities)))
    return [
        Change(
            id=row.id,
            txid=row.txid,
            entity=row.entity,
            record_id=row.record_id,
            op=row.op,
            changed=decode_changed(row.entity, row.changed) if row.changed is not None else None,
            version=row.version,
            changed_at=row.changed_at,
            origin=row.origin,
            actor_id=row.actor_id,
        )
        for row in session.execute(query)
    ]


def decode_changed(entity: str, changed: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON values of a ``changed`` column into the Python values of their columns.

    The triggers write each database's own JSON rendering (a UUID with or without dashes, a
    timestamp with ``T`` or a space, a decimal as text or number); this makes them the same.
    """
    table = Base.metadata.tables.get(entity)
    if table is None:
        return dict(changed)
    decoded: dict[str, Any] = {}
    for name, value in changed.items():
        column = table.columns.get(name)
        decoded[name] = _decode(column.type, value) if column is not None else value
    return decoded


def _decode(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    result: Any = value
    if isinstance(column_type, Uuid):
        result = UUID(str(value))
    elif isinstance(column_type, UTCDateTime):
        parsed = datetime.fromisoformat(str(value))
        result = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    elif isinstance(column_type, ExactDecimal):
        result = Decimal(str(value))
    elif isinstance(column_type, Boolean):
        result = bool(value)
    elif isinstance(column_type, Date):
        result = date.fromisoformat(str(value)[:10])
    elif isinstance(column_type, Integer):
        result = int(value)
    return result
