"""Bulk upsert: write many rows of one entity fast, with change capture, and clear rejects.

:func:`bulk_upsert` writes one batch inside the caller's transaction: rows whose key is new are
created (``COPY`` on PostgreSQL, ``executemany`` on SQLite), rows whose values differ from the
stored record are updated (version bumped), rows that match the stored record are left alone.
A row that does not fit the schema (wrong type, too long, a required field missing, a reference
to a record that does not exist, a unique value that belongs to another record) is *rejected*
with its reason and never written; the others go ahead. Change capture stays on: the database
triggers log every written row (set-wise on PostgreSQL), with the session's origin.

:func:`load` streams any iterable through :func:`bulk_upsert` batch by batch, one transaction per
batch, so memory stays flat however many rows there are.

Values are checked column by column rather than row by row: most of a load is text, and a text
column is checked in one list comprehension, without a Python call per value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from crm_core.bulk._batch import Batch, Rejected
from crm_core.bulk._plan import make_plan
from crm_core.bulk._writers import Stamp, insert_rows, writer_for
from crm_core.db import analyze, open_session
from crm_core.errors import InvalidInput, TongbuError
from crm_core.models import Entity, new_id, table_of, utcnow

__all__ = [
    "BulkResult",
    "ConcurrentWriteError",
    "Rejected",
    "bulk_upsert",
    "insert_rows",
    "load",
]

_ATTEMPTS = 3
_ANALYZE_AFTER = 10_000


class ConcurrentWriteError(TongbuError):
    """Another writer changed rows of the batch between reading and writing them."""


@dataclass
class BulkResult:
    """What a bulk write did: counts, rejected rows, and the record id of every row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    """Rows replaced by a later row with the same key in the same batch."""
    rejected: list[Rejected] = field(default_factory=list)
    ids: list[UUID | None] = field(default_factory=list)
    """Per input row, the id of the record it was written to (None when rejected)."""

    @property
    def written(self) -> int:
        """Rows that were accepted: created, updated, unchanged or superseded."""
        return self.created + self.updated + self.unchanged + self.superseded

    def absorb(self, other: BulkResult, offset: int) -> None:
        """Add the counts and rejects of a later batch that started at row ``offset``."""
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.superseded += other.superseded
        self.rejected.extend(Rejected(r.index + offset, r.row, r.reason) for r in other.rejected)


def load(
    engine: Engine,
    model: type[Entity],
    rows: Iterable[Mapping[str, Any]],
    *,
    origin: str,
    key: str = "id",
    batch_size: int = 5000,
    actor_id: UUID | None = None,
    progress: Callable[[BulkResult], None] | None = None,
) -> BulkResult:
    """Upsert a stream of rows in batches of ``batch_size``, committing each batch.

    ``progress`` is called after each batch with that batch's result. A crash loses at most the
    batch in flight; every committed batch is complete, with its change log.
    """
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1")
    total = BulkResult()
    iterator = iter(rows)
    offset = 0
    while batch := list(itertools.islice(iterator, batch_size)):
        result = _write_batch(engine, model, batch, origin=origin, key=key, actor_id=actor_id)
        total.absorb(result, offset)
        offset += len(batch)
        if progress is not None:
            progress(result)
    if total.created + total.updated >= _ANALYZE_AFTER:
        analyze(engine, table_of(model).name, "change_log")
    return total


def _write_batch(
    engine: Engine,
    model: type[Entity],
    batch: list[Mapping[str, Any]],
    *,
    origin: str,
    key: str,
    actor_id: UUID | None,
) -> BulkResult:
    """One batch in its own transaction, retried when a concurrent writer got in the way."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with open_session(engine, origin=origin, actor_id=actor_id) as session:
                return bulk_upsert(session, model, batch, key=key, actor_id=actor_id)
        except (ConcurrentWriteError, sa_exc.IntegrityError):
            # Another writer created or changed some of these rows between our read and our
            # write; the transaction rolled back, and the next attempt reads them again.
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def bulk_upsert(
    session: Session,
    model: type[Entity],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    actor_id: UUID | None = None,
) -> BulkResult:
    """Create or update ``rows`` of ``model`` matched on ``key`` (``id`` or a unique field).

    All rows of a batch must name the same fields. Runs in the caller's transaction.
    """
    result = BulkResult(ids=[None] * len(rows))
    if not rows:
        return result
    plan = make_plan(table_of(model), tuple(rows[0].keys()), key)
    batch = Batch(plan, rows)
    batch.check()
    batch.reject_dangling_references(session)
    stored = batch.stored(session)
    batch.reject_unique_clashes(session, stored)

    create_keys, create_ids, update_keys, targets = _sort_out(batch, stored, result)
    result.rejected = sorted(batch.rejected, key=lambda rejected: rejected.index)

    writer = writer_for(session)
    stamp = Stamp(now=utcnow(), actor_id=actor_id)
    if create_keys:
        writer.create(session, batch, create_keys, create_ids, stamp)
        result.created = len(create_keys)
    if update_keys:
        written = writer.update(session, batch, update_keys, targets, stamp)
        if written != len(update_keys):
            raise ConcurrentWriteError(
                f"{len(update_keys) - written} {plan.table.name} rows changed while the batch "
                "was being written; nothing of the batch was kept"
            )
        result.updated = len(update_keys)
    return result


def _sort_out(
    batch: Batch, stored: Mapping[Any, Mapping[str, Any]], result: BulkResult
) -> tuple[list[Any], list[UUID], list[Any], list[tuple[UUID, int]]]:
    """Which keys of the batch are created (with their new ids) and which updated (with the
    id and version they are expected at); note every row's record id and the unchanged and
    superseded rows in ``result``."""
    given = batch.columns.get("id")
    positions = batch.latest.values()
    if not stored:  # a load of new records: nothing to compare
        create_keys = list(batch.latest)
        if given is None:
            create_ids = [new_id() for _ in create_keys]
        else:
            create_ids = [given[p] if given[p] is not None else new_id() for p in positions]
        update_keys: list[Any] = []
        targets: list[tuple[UUID, int]] = []
        for position, record_id in zip(positions, create_ids, strict=True):
            result.ids[position] = record_id
    else:
        create_keys, create_ids, update_keys, targets = [], [], [], []
        fields = batch.plan.data_fields
        for row_key, position in batch.latest.items():
            current = stored.get(row_key)
            if current is None:
                new = given[position] if given is not None else None
                record_id = new if new is not None else new_id()
                create_keys.append(row_key)
                create_ids.append(record_id)
            else:
                record_id = current["id"]
                if any(current[name] != batch.columns[name][position] for name in fields):
                    update_keys.append(row_key)
                    targets.append((record_id, current["version"]))
                else:
                    result.unchanged += 1
            result.ids[position] = record_id
    for row_key, repeated in batch.repeats.items():
        written_to = result.ids[batch.latest[row_key]]
        for position in repeated:
            result.ids[position] = written_to
        result.superseded += len(repeated) - 1
    return create_keys, create_ids, update_keys, targets
