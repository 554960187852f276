"""Reading the change feed: ``change_log`` in commit order, for any consumer.

Consumers (the search index now, outbound sync later) keep a :class:`FeedPosition`, read the
changes after it, and store the position they get back in the same transaction as what they did
with the changes.

SQLite admits one writer at a time, so ids commit in order: a position is the last id read.

PostgreSQL hands out ids before transactions commit, so a transaction can commit a smaller id
after a larger one was read; reading ``id > last`` would skip it. The feed is therefore read the
way PgQ reads its queues: between two transaction snapshots. A position holds the snapshot whose
committed changes have all been read (``base``); a read takes a new snapshot (``target``) and
returns the changes of the transactions visible in ``target`` but not in ``base`` — exactly those
that committed in between, whatever their ids — ordered by ``(txid, id)`` and in pages. A
long-running transaction never holds the feed back, and a late commit is never skipped: it is
simply not yet visible in ``target`` and lands in a later window.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Date,
    Integer,
    String,
    Uuid,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import ColumnElement

from crm_core.db import is_postgres
from crm_core.models import Base, ChangeLog
from crm_core.models._types import ExactDecimal, UTCDateTime

__all__ = [
    "Change",
    "FeedPosition",
    "current_position",
    "decode_changed",
    "read_change_keys",
    "read_changes",
]


@dataclass(frozen=True)
class FeedPosition:
    """How far a consumer has read the change feed (JSON-serialisable with :meth:`to_json`).

    SQLite: ``change_id``, the last id read. PostgreSQL: ``base``, the snapshot all of whose
    changes have been read; while a window is being read in pages, ``target`` is its end and
    ``(txid, change_id)`` the last change read in it.
    """

    change_id: int = 0
    base: str | None = None
    target: str | None = None
    txid: int = 0

    def to_json(self) -> dict[str, Any]:
        """The position as a JSON object, to store in a cursor column."""
        return {
            "change_id": self.change_id,
            "base": self.base,
            "target": self.target,
            "txid": self.txid,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> FeedPosition:
        """The position stored by :meth:`to_json` (the start of the feed for None)."""
        if not value:
            return cls()
        return cls(
            change_id=int(value.get("change_id", 0)),
            base=value.get("base"),
            target=value.get("target"),
            txid=int(value.get("txid", 0)),
        )


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


def current_position(session: Session) -> FeedPosition:
    """The position just after every change committed so far."""
    if is_postgres(session):
        return FeedPosition(base=session.scalar(select(func.pg_current_snapshot().cast(String))))
    return FeedPosition(change_id=session.scalar(select(func.max(ChangeLog.id))) or 0)


def read_changes(
    session: Session,
    after: FeedPosition,
    *,
    entities: Collection[str] | None = None,
    limit: int = 1000,
) -> tuple[list[Change], FeedPosition]:
    """The next changes after ``after`` (at most ``limit``, oldest first, optionally only of some
    entity tables), and the position to continue from."""
    log = ChangeLog.__table__.c
    columns = (log.id, log.txid, log.entity, log.record_id, log.op, log.changed, log.version)
    extra = (log.changed_at, log.origin, log.actor_id)
    rows, position = _read(session, select(*columns, *extra), after, entities, limit)
    changes = [
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
        for row in rows
    ]
    return changes, position


def read_change_keys(
    session: Session,
    after: FeedPosition,
    *,
    entities: Collection[str] | None = None,
    limit: int = 1000,
) -> tuple[list[tuple[str, UUID]], FeedPosition]:
    """Like :func:`read_changes`, only which records changed: (entity, record id) pairs."""
    log = ChangeLog.__table__.c
    query = select(log.entity, log.record_id, log.txid, log.id)
    rows, position = _read(session, query, after, entities, limit)
    return [(row.entity, row.record_id) for row in rows], position


def _read(
    session: Session,
    query: Select[Any],
    after: FeedPosition,
    entities: Collection[str] | None,
    limit: int,
) -> tuple[list[Any], FeedPosition]:
    log = ChangeLog.__table__.c
    if entities is not None:
        query = query.where(log.entity.in_(sorted(entities)))
    if not is_postgres(session):  # one writer at a time: the id is the commit order
        upper = session.scalar(select(func.max(log.id))) or 0
        window = query.where(log.id > after.change_id, log.id <= upper)
        rows = list(session.execute(window.order_by(log.id).limit(limit)))
        # A short page has read the whole feed up to ``upper``, the other entities' changes too.
        last = rows[-1].id if len(rows) == limit else max(upper, after.change_id)
        return rows, FeedPosition(change_id=last)

    target = after.target or session.scalar(select(func.pg_current_snapshot().cast(String)))
    assert target is not None  # noqa: S101 - pg_current_snapshot never returns NULL
    conditions = [_committed_between(after.base, target)]
    if after.target is not None:  # a window read in pages: continue after the last change
        conditions.append(
            tuple_(log.txid, log.id) > tuple_(literal(after.txid), literal(after.change_id))
        )
    rows = list(session.execute(query.where(*conditions).order_by(log.txid, log.id).limit(limit)))
    if len(rows) == limit:
        last = rows[-1]
        return rows, FeedPosition(base=after.base, target=target, txid=last.txid, change_id=last.id)
    return rows, FeedPosition(base=target)


def _committed_between(base: str | None, target: str) -> ColumnElement[bool]:
    """Changes of the transactions visible in ``target`` but not in ``base``.

    A snapshot ``xmin:xmax:xip`` sees every transaction below ``xmax`` that is not in ``xip``
    (the ones still running when it was taken). Comparing integers keeps the index on
    ``(txid, id)`` usable: a window costs its own changes, not a scan of everything since the
    oldest transaction that was running.
    """
    log = ChangeLog.__table__.c
    _target_xmin, target_xmax, target_running = _parse_snapshot(target)
    conditions = [log.txid < target_xmax]
    if target_running:
        conditions.append(log.txid.not_in(target_running))
    if base is not None:
        _base_xmin, base_xmax, base_running = _parse_snapshot(base)
        unseen = log.txid >= base_xmax
        conditions.append(or_(unseen, log.txid.in_(base_running)) if base_running else unseen)
    return and_(*conditions)


def _parse_snapshot(snapshot: str) -> tuple[int, int, list[int]]:
    """``xmin:xmax:xip1,xip2`` (the text of a ``pg_snapshot``)."""
    xmin, xmax, running = snapshot.split(":", 2)
    return int(xmin), int(xmax), [int(xid) for xid in running.split(",") if xid]


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
