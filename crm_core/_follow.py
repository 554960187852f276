"""Following the change feed: the loop that keeps a derived table (the search index, the
dedup match keys) up to date with ``change_log``, whoever wrote the records.

A consumer has a cursor row in ``change_cursor``; each step locks it, reads the keys of the
records changed after it, lets the consumer re-derive those records, and moves the cursor, all
in one transaction. Several processes may follow at once: they take turns on the cursor row.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from uuid import UUID

from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_core.changes import FeedPosition, current_position, read_change_keys
from crm_core.db import ORIGIN_CRM, is_postgres, open_session
from crm_core.models import Base, ChangeCursor

__all__ = ["follow_feed", "lock_cursor", "rebuild", "stored_position"]

_REMEMBER_AFTER = 1_000

Derive = Callable[[Session, dict[str, set[UUID]]], None]
"""Re-derive the records that changed, by entity, in the given transaction."""


def follow_feed(
    engine: Engine,
    consumer: str,
    entities: Collection[str],
    derive: Derive,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Bring ``consumer`` up to date with the feed; return how many records it re-derived."""
    done = 0
    while True:
        with open_session(engine) as reader:
            position = stored_position(reader, consumer)
            pending, after = read_change_keys(reader, position, entities=entities, limit=1)
        if not pending:
            if _far_behind(position, after):  # nothing to derive; remember what was read past
                with open_session(engine, origin=ORIGIN_CRM) as session:
                    cursor = lock_cursor(session, consumer)
                    if FeedPosition.from_json(cursor.position) == position:
                        cursor.position = after.to_json()
            return done
        with open_session(engine, origin=ORIGIN_CRM) as session:
            cursor = lock_cursor(session, consumer)
            keys, after = read_change_keys(
                session,
                FeedPosition.from_json(cursor.position),
                entities=entities,
                limit=batch_size,
            )
            touched: dict[str, set[UUID]] = {}
            for entity, record_id in keys:
                touched.setdefault(entity, set()).add(record_id)
            derive(session, touched)
            cursor.position = after.to_json()
            count = sum(len(ids) for ids in touched.values())
        done += count
        if progress is not None and count:
            progress(count)


def rebuild(
    engine: Engine,
    consumer: str,
    tables: Mapping[str, Table],
    derive: Derive,
    *,
    derived: type[Base],
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Empty the ``derived`` table and derive every record of ``tables`` (by entity) again, in
    batches of ids; the feed's cursor moves to now first, so changes committed
    meanwhile are derived again by the next :func:`follow_feed` (deriving is idempotent).
    Returns how many records were derived."""
    with open_session(engine, origin=ORIGIN_CRM) as session:
        cursor = lock_cursor(session, consumer)
        cursor.position = current_position(session).to_json()
        session.execute(delete(derived))
    done = 0
    for entity, table in tables.items():
        after: UUID | None = None
        while True:
            with open_session(engine, origin=ORIGIN_CRM) as session:
                query = select(table.c.id).order_by(table.c.id).limit(batch_size)
                if after is not None:
                    query = query.where(table.c.id > after)
                ids = list(session.scalars(query))
                if not ids:
                    break
                derive(session, {entity: set(ids)})
            after = ids[-1]
            done += len(ids)
            if progress is not None:
                progress(len(ids))
    return done


def _far_behind(stored: FeedPosition, reached: FeedPosition) -> bool:
    """Whether enough unrelated changes were read past to be worth storing the new position
    (a write per call otherwise; reading past them again is cheap until then)."""
    if reached.base is None:
        return reached.change_id - stored.change_id >= _REMEMBER_AFTER
    if stored.base is None:
        return True
    return _snapshot_xmax(reached.base) - _snapshot_xmax(stored.base) >= _REMEMBER_AFTER


def _snapshot_xmax(snapshot: str) -> int:
    return int(snapshot.split(":", 2)[1])


def stored_position(session: Session, consumer: str) -> FeedPosition:
    """How far ``consumer`` has read the feed."""
    cursor = session.get(ChangeCursor, consumer)
    return FeedPosition.from_json(cursor.position if cursor is not None else None)


def lock_cursor(session: Session, consumer: str) -> ChangeCursor:
    """The consumer's cursor row, locked for this transaction (created on first use)."""
    postgres = is_postgres(session)
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    session.execute(
        dialect_insert(ChangeCursor).values(consumer=consumer, position={}).on_conflict_do_nothing()
    )
    query = select(ChangeCursor).where(ChangeCursor.consumer == consumer)
    if postgres:
        query = query.with_for_update()
    return session.scalars(query).one()
