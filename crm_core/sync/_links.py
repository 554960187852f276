"""Links between CRM records and external records (``xref``): reading them in bulk, writing
them back, and resolving references of related records for the mappings."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.bulk import insert_rows
from crm_core.models import Xref, table_of
from crm_core.models._types import new_id, utcnow

__all__ = [
    "Link",
    "LinkWriter",
    "XrefLookup",
    "links_by_key",
    "links_by_record",
    "links_merged_from",
]

_XREF = table_of(Xref).c


@dataclass
class Link:
    """One ``xref`` row as the engine uses it."""

    id: UUID
    external_id: str
    record_id: UUID
    external_version: str | None
    hash_in: str | None
    hash_out: str | None
    synced_values: dict[str, Any] | None
    merged_from_id: UUID | None = None
    """The record the link belonged to before a merge moved it to ``record_id`` (None for a
    record's own link)."""
    new: bool = False


def _link(row: Any) -> Link:
    return Link(
        id=row.id,
        external_id=row.external_id,
        record_id=row.record_id,
        external_version=row.external_version,
        hash_in=row.hash_in,
        hash_out=row.hash_out,
        synced_values=row.synced_values,
        merged_from_id=row.merged_from_id,
    )


_COLUMNS = (
    _XREF.id,
    _XREF.external_id,
    _XREF.record_id,
    _XREF.external_version,
    _XREF.hash_in,
    _XREF.hash_out,
    _XREF.synced_values,
    _XREF.merged_from_id,
)


def links_by_key(
    session: Session, system: str, external_entity: str, keys: Collection[str]
) -> dict[str, Link]:
    """The links of these external ids, by external id."""
    if not keys:
        return {}
    query = select(*_COLUMNS).where(
        _XREF.system == system,
        _XREF.external_entity == external_entity,
        among(session, _XREF.external_id, list(keys)),
    )
    return {row.external_id: _link(row) for row in session.execute(query)}


def links_by_record(
    session: Session, system: str, external_entity: str, record_ids: Collection[UUID]
) -> dict[UUID, Link]:
    """The links of these CRM records, by record id (their own: not those a merge moved to
    them from the records merged away)."""
    if not record_ids:
        return {}
    query = select(*_COLUMNS).where(
        _XREF.system == system,
        _XREF.external_entity == external_entity,
        among(session, _XREF.record_id, list(record_ids)),
        _XREF.merged_from_id.is_(None),
    )
    return {row.record_id: _link(row) for row in session.execute(query)}


def links_merged_from(
    session: Session, system: str, external_entity: str, record_ids: Collection[UUID]
) -> list[Link]:
    """The links that belonged to these (merged-away) records before a merge moved them."""
    if not record_ids:
        return []
    query = select(*_COLUMNS).where(
        _XREF.system == system,
        _XREF.external_entity == external_entity,
        among(session, _XREF.merged_from_id, list(record_ids)),
    )
    return [_link(row) for row in session.execute(query)]


@dataclass
class LinkWriter:
    """Collects the links a page creates or changes, and writes them in two statements."""

    system: str
    external_entity: str
    entity: str
    _inserts: list[dict[str, Any]] = field(default_factory=list)
    _updates: list[dict[str, Any]] = field(default_factory=list)

    def save(self, link: Link) -> None:
        """Queue ``link`` to be written (inserted when new, else updated)."""
        now = utcnow()
        values = {
            "external_id": link.external_id,
            "record_id": link.record_id,
            "external_version": link.external_version,
            "hash_in": link.hash_in,
            "hash_out": link.hash_out,
            "synced_values": link.synced_values,
            "synced_at": now,
        }
        if link.new:
            self._inserts.append(
                {
                    "id": link.id,
                    "system": self.system,
                    "external_entity": self.external_entity,
                    "entity": self.entity,
                    "created_at": now,
                    "updated_at": now,
                    **values,
                }
            )
            link.new = False
        else:
            self._updates.append({"link_id": link.id, "updated_at": now, **values})

    def flush(self, session: Session) -> None:
        """Write what was queued."""
        if self._inserts:
            insert_rows(session, table_of(Xref), self._inserts)
        if self._updates:
            statement = (
                update(table_of(Xref))
                .where(_XREF.id == bindparam("link_id"))
                .values({name: bindparam(name) for name in self._updates[0] if name != "link_id"})
            )
            session.connection().execute(statement, self._updates)
        self._inserts = []
        self._updates = []


def new_link(external_id: str, record_id: UUID) -> Link:
    """A link not yet in the database."""
    return Link(
        id=new_id(),
        external_id=external_id,
        record_id=record_id,
        external_version=None,
        hash_in=None,
        hash_out=None,
        synced_values=None,
        new=True,
    )


class XrefLookup:
    """Resolves references of related records through ``xref`` for the mappings, from caches
    filled in bulk before a page is mapped (one query per referenced entity)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._to_crm: dict[tuple[str, str], dict[str, UUID]] = {}
        self._to_external: dict[tuple[str, str], dict[UUID, str]] = {}

    def prefetch_external(self, wanted: Mapping[tuple[str, str], Iterable[str]]) -> None:
        """Load the CRM ids of these external ids."""
        for (system, entity), keys in wanted.items():
            cache = self._to_crm.setdefault((system, entity), {})
            missing = [key for key in keys if key not in cache]
            for start in range(0, len(missing), 5000):
                found = links_by_key(self._session, system, entity, missing[start : start + 5000])
                cache.update({key: link.record_id for key, link in found.items()})

    def prefetch_records(self, wanted: Mapping[tuple[str, str], Iterable[UUID]]) -> None:
        """Load the external ids of these CRM records."""
        for (system, entity), ids in wanted.items():
            cache = self._to_external.setdefault((system, entity), {})
            missing = [record_id for record_id in ids if record_id not in cache]
            for start in range(0, len(missing), 5000):
                chunk = missing[start : start + 5000]
                found = links_by_record(self._session, system, entity, chunk)
                cache.update({record_id: link.external_id for record_id, link in found.items()})

    def remember(self, system: str, entity: str, external_id: str, record_id: UUID) -> None:
        """Record a link made during this run, so later pages resolve it without a query."""
        self._to_crm.setdefault((system, entity), {})[external_id] = record_id
        self._to_external.setdefault((system, entity), {})[record_id] = external_id

    def crm_id(self, system: str, external_entity: str, external_id: str) -> UUID | None:
        """The CRM record linked to an external id (None when not linked)."""
        cache = self._to_crm.get((system, external_entity))
        if cache is None or external_id not in cache:
            self.prefetch_external({(system, external_entity): [external_id]})
            cache = self._to_crm[(system, external_entity)]
        return cache.get(external_id)

    def external_id(self, system: str, external_entity: str, record_id: UUID) -> str | None:
        """The external id linked to a CRM record (None when not linked)."""
        cache = self._to_external.get((system, external_entity))
        if cache is None or record_id not in cache:
            self.prefetch_records({(system, external_entity): [record_id]})
            cache = self._to_external[(system, external_entity)]
        return cache.get(record_id)
