"""The engine's bookkeeping: run rows, cursors, quarantine and conflict rows.

Every function runs in the caller's transaction, so counts, cursors and quarantined records are
committed together with the data they describe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.models import Conflict, Quarantine, SyncRun, SyncState, table_of
from crm_core.models._types import new_id, utcnow
from crm_core.sync._canon import canonical

__all__ = [
    "COUNTS",
    "Counts",
    "Problem",
    "add_counts",
    "load_cursor",
    "quarantine",
    "resolve_quarantined",
    "save_cursor",
]

COUNTS = ("read", "created", "updated", "unchanged", "conflicts", "quarantined", "deleted")
"""The counts a run keeps, in the order they are shown."""


@dataclass
class Counts:
    """What a run (or one page of it) did."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    quarantined: int = 0
    deleted: int = 0

    def add(self, other: Counts) -> None:
        """Add another page's counts to these."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {name: getattr(self, name) for name in COUNTS}


@dataclass(frozen=True)
class Problem:
    """A record that goes to quarantine: its key, payload, the reason, and the kind of error
    (``invalid``, ``lookup``, ``rejected``, ``transient``, ``ambiguous``)."""

    record_key: str | None
    payload: Mapping[str, Any]
    reason: str
    kind: str


@dataclass
class RunContext:
    """Who writes the books: the pipeline, its source, entity and direction, and the run."""

    pipeline: str
    source: str
    entity: str
    direction: str
    run_id: UUID | None
    extra: dict[str, Any] = field(default_factory=dict)


def load_cursor(session: Session, pipeline: str, direction: str) -> Any:
    """The stored cursor of ``pipeline`` in ``direction`` (None before the first run)."""
    return session.scalar(
        select(SyncState.cursor).where(
            SyncState.pipeline == pipeline, SyncState.direction == direction
        )
    )


def save_cursor(session: Session, pipeline: str, direction: str, cursor: Any) -> None:
    """Store the cursor (in the caller's transaction, with the data it covers)."""
    table = table_of(SyncState)
    done = session.execute(
        update(table)
        .where(table.c.pipeline == pipeline, table.c.direction == direction)
        .values(cursor=cursor, updated_at=utcnow())
    )
    if getattr(done, "rowcount", 0) == 0:
        session.execute(
            insert(table).values(
                pipeline=pipeline, direction=direction, cursor=cursor, updated_at=utcnow()
            )
        )


def add_counts(session: Session, run_id: UUID | None, counts: Counts) -> None:
    """Add a page's counts to its run row."""
    if run_id is None:
        return
    table = table_of(SyncRun)
    session.execute(
        update(table)
        .where(table.c.id == run_id)
        .values({name: table.c[name] + getattr(counts, name) for name in COUNTS})
    )


def quarantine(session: Session, context: RunContext, problems: Sequence[Problem]) -> None:
    """Put records in quarantine; a record already waiting there (same pipeline, direction and
    key) is updated: new payload and reason, one more attempt."""
    if not problems:
        return
    table = table_of(Quarantine)
    keys = [problem.record_key for problem in problems if problem.record_key is not None]
    waiting: dict[str, UUID] = {}
    if keys:
        rows = session.execute(
            select(table.c.id, table.c.record_key).where(
                table.c.status == "open",
                table.c.pipeline == context.pipeline,
                table.c.direction == context.direction,
                among(session, table.c.record_key, keys),
            )
        )
        waiting = {row.record_key: row.id for row in rows}
    now = utcnow()
    for problem in problems:
        payload = canonical(dict(problem.payload))
        existing = waiting.get(problem.record_key) if problem.record_key else None
        if existing is not None:
            session.execute(
                update(table)
                .where(table.c.id == existing)
                .values(
                    payload=payload,
                    reason=problem.reason,
                    error_kind=problem.kind,
                    attempts=table.c.attempts + 1,
                    last_attempt_at=now,
                    run_id=context.run_id,
                )
            )
            continue
        session.execute(
            insert(table).values(
                id=new_id(),
                run_id=context.run_id,
                pipeline=context.pipeline,
                source=context.source,
                entity=context.entity,
                direction=context.direction,
                record_key=problem.record_key,
                payload=payload,
                reason=problem.reason,
                error_kind=problem.kind,
                attempts=1,
                status="open",
                created_at=now,
                last_attempt_at=now,
            )
        )


def resolve_quarantined(session: Session, context: RunContext, record_keys: Sequence[str]) -> None:
    """Close the open quarantine entries of records that have now gone through."""
    if not record_keys:
        return
    table = table_of(Quarantine)
    session.execute(
        update(table)
        .where(
            and_(
                table.c.status == "open",
                table.c.pipeline == context.pipeline,
                table.c.direction == context.direction,
                among(session, table.c.record_key, list(record_keys)),
            )
        )
        .values(status="resolved", resolved_at=utcnow())
    )


def open_conflicts(
    session: Session, pipeline: str, record_ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    """The open conflicts of these records: record id -> field -> the conflict row."""
    if not record_ids:
        return {}
    table = table_of(Conflict)
    rows = session.execute(
        select(table).where(
            table.c.status == "open",
            table.c.pipeline == pipeline,
            among(session, table.c.record_id, list(record_ids)),
        )
    )
    found: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        found.setdefault(row.record_id, {})[row.field] = row
    return found
