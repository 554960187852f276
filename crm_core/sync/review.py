"""What operations staff do with what a sync could not settle by itself: quarantined records
(look, fix, replay) and conflicts (look, decide)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, String, cast, func, or_, select, update

from crm_core.changes import decode_changed
from crm_core.db import open_session
from crm_core.errors import InvalidInput, NotFound
from crm_core.mapping import MappingFailure, load_mapping
from crm_core.models import Conflict, Quarantine, SyncRun, table_of
from crm_core.models._types import utcnow
from crm_core.sync import inbound, outbound
from crm_core.sync._job import Job, model_for
from crm_core.sync._links import XrefLookup
from crm_core.sync.pipeline import load_pipeline, open_connector

MIGRATION_PREFIX = "migrate:"
"""Quarantine entries of migrations have pipelines named ``migrate:<mapping>``."""


__all__ = [
    "Preview",
    "ReplayResult",
    "find_conflict",
    "find_quarantined",
    "find_run",
    "list_conflicts",
    "list_quarantined",
    "preview",
    "replay",
    "resolve_conflict",
]


def _by_prefix(engine: Engine, model: Any, prefix: str, what: str) -> Any:
    text = prefix.strip().lower().replace("-", "")
    if len(text) < 4 or not all(char in "0123456789abcdef" for char in text):
        raise InvalidInput(f"give at least 4 hex digits of the {what} id")
    digits = func.replace(cast(model.id, String), "-", "")  # PostgreSQL shows the dashes
    query = select(model).where(digits.like(f"{text}%") | digits.like(f"%{text}")).limit(2)
    with open_session(engine) as session:
        found = list(session.execute(query).scalars())
    if not found:
        raise NotFound(f"no {what} with an id starting or ending with {prefix}")
    if len(found) > 1:
        raise InvalidInput(f"several {what}s have ids starting or ending with {prefix}; give more")
    return found[0]


def find_run(engine: Engine, prefix: str) -> SyncRun:
    """The run whose id starts with ``prefix`` or ends with it (commands show the last 8 hex
    digits: the first ones of a UUIDv7 are its creation time, alike within a minute)."""
    found: SyncRun = _by_prefix(engine, SyncRun, prefix, "run")
    return found


def find_quarantined(engine: Engine, prefix: str) -> Quarantine:
    """The quarantine entry whose id starts with ``prefix``."""
    found: Quarantine = _by_prefix(engine, Quarantine, prefix, "quarantine entry")
    return found


def find_conflict(engine: Engine, prefix: str) -> Conflict:
    """The conflict whose id starts with ``prefix``."""
    found: Conflict = _by_prefix(engine, Conflict, prefix, "conflict")
    return found


def list_quarantined(
    engine: Engine, *, pipeline: str | None = None, status: str | None = "open", limit: int = 100
) -> list[Quarantine]:
    """Quarantined records, newest attempt first."""
    found: list[Quarantine] = _listing(
        engine,
        Quarantine,
        Quarantine.last_attempt_at,
        pipeline=pipeline,
        status=status,
        limit=limit,
    )
    return found


def list_conflicts(
    engine: Engine, *, pipeline: str | None = None, status: str | None = "open", limit: int = 100
) -> list[Conflict]:
    """Conflicts, newest first."""
    found: list[Conflict] = _listing(
        engine, Conflict, Conflict.created_at, pipeline=pipeline, status=status, limit=limit
    )
    return found


def _listing(
    engine: Engine,
    model: Any,
    newest: Any,
    *,
    pipeline: str | None,
    status: str | None,
    limit: int,
) -> list[Any]:
    query = select(model).order_by(newest.desc()).limit(limit)
    if pipeline:
        query = query.where(model.pipeline == pipeline)
    if status:
        query = query.where(model.status == status)
    with open_session(engine) as session:
        return list(session.execute(query).scalars())


@dataclass
class ReplayResult:
    """What a replay did: entries delivered, and those still in quarantine."""

    delivered: int = 0
    still_quarantined: int = 0


def replay(
    engine: Engine, *, ids: Sequence[UUID] | None = None, pipeline: str | None = None
) -> ReplayResult:
    """Apply quarantined records of sync pipelines again: inbound ones from their stored
    payload, outbound ones from the CRM record as it is now. Entries that go through are
    closed. (Migration entries, pipeline ``migrate:...``, are replayed by
    :func:`crm_core.migrate.replay_migration_rows`.)"""
    query = select(Quarantine).where(
        Quarantine.status == "open",
        or_(Quarantine.pipeline.is_(None), ~Quarantine.pipeline.startswith(MIGRATION_PREFIX)),
    )
    if ids:
        query = query.where(Quarantine.id.in_(list(ids)))
    if pipeline:
        query = query.where(Quarantine.pipeline == pipeline)
    with open_session(engine) as session:
        entries = list(session.execute(query).scalars())
    groups: dict[tuple[str, str], list[Quarantine]] = defaultdict(list)
    for entry in entries:
        if entry.pipeline is None:
            raise InvalidInput(f"quarantine entry {entry.id} has no pipeline to replay it with")
        groups[(entry.pipeline, entry.direction)].append(entry)
    for (name, direction), group in groups.items():
        pipe = load_pipeline(name)
        mapping = load_mapping(pipe.mapping_path())
        connector = open_connector(pipe)
        try:
            job = Job(engine, pipe, mapping, connector)
            if direction == inbound.DIRECTION:
                inbound.apply_records(job, [entry.payload for entry in group], save=False)
            else:
                record_ids = [UUID(entry.record_key) for entry in group if entry.record_key]
                outbound.push_records(job, record_ids)
        finally:
            connector.close()
    result = ReplayResult()
    with open_session(engine) as session:
        for entry in entries:
            status = session.scalar(select(Quarantine.status).where(Quarantine.id == entry.id))
            if status == "open":
                result.still_quarantined += 1
            else:
                result.delivered += 1
    return result


def open_migration_rows(
    engine: Engine, ids: Sequence[UUID] | None, pipeline: str | None
) -> list[Quarantine]:
    """The open quarantine entries of migrations (all, or those of ``ids`` / ``pipeline``)."""
    query = select(Quarantine).where(
        Quarantine.status == "open", Quarantine.pipeline.startswith(MIGRATION_PREFIX)
    )
    if ids:
        query = query.where(Quarantine.id.in_(list(ids)))
    if pipeline:
        query = query.where(Quarantine.pipeline == pipeline)
    with open_session(engine) as session:
        return list(session.execute(query.order_by(Quarantine.created_at)).scalars())


def resolve_conflict(engine: Engine, conflict_id: UUID, take: str) -> Conflict:
    """Settle an open conflict. ``take="source"`` writes the system's value into the CRM (as a
    write of that system, so it is not sent back); ``take="crm"`` keeps the CRM's value and the
    next outbound run sends it to the system."""
    if take not in {"crm", "source"}:
        raise InvalidInput("--take must be crm or source")
    table = table_of(Conflict)
    with open_session(engine) as session:
        conflict = session.get(Conflict, conflict_id)
        if conflict is None:
            raise NotFound(f"no conflict {conflict_id}")
        if conflict.status != "open":
            raise InvalidInput(f"conflict {conflict_id} is already {conflict.status}")
        system = conflict.system
    if take == "source":
        _write_source_value(engine, conflict, system)
        status = "resolved"
    else:
        status = "applying"
    with open_session(engine) as session:
        session.execute(
            update(table)
            .where(table.c.id == conflict_id)
            .values(status=status, resolution=take, resolved_at=utcnow())
        )
        settled = session.get(Conflict, conflict_id)
        assert settled is not None  # noqa: S101 - updated just above
        return settled


def _write_source_value(engine: Engine, conflict: Conflict, system: str) -> None:
    model = model_for(conflict.entity)
    table = table_of(model)
    with open_session(engine, origin=system) as session:
        if conflict.field.startswith("custom."):
            custom = session.scalar(select(table.c.custom).where(table.c.id == conflict.record_id))
            merged = {
                **(custom or {}),
                conflict.field.removeprefix("custom."): conflict.source_value,
            }
            values: dict[str, Any] = {"custom": merged}
        elif conflict.field in table.c:
            values = decode_changed(table.name, {conflict.field: conflict.source_value})
        else:
            raise InvalidInput(
                f"conflict {conflict.id} is on {conflict.field}, which cannot be set from the "
                "command line; fix it in either system and sync again"
            )
        session.execute(update(table).where(table.c.id == conflict.record_id).values(**values))


@dataclass
class Preview:
    """One external record and what the mapping makes of it (or why it cannot)."""

    record: dict[str, Any]
    values: dict[str, Any] | None
    lines: list[dict[str, Any]] | None
    error: str | None


def preview(engine: Engine, pipeline_name: str, sample: int) -> list[Preview]:
    """Read up to ``sample`` records of a pipeline's system and map them, writing nothing.
    References to related records resolve through the links already in the CRM."""
    pipe = load_pipeline(pipeline_name)
    mapping = load_mapping(pipe.mapping_path())
    connector = open_connector(pipe)
    found: list[Preview] = []
    try:
        page = next(iter(connector.read_changes(mapping.external_entity, None, sample)), None)
        records_read = page.records[:sample] if page is not None else []
        with open_session(engine) as session:
            lookup = XrefLookup(session)
            for record in records_read:
                try:
                    values = mapping.to_crm(record, lookup)
                    lines = mapping.lines_to_crm(record, lookup)
                    found.append(Preview(dict(record), values, lines, None))
                except MappingFailure as failure:
                    found.append(
                        Preview(dict(record), None, None, f"{failure.field}: {failure.reason}")
                    )
    finally:
        connector.close()
    return found
