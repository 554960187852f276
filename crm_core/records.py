"""Create, read, update and delete single CRM records, with optimistic concurrency.

An update names the version it was based on; if the record has moved on since, the update
fails with :class:`StaleVersionError` and writes nothing. The session (opened by the caller
with an origin, see :func:`crm_core.db.open_session`) decides who the change is attributed to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from crm_core.errors import InvalidInput, NotFound, StaleVersionError
from crm_core.models import Entity, utcnow

__all__ = ["create", "delete", "get", "record_label", "restore", "soft_delete", "update"]

E = TypeVar("E", bound=Entity)

_PROTECTED = frozenset({"id", "version", "created_at", "updated_at", "created_by", "updated_by"})


def get(session: Session, model: type[E], record_id: UUID, *, include_deleted: bool = False) -> E:
    """The record with this id; :class:`NotFound` if there is none (or it is soft-deleted)."""
    record = session.get(model, record_id, populate_existing=True)
    if record is None or (record.deleted_at is not None and not include_deleted):
        raise NotFound(f"no {_label(model)} with id {record_id}")
    return record


def create(
    session: Session, model: type[E], values: Mapping[str, Any], *, actor_id: UUID | None = None
) -> E:
    """Add a new record with ``values`` (an ``id`` may be given; version starts at 1)."""
    _check_fields(model, values, allow={"id"})
    record = model(**values)
    record.created_by = actor_id
    record.updated_by = actor_id
    session.add(record)
    session.flush()
    return record


def update(
    session: Session,
    model: type[E],
    record_id: UUID,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    actor_id: UUID | None = None,
) -> E:
    """Apply ``changes`` if the record is still at ``expected_version``; return it updated.

    Raises :class:`StaleVersionError` (and writes nothing) when someone else changed the record
    since that version was read, :class:`NotFound` when it does not exist.
    """
    _check_fields(model, changes)
    return _write(
        session,
        model,
        record_id=record_id,
        values=dict(changes),
        expected_version=expected_version,
        actor_id=actor_id,
    )


def soft_delete(
    session: Session,
    model: type[E],
    record_id: UUID,
    *,
    expected_version: int,
    actor_id: UUID | None = None,
) -> E:
    """Mark the record deleted (it stays in the database and can be restored)."""
    return _write(
        session,
        model,
        record_id=record_id,
        values={"deleted_at": utcnow()},
        expected_version=expected_version,
        actor_id=actor_id,
    )


def restore(
    session: Session,
    model: type[E],
    record_id: UUID,
    *,
    expected_version: int,
    actor_id: UUID | None = None,
) -> E:
    """Undo a soft delete."""
    return _write(
        session,
        model,
        record_id=record_id,
        values={"deleted_at": None},
        expected_version=expected_version,
        actor_id=actor_id,
    )


def delete(session: Session, model: type[E], record_id: UUID, *, expected_version: int) -> None:
    """Remove the record for good (prefer :func:`soft_delete`; merges and audits need history)."""
    result = session.execute(
        sql_delete(model).where(model.id == record_id, model.version == expected_version)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        _raise_stale_or_missing(session, model, record_id, expected_version)
    session.expire_all()


def _write(
    session: Session,
    model: type[E],
    *,
    record_id: UUID,
    values: dict[str, Any],
    expected_version: int,
    actor_id: UUID | None,
) -> E:
    session.flush()
    values.update(version=expected_version + 1, updated_at=utcnow(), updated_by=actor_id)
    statement = (
        sql_update(model)
        .where(model.id == record_id, model.version == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(statement)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        _raise_stale_or_missing(session, model, record_id, expected_version)
    return get(session, model, record_id, include_deleted=True)


def _raise_stale_or_missing(
    session: Session, model: type[Entity], record_id: UUID, expected_version: int
) -> None:
    current = session.scalar(select(model.version).where(model.id == record_id))
    if current is None:
        raise NotFound(f"no {_label(model)} with id {record_id}")
    raise StaleVersionError.for_record(model.__tablename__, record_id, expected_version, current)


def _check_fields(
    model: type[Entity], values: Mapping[str, Any], allow: set[str] | None = None
) -> None:
    columns = set(model.__table__.columns.keys())
    for name in values:
        if name not in columns:
            raise InvalidInput(f"{_label(model)} has no field {name!r}")
        if name in _PROTECTED and name not in (allow or set()):
            raise InvalidInput(f"{name!r} is kept by the hub and cannot be set directly")


def _label(model: type[Entity]) -> str:
    return record_label(model.__tablename__)


def record_label(table: str) -> str:
    """How a message names one record of ``table``: ``accounts`` -> ``account``."""
    if table.endswith("ies"):
        table = table[:-3] + "y"
    elif table.endswith("s"):
        table = table[:-1]
    return table.replace("_", " ")
