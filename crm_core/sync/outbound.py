"""Outbound sync: from the CRM to an external system, driven by the change feed.

Read ``change_log`` after the stored position; coalesce the changes of each record into its
latest state; skip records whose every change came from the target system itself (no echo);
map the rest, skip those whose mapped image hashes equal to the one last sent (no-op
suppression), and upsert them in batches. Each batch's results (links, quarantined records) are
committed together with the feed position, so a crash re-sends at most one batch, and the
connector's upsert is idempotent (a retried create finds the record it made).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.changes import FeedPosition, read_changes
from crm_core.db import open_session, plan_each_query
from crm_core.mapping import DeletePolicy, MappingFailure, MergePolicy
from crm_core.models import Conflict, Xref, table_of
from crm_core.sync._books import (
    Counts,
    Problem,
    add_counts,
    load_cursor,
    open_conflicts,
    quarantine,
    resolve_quarantined,
    save_cursor,
)
from crm_core.sync._canon import canonical, digest
from crm_core.sync._job import Job
from crm_core.sync._links import (
    Link,
    LinkWriter,
    XrefLookup,
    links_by_record,
    links_merged_from,
    new_link,
)
from crm_core.sync.ports import ConnectorError, PermanentError, WriteResult

__all__ = ["push", "push_records"]

log = logging.getLogger("tongbu.sync")

DIRECTION = "out"
_CUSTOM = "custom."
_DELETES = {"delete", "soft_delete"}


@dataclass
class _Send:
    """One CRM record on its way out."""

    record_id: UUID
    external: dict[str, Any]
    hash: str
    link: Link | None
    values: dict[str, Any]
    lines: list[dict[str, Any]] | None
    held: frozenset[str] = frozenset()
    """CRM fields left out because of an open conflict."""
    result: WriteResult | None = None


@dataclass
class _Batch:
    """What one batch of records will do."""

    sends: list[_Send] = field(default_factory=list)
    deletes: list[Link] = field(default_factory=list)
    archives: list[Link] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    conflicts_applied: list[UUID] = field(default_factory=list)


def push(job: Job, *, on_batch: Any = None) -> Counts:
    """Send every CRM change since the stored feed position (and every conflict settled for the
    CRM's value) to the external system. Returns the counts of the run."""
    total = Counts()
    entities = {job.mapping.crm_entity}
    if job.mapping.lines is not None:
        entities.add(job.mapping.lines.crm_entity)
    with open_session(job.engine) as session:
        position = FeedPosition.from_json(load_cursor(session, job.pipeline.name, DIRECTION))
        settled = _settled_conflicts(session, job)
    limit = job.pipeline.batch_size
    if settled:
        counts = push_records(job, settled)
        total.add(counts)
    while True:
        with job.timed("read"), open_session(job.engine) as session:
            changes, after = read_changes(session, position, entities=entities, limit=limit)
            wanted, gone = _coalesce(session, job, changes)
        counts = _send(job, wanted, gone, position_after=after)
        total.add(counts)
        if on_batch is not None:
            on_batch(counts)
        position = after
        if len(changes) < limit:
            return total


def push_records(job: Job, record_ids: Collection[UUID]) -> Counts:
    """Send these CRM records as they are now (quarantine replay, settled conflicts)."""
    return _send(job, list(record_ids), set(), position_after=None)


def _settled_conflicts(session: Session, job: Job) -> list[UUID]:
    table = table_of(Conflict)
    rows = session.execute(
        select(table.c.record_id).where(
            table.c.pipeline == job.pipeline.name, table.c.status == "applying"
        )
    )
    return sorted({row.record_id for row in rows})


def _coalesce(session: Session, job: Job, changes: Sequence[Any]) -> tuple[list[UUID], set[UUID]]:
    """The records to look at (in feed order), and those whose last change deleted them.

    A record whose every change in the window was made by the target system itself is left out:
    those values came from there.
    """
    mapping = job.mapping
    foreign: dict[UUID, bool] = {}
    last_op: dict[UUID, str] = {}
    line_ids: dict[UUID, bool] = {}
    for change in changes:
        mine = change.origin != job.system
        if change.entity == mapping.crm_entity:
            foreign[change.record_id] = foreign.get(change.record_id, False) or mine
            last_op[change.record_id] = change.op
        elif mine:
            line_ids[change.record_id] = True
    if line_ids and mapping.lines is not None and job.line_model is not None:
        table = table_of(job.line_model)
        parent = table.c[mapping.lines.parent]
        rows = session.execute(
            select(parent).where(among(session, table.c.id, list(line_ids))).distinct()
        )
        for row in rows:
            foreign[row[0]] = True
    wanted = [record_id for record_id, mine in foreign.items() if mine]
    gone = {record_id for record_id in wanted if last_op.get(record_id) in _DELETES}
    return wanted, gone


def _send(
    job: Job,
    record_ids: Sequence[UUID],
    gone: set[UUID],
    *,
    position_after: FeedPosition | None,
) -> Counts:
    """Map, send and book one batch of records."""
    batch = _Batch()
    if record_ids:
        with job.timed("plan"), open_session(job.engine) as session:
            plan_each_query(session)
            _plan(session, job, record_ids, gone, batch)
    if job.dry_run:
        return batch.counts
    with job.timed("send"):
        _deliver(job, batch)
    with job.timed("book"), open_session(job.engine, origin=job.system) as session:
        plan_each_query(session)
        _book(session, job, batch)
        if position_after is not None:
            save_cursor(session, job.pipeline.name, DIRECTION, position_after.to_json())
        add_counts(session, job.run_id, batch.counts)
    return batch.counts


def _plan(
    session: Session, job: Job, record_ids: Sequence[UUID], gone: set[UUID], batch: _Batch
) -> None:
    mapping = job.mapping
    counts = batch.counts
    counts.read = len(record_ids)
    rows = _current(session, job, record_ids)
    lines = _current_lines(session, job, record_ids)
    links = links_by_record(session, job.system, job.external_entity, record_ids)
    gone_now = [rid for rid in record_ids if rows.get(rid) is None or rows[rid]["deleted_at"]]
    inherited: dict[UUID, list[Link]] = {}
    for moved in links_merged_from(session, job.system, job.external_entity, gone_now):
        if moved.merged_from_id is not None:
            inherited.setdefault(moved.merged_from_id, []).append(moved)
    conflicts = open_conflicts(session, job.pipeline.name, list(record_ids))
    lookup = XrefLookup(session)
    values_by_id = {rid: _values(job, row) for rid, row in rows.items()}
    lookup.prefetch_records(
        mapping.outbound_references(values_by_id.values(), list(lines.values()))
    )
    for record_id in record_ids:
        row = rows.get(record_id)
        link = links.get(record_id)
        if row is None or row["deleted_at"] is not None:
            _plan_delete(job, link, batch)
            for merged in inherited.get(record_id, []):
                _plan_merged(job, merged, batch)
            continue
        values = values_by_id[record_id]
        record_lines = lines.get(record_id) if mapping.lines is not None else None
        try:
            external = mapping.to_external(values, record_lines, lookup)
        except MappingFailure as failure:
            batch.problems.append(
                Problem(
                    str(record_id),
                    {"record_id": str(record_id), "values": canonical(values)},
                    f"{failure.field}: {failure.reason}",
                    failure.kind,
                )
            )
            counts.quarantined += 1
            continue
        key = link.external_id if link is not None else mapping.create_key_for(record_id, values)
        if key is not None:
            external[mapping.key] = key
        for name in conflicts.get(record_id, {}):
            _hold_back(
                job,
                external=external,
                values=values,
                lines=record_lines,
                name=name,
                lookup=lookup,
            )
        sent_hash = digest(external)
        if link is not None and link.hash_out == sent_hash:
            counts.unchanged += 1
            continue
        held = frozenset(conflicts.get(record_id, {}))
        batch.sends.append(_Send(record_id, external, sent_hash, link, values, record_lines, held))
        if link is None:
            counts.created += 1
        else:
            counts.updated += 1


def _plan_delete(job: Job, link: Link | None, batch: _Batch) -> None:
    """A record deleted in the CRM: what its external counterpart gets, by the delete policy."""
    if link is None:
        batch.counts.unchanged += 1
        return
    policy = job.mapping.delete_policy
    if policy is DeletePolicy.PROPAGATE:
        batch.deletes.append(link)
    elif policy is DeletePolicy.ARCHIVE and getattr(job.mapping, "archive_external", None):
        batch.archives.append(link)
    else:
        batch.counts.unchanged += 1
        return
    batch.counts.deleted += 1


def _plan_merged(job: Job, link: Link, batch: _Batch) -> None:
    """The external record of a record merged away (its link now on the survivor): archived
    when the mapping says so, else left alone."""
    if job.mapping.merge_policy is MergePolicy.ARCHIVE and job.mapping.archive_external:
        batch.archives.append(link)
        batch.counts.deleted += 1


def _hold_back(
    job: Job,
    *,
    external: dict[str, Any],
    values: Mapping[str, Any],
    lines: Any,
    name: str,
    lookup: XrefLookup,
) -> None:
    """Leave out of ``external`` the fields of a CRM field with an open conflict: neither side's
    value is sent until a person settles it."""
    if name not in values:
        return
    without = dict(values)
    without[name] = None
    try:
        other = job.mapping.to_external(without, lines, lookup)
    except MappingFailure:
        other = {}
    for field_name in list(external):
        if field_name != job.mapping.key and other.get(field_name) != external[field_name]:
            del external[field_name]


def _deliver(job: Job, batch: _Batch) -> None:
    """Send the batch to the system. A failure of a whole call (the system is down after every
    retry) stops the run with nothing booked: the next run sends the batch again."""
    entity = job.external_entity
    size = job.pipeline.batch_size
    for start in range(0, len(batch.sends), size):
        chunk = batch.sends[start : start + size]
        results = job.connector.upsert(entity, [send.external for send in chunk])
        for result in results:
            chunk[result.index].result = result
    if batch.archives:
        values = dict(getattr(job.mapping, "archive_external", None) or {})
        records = [{job.mapping.key: link.external_id, **values} for link in batch.archives]
        for result in job.connector.upsert(entity, records):
            if result.error is not None:
                batch.problems.append(_failure(str(batch.archives[result.index].record_id), result))
    if batch.deletes:
        results = job.connector.delete(entity, [link.external_id for link in batch.deletes])
        for result in results:
            if result.error is not None:
                link = batch.deletes[result.index]
                batch.problems.append(_failure(str(link.record_id), result))


def _failure(key: str, result: WriteResult, payload: Mapping[str, Any] | None = None) -> Problem:
    error = result.error
    assert error is not None  # noqa: S101 - only failed results get here
    kind = "rejected" if isinstance(error, PermanentError) else "transient"
    return Problem(key, dict(payload or {"record_id": key}), str(error), kind)


def _book(session: Session, job: Job, batch: _Batch) -> None:
    """Record what the system answered: links, quarantined records, settled conflicts."""
    writer = LinkWriter(job.system, job.external_entity, job.mapping.crm_entity)
    lookup = XrefLookup(session)
    lookup.prefetch_external(job.mapping.inbound_references(s.external for s in batch.sends))
    counts = batch.counts
    delivered: list[str] = []
    applied: list[UUID] = []
    for send in batch.sends:
        result = send.result
        if result is None or result.error is not None:
            if result is None:
                result = WriteResult(index=0, error=ConnectorError("no answer for this record"))
            payload = {"record_id": str(send.record_id), "external": send.external}
            batch.problems.append(_failure(str(send.record_id), result, payload))
            if send.link is None:
                counts.created -= 1
            else:
                counts.updated -= 1
            counts.quarantined += 1
            continue
        link = send.link or new_link(result.external_id or "", send.record_id)
        if result.external_id:
            link.external_id = result.external_id
        link.external_version = result.external_version
        link.hash_out = send.hash
        link.synced_values = _synced_after_send(job, send, lookup)
        link.hash_in = _expected_hash_in(job, link.synced_values)
        writer.save(link)
        delivered.append(str(send.record_id))
        applied.append(send.record_id)
    writer.flush(session)
    gone = [link.id for link in batch.deletes]
    if gone:
        xref = table_of(Xref)
        session.execute(delete(xref).where(among(session, xref.c.id, gone)))
    context = job.context(DIRECTION)
    quarantine(session, context, batch.problems)
    resolve_quarantined(session, context, delivered)
    if applied:
        table = table_of(Conflict)
        session.execute(
            update(table)
            .where(
                table.c.pipeline == job.pipeline.name,
                table.c.status == "applying",
                among(session, table.c.record_id, applied),
            )
            .values(status="resolved")
        )


def _synced_after_send(job: Job, send: _Send, lookup: XrefLookup) -> dict[str, Any]:
    """The base of the next three-way compare: the values the system now holds, as the next
    inbound read will map them. Mapping what was sent back into the CRM's terms makes a value
    the inbound transforms normalise (a phone to E.164) compare equal when it comes back, so
    our own write is not taken for a change made in the system."""
    mapping = job.mapping
    synced = dict(send.link.synced_values or {}) if send.link is not None else {}
    try:
        echo: dict[str, Any] = mapping.to_crm(send.external, lookup)
        echo_lines = mapping.lines_to_crm(send.external, lookup)
    except MappingFailure:
        echo, echo_lines = dict(send.values), send.lines
    for name in mapping.inbound_fields:
        if name in mapping.outbound_fields and name in echo and name not in send.held:
            synced[name] = canonical(echo[name])
    if echo_lines is not None and mapping.lines is not None:
        names = list(mapping.lines.inbound_fields)
        synced[mapping.lines.crm_entity] = canonical(
            [{name: line.get(name) for name in names if name in line} for line in echo_lines]
        )
    return synced


def _expected_hash_in(job: Job, synced: Mapping[str, Any]) -> str | None:
    """The hash the record will have when it comes back from the system unchanged (so the next
    inbound read skips our own write), when every inbound field is known."""
    mapping = job.mapping
    if any(name not in synced for name in mapping.inbound_fields):
        return None
    values = {name: synced[name] for name in mapping.inbound_fields}
    lines = None
    if mapping.lines is not None:
        if mapping.lines.crm_entity not in synced:
            return None
        lines = synced[mapping.lines.crm_entity]
    return digest([values, lines])


def _values(job: Job, row: Mapping[str, Any]) -> dict[str, Any]:
    """The CRM values the outbound mapping reads, ``custom.*`` taken out of ``custom``."""
    values: dict[str, Any] = {"id": row["id"]}
    custom = row.get("custom") or {}
    for name in job.mapping.outbound_fields:
        values[name] = custom.get(name[len(_CUSTOM) :]) if name.startswith(_CUSTOM) else row[name]
    return values


def _current(session: Session, job: Job, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    table = table_of(job.model)
    names = {"id", "deleted_at", "updated_at"}
    for name in job.mapping.outbound_fields:
        names.add("custom" if name.startswith(_CUSTOM) else name)
    columns = [table.c[name] for name in sorted(names)]
    rows = session.execute(select(*columns).where(among(session, table.c.id, list(ids))))
    return {row.id: dict(row._mapping) for row in rows}


def _current_lines(
    session: Session, job: Job, ids: Sequence[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    spec = job.mapping.lines
    if spec is None or job.line_model is None:
        return {}
    table = table_of(job.line_model)
    number = job.line_number
    names = sorted({"id", spec.parent, number, *spec.outbound_fields, *spec.inbound_fields})
    query = select(*[table.c[name] for name in names]).where(
        table.c.deleted_at.is_(None), among(session, table.c[spec.parent], list(ids))
    )
    found: dict[UUID, list[dict[str, Any]]] = {record_id: [] for record_id in ids}
    for row in session.execute(query.order_by(table.c[spec.parent], table.c[number])):
        found.setdefault(row._mapping[spec.parent], []).append(dict(row._mapping))
    return found
