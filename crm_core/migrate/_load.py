"""Loading one chunk of a migration in one transaction: the groups of rows that are one
customer (merged on the way in, each merge in ``merge_history``), the rows already linked by an
earlier migration (updated), the quarantined rows, the links, and the checkpoint.

The rows go through :func:`crm_core.bulk.bulk_upsert` (``COPY`` on PostgreSQL), so change
capture logs them like any other write, with the mapping's system as their origin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, UniqueConstraint, bindparam, select
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.bulk import Rejected, bulk_upsert, insert_rows
from crm_core.bulk._batch import holders
from crm_core.dedup._survivorship import FieldChoice, Member, choose_values, default_rules
from crm_core.mapping import CompiledMapping
from crm_core.migrate._prepare import Failure, Prepared, reason_kind, source_of
from crm_core.migrate._report import MigrationReport
from crm_core.migrate._sources import SourceRow
from crm_core.models import Entity, MergeHistory, Quarantine, Xref, new_id, table_of
from crm_core.records import update
from crm_core.sync._canon import canonical

__all__ = ["ChunkLoader", "Group", "digest", "links_of"]

_MERGE_FLAGS = ("merged_into_id", "deleted_at")
_XREF = table_of(Xref)
_QUARANTINE = table_of(Quarantine)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MERGES = table_of(MergeHistory)


@dataclass
class Group:
    """Rows that are one customer, in source order; they merge into the first, or into
    ``core_id``, a record already in the core."""

    rows: list[Prepared]
    core_id: UUID | None = None


def digest(key: str, values: Sequence[Any]) -> int:
    """A 64-bit digest of a row's key and key field values, for the reconciliation checksum."""
    text = "\x1f".join([key, *(_text(value) for value in values)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _text(value: Any) -> str:
    if value is None:
        return "\x00"
    return value if type(value) is str else str(canonical(value))


@dataclass
class _Written:
    """A source row as it was written: the record it became, and its values."""

    row: Prepared
    record_id: UUID
    values: Mapping[str, Any]


@dataclass
class _Chunk:
    """What one chunk writes, gathered while it is worked out."""

    links: list[dict[str, Any]] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    written: list[_Written] = field(default_factory=list)


@dataclass
class ChunkLoader:
    """Writes the chunks of one migration run (see the module's doc)."""

    mapping: CompiledMapping
    model: type[Entity]
    run_id: UUID | None
    """None for a dry run."""
    pipeline: str
    source_name: str
    report: MigrationReport
    checksum_fields: tuple[str, ...]
    now: Callable[[], datetime]
    replacing: UUID | None = None
    """When replaying one quarantined row: its entry, updated instead of a new one added."""
    _now: datetime = field(init=False, repr=False, default=_EPOCH)

    @property
    def table(self) -> Table:
        """The CRM table loaded."""
        return table_of(self.model)

    def load(self, session: Session, groups: Sequence[Group], failures: Sequence[Failure]) -> None:
        """Write ``groups`` and quarantine ``failures`` in the session's transaction, counting
        every row in the report."""
        chunk = _Chunk()
        now = self._now = self.now()
        for failure in failures:
            self._quarantine(
                chunk, failure.row, key=failure.key, reason=failure.reason, kind=failure.kind
            )
        keys = [row.key for group in groups for row in group.rows]
        links = links_of(session, self.mapping, keys)
        updates: list[tuple[Prepared, _Link]] = []
        pending: list[Group] = []
        for group in groups:
            fresh = []
            for row in group.rows:
                link = links.get(row.key)
                if link is None:
                    fresh.append(row)
                elif link.merged_from is not None:  # merged away by an earlier run
                    self._count(row, "merged")
                else:
                    updates.append((row, link))
            if fresh:
                pending.append(Group(fresh, group.core_id))
        self._update(session, chunk, updates)
        self._merge_groups(session, chunk, pending, now)
        insert_rows(session, _XREF, chunk.links)
        insert_rows(session, _MERGES, chunk.merges)
        if self.replacing is not None:
            self._requarantine(session, chunk.quarantined)
        else:
            insert_rows(session, _QUARANTINE, chunk.quarantined)
        self._checksum(session, chunk)

    # ------------------------------------------------------------------ rows linked already

    def _update(self, session: Session, chunk: _Chunk, rows: list[tuple[Prepared, _Link]]) -> None:
        """Rows an earlier migration loaded: unchanged in the source since (same digest as
        when they were loaded), nothing is written; else the record takes their values."""
        changed: list[tuple[Prepared, _Link, str]] = []
        for row, link in rows:
            fingerprint = digest_values(row.values)
            if fingerprint == link.hash_in:
                self._count(row, "updated")
                self.report.counts_of(source_of(row.row, self.source_name)).unchanged += 1
            else:
                changed.append((row, link, fingerprint))
        if not changed:
            return
        ids = [link.record_id for _row, link, _fingerprint in changed]
        has_custom = "custom" in changed[0][0].values
        stored_custom = _custom_of(session, self.table, ids) if has_custom else {}
        batch = []
        for (row, _link, _fingerprint), record_id in zip(changed, ids, strict=True):
            values = dict(row.values)
            if has_custom:
                values["custom"] = {**stored_custom.get(record_id, {}), **values["custom"]}
            batch.append({"id": record_id, **values})
        result = bulk_upsert(session, self.model, batch)
        rejected = self._reject(chunk, [row for row, _link, _f in changed], result.rejected)
        hashes = []
        for position, ((row, link, fingerprint), values) in enumerate(
            zip(changed, batch, strict=True)
        ):
            if position in rejected:
                continue
            self._count(row, "updated")
            chunk.written.append(_Written(row, values["id"], values))
            hashes.append({"xref_id": link.id, "hash_in": fingerprint})
        if hashes:
            session.execute(
                _XREF.update()
                .where(_XREF.c.id == bindparam("xref_id"))
                .values(hash_in=bindparam("hash_in"), synced_at=self.now()),
                hashes,
            )

    # ------------------------------------------------------------------ new rows, merged

    def _merge_groups(
        self, session: Session, chunk: _Chunk, groups: list[Group], now: datetime
    ) -> None:
        survivors: dict[int, _Survivor] = {}
        """By group position."""
        for position, group in enumerate(groups):
            if group.core_id is not None:
                survived = self._into_core(session, group)
                if survived is not None:
                    survivors[position] = survived
        pending = [position for position, group in enumerate(groups) if group.core_id is None]
        while pending:
            created = self._create_first(session, chunk, [groups[p] for p in pending])
            still = []
            for position, record in zip(pending, created, strict=True):
                if record is not None:
                    survivors[position] = record
                elif groups[position].rows:
                    still.append(position)  # the first row was refused: the next one leads
            pending = still
        losers: list[tuple[Prepared, UUID]] = [
            (row, survivors[position].id)
            for position, group in enumerate(groups)
            if position in survivors
            for row in (group.rows if group.core_id is not None else group.rows[1:])
        ]
        merged = self._insert_losers(session, chunk, losers, now)
        for position, group in enumerate(groups):
            survivor = survivors.get(position)
            if survivor is None:
                continue
            rows = [row for row in group.rows if row.index in merged]
            if rows:
                self._history(chunk, survivor, rows, merged, now)

    def _survivorship(
        self, first: Member, others: Sequence[Member], fields: Sequence[str]
    ) -> dict[str, FieldChoice]:
        """The survivor's values: empty ones filled from the other rows, names and addresses
        the most complete; the survivor's own values otherwise stay."""
        return choose_values([first, *others], first, default_rules(self.table.name), fields)

    def _keep_unique(
        self,
        session: Session,
        decided: list[dict[str, FieldChoice]],
        owners: Sequence[UUID | None],
    ) -> None:
        """Undo the choices of a unique value (a credit code) taken from another row when a
        record other than the survivor (``owners``: None for a new one) already holds it."""
        for name in _unique_columns(self.table):
            wanted = {
                choices[name].value
                for choices in decided
                if name in choices and choices[name].changed and choices[name].value is not None
            }
            if not wanted:
                continue
            held = holders(session, self.table.c[name], wanted)
            for choices, owner in zip(decided, owners, strict=True):
                choice = choices.get(name)
                if choice is None or not choice.changed or choice.value not in held:
                    continue
                if held[choice.value] != owner:
                    del choices[name]

    def _create_first(
        self, session: Session, chunk: _Chunk, groups: list[Group]
    ) -> list[_Survivor | None]:
        """Create the first row of each group, with the values survivorship gives it; a
        refused first row is quarantined and dropped from its group (None)."""
        rows: list[dict[str, Any]] = []
        decided: list[dict[str, FieldChoice]] = []
        for group in groups:
            first, *others = group.rows
            choices: dict[str, FieldChoice] = {}
            if others:
                fields = _decided(first.values)
                choices = self._survivorship(
                    _member(first), [_member(row) for row in others], fields
                )
            decided.append(choices)
        self._keep_unique(session, decided, [None] * len(groups))
        for group, choices in zip(groups, decided, strict=True):
            values = dict(group.rows[0].values)
            values.update({n: c.value for n, c in choices.items() if c.changed})
            rows.append(values)
        result = bulk_upsert(session, self.model, rows)
        firsts = [group.rows[0] for group in groups]
        rejected = self._reject(chunk, firsts, result.rejected)
        outcome: list[_Survivor | None] = []
        for position, group in enumerate(groups):
            first = group.rows[0]
            record_id = result.ids[position]
            if position in rejected or record_id is None:
                group.rows.pop(0)
                outcome.append(None)
                continue
            self._count(first, "created")
            values = rows[position]
            chunk.written.append(_Written(first, record_id, values))
            chunk.links.append(self._link(first, record_id, None))
            choices = decided[position]
            before = {n: first.values.get(n) for n, c in choices.items() if c.changed}
            outcome.append(_Survivor(record_id, values, before, choices, _member(first).id))
        return outcome

    def _into_core(self, session: Session, group: Group) -> _Survivor | None:
        """Fill the core record a group merges into from the group's rows (survivorship);
        None when the record is gone (merged or deleted since the plan): the group is then
        loaded as new rows."""
        if group.core_id is None:
            return None
        table = self.table
        fields = _decided(group.rows[0].values)
        stored = (
            session.execute(
                select(table).where(
                    table.c.id == group.core_id,
                    table.c.deleted_at.is_(None),
                    table.c.merged_into_id.is_(None),
                )
            )
            .mappings()
            .one_or_none()
        )
        if stored is None:
            group.core_id = None
            return None
        own = {name: stored[name] for name in fields}
        first = Member(group.core_id, own, _EPOCH, _EPOCH, frozenset(), 1)
        choices = self._survivorship(first, [_member(row) for row in group.rows], fields)
        self._keep_unique(session, [choices], [group.core_id])
        changes = {name: choice.value for name, choice in choices.items() if choice.changed}
        if changes:
            update(session, self.model, group.core_id, changes, expected_version=stored["version"])
        before = {name: stored[name] for name in changes}
        return _Survivor(group.core_id, {**own, **changes}, before, choices, group.core_id)

    def _insert_losers(
        self,
        session: Session,
        chunk: _Chunk,
        losers: list[tuple[Prepared, UUID]],
        now: datetime,
    ) -> dict[int, UUID]:
        """Insert the rows merged into a survivor as merged records (soft-deleted, pointing at
        it, their unique values left to the survivor); return their ids by source row."""
        if not losers:
            return {}
        unique = _unique_columns(self.table)
        rows = []
        for row, survivor_id in losers:
            values = dict(row.values)
            for name in unique:
                if name in values:
                    values[name] = None
            rows.append({**values, "merged_into_id": survivor_id, "deleted_at": now})
        result = bulk_upsert(session, self.model, rows)
        rejected = self._reject(chunk, [row for row, _ in losers], result.rejected)
        merged: dict[int, UUID] = {}
        for position, (row, survivor_id) in enumerate(losers):
            record_id = result.ids[position]
            if position in rejected or record_id is None:
                continue
            self._count(row, "merged")
            merged[row.index] = record_id
            chunk.written.append(_Written(row, record_id, rows[position]))
            chunk.links.append(self._link(row, survivor_id, record_id))
        return merged

    def _history(
        self,
        chunk: _Chunk,
        survivor: _Survivor,
        rows: Sequence[Prepared],
        merged: Mapping[int, UUID],
        now: datetime,
    ) -> None:
        """One ``merge_history`` row, in the form :func:`~crm_core.dedup.undo_merge` reverts:
        the losers' flags, the survivor's filled fields, the links moved to the survivor."""
        table = self.table.name
        images: dict[str, dict[str, Any]] = {table: {}, _XREF.name: {}}
        changes: list[dict[str, Any]] = []
        unique = _unique_columns(self.table)
        links = {link["merged_from_id"]: link for link in chunk.links}
        for row in rows:
            loser_id = merged[row.index]
            cleared = [name for name in unique if name in row.values]
            image = {name: self._unique_before(survivor, row, name) for name in cleared}
            flags = {"merged_into_id": None, "deleted_at": None}
            images[table][str(loser_id)] = _json({**image, **flags})
            marks = {**dict.fromkeys(cleared), "merged_into_id": survivor.id, "deleted_at": now}
            changes.append(_change(table, "loser", [loser_id], marks))
        if survivor.before:
            images[table][str(survivor.id)] = _json(survivor.before)
            filled = {name: survivor.values[name] for name in survivor.before}
            changes.append(_change(table, "survivor", [survivor.id], filled))
        for row in rows:
            loser_id = merged[row.index]
            link = links[loser_id]
            images[_XREF.name][str(link["id"])] = _json(
                {"record_id": loser_id, "merged_from_id": None}
            )
            moved = {"record_id": survivor.id, "merged_from_id": loser_id}
            changes.append(_change(_XREF.name, "link", [link["id"]], moved))
        sources = {UUID(int=row.index): merged[row.index] for row in rows}
        sources[survivor.member_id] = survivor.id
        chunk.merges.append(
            {
                "id": new_id(),
                "entity": table,
                "survivor_id": survivor.id,
                "merged_ids": [str(merged[row.index]) for row in rows],
                "before_images": images,
                "relinked": {
                    "changes": changes,
                    "counts": {"xref.record_id": {"moved": len(rows), "removed": 0}},
                },
                "reason": {
                    "by": "migration",
                    "run": str(self.run_id),
                    "rows": [row.row.position for row in rows],
                },
                "merged_at": now,
                "merged_by": None,
                "survivorship": {
                    name: {
                        "value": canonical(choice.value),
                        "source": str(sources.get(choice.source_id, survivor.id)),
                        "rule": choice.rule.value,
                        "changed": choice.changed,
                    }
                    for name, choice in survivor.choices.items()
                },
            }
        )

    @staticmethod
    def _unique_before(survivor: _Survivor, row: Prepared, name: str) -> Any:
        """A merged row's own unique value (its credit code), as undoing the merge gives it
        back: not when the survivor holds the same value itself (two records cannot), only
        when the survivor took it from this very row (undoing takes it from the survivor)."""
        value = row.values[name]
        if value is None or survivor.values.get(name) != value:
            return value
        choice = survivor.choices.get(name)
        taken = choice is not None and choice.changed and choice.source_id == _member(row).id
        return value if taken else None

    # ------------------------------------------------------------------ bookkeeping

    def _count(self, row: Prepared, outcome: str) -> None:
        counts = self.report.counts_of(source_of(row.row, self.source_name))
        counts.read += 1
        setattr(counts, outcome, getattr(counts, outcome) + 1)

    def _reject(
        self, chunk: _Chunk, rows: Sequence[Prepared], rejected: Iterable[Rejected]
    ) -> set[int]:
        positions = set()
        for refusal in rejected:
            row = rows[refusal.index]
            positions.add(refusal.index)
            self._quarantine(chunk, row.row, key=row.key, reason=refusal.reason, kind="invalid")
        return positions

    def _quarantine(
        self, chunk: _Chunk, row: SourceRow, *, key: str | None, reason: str, kind: str
    ) -> None:
        source = source_of(row, self.source_name)
        counts = self.report.counts_of(source)
        counts.read += 1
        counts.quarantined += 1
        self.report.quarantine(reason_kind(reason), row.position, key, reason)
        chunk.quarantined.append(
            {
                "id": new_id(),
                "run_id": self.run_id,
                "pipeline": self.pipeline,
                "source": source[:255],
                "entity": self.mapping.crm_entity,
                "direction": "in",
                "record_key": (key or row.position)[:255],
                "payload": {"position": row.position, "values": dict(row.values)},
                "reason": reason,
                "error_kind": kind,
            }
        )

    def _requarantine(self, session: Session, entries: list[dict[str, Any]]) -> None:
        """A replayed row failed again: its entry takes the new reason, one attempt more."""
        for entry in entries:
            session.execute(
                _QUARANTINE.update()
                .where(_QUARANTINE.c.id == self.replacing)
                .values(
                    reason=entry["reason"],
                    error_kind=entry["error_kind"],
                    attempts=_QUARANTINE.c.attempts + 1,
                    last_attempt_at=self.now(),
                )
            )

    def _link(self, row: Prepared, record_id: UUID, merged_from: UUID | None) -> dict[str, Any]:
        now = self._now
        return {
            "id": new_id(),
            "system": self.mapping.system,
            "external_entity": self.mapping.external_entity,
            "external_id": row.key,
            "hash_in": digest_values(row.values),
            "entity": self.mapping.crm_entity,
            "record_id": record_id,
            "merged_from_id": merged_from,
            "synced_at": now,
            "created_at": now,
            "updated_at": now,
        }

    def _checksum(self, session: Session, chunk: _Chunk) -> None:
        """Add the written rows to the source checksum, and the same rows read back from the
        database to the loaded one."""
        fields = self.checksum_fields
        source = self.report.source_checksum
        for written in chunk.written:
            source.add(digest(written.row.key, [written.values.get(n) for n in fields]))
        if not chunk.written:
            return
        table = self.table
        keys = {item.record_id: item.row.key for item in chunk.written}
        query = select(table.c.id, *(table.c[name] for name in fields)).where(
            among(session, table.c.id, list(keys))
        )
        loaded = self.report.loaded_checksum
        for record in session.execute(query):
            key = keys[record[0]]
            loaded.add(digest(key, list(record[1:])))
        for item in chunk.written:
            if item.record_id not in keys:  # pragma: no cover - ids are unique per chunk
                loaded.add(0)


def _member(row: Prepared) -> Member:
    """A source row as survivorship sees it: every row equally recent, so the first row keeps
    its own values and only empty ones are filled from the others."""
    return Member(UUID(int=row.index), row.values, _EPOCH, _EPOCH, frozenset(), 0)


@dataclass(frozen=True)
class _Link:
    """A key's link: its record, the record merged away (None for its own link), the digest
    of the row's values when it was loaded."""

    id: UUID
    record_id: UUID
    merged_from: UUID | None
    hash_in: str | None


@dataclass(frozen=True)
class _Survivor:
    """The record a group merges into, as it is after the merge."""

    id: UUID
    values: dict[str, Any]
    before: dict[str, Any]
    """The fields survivorship changed, with their values before."""
    choices: dict[str, FieldChoice]
    member_id: UUID
    """Its id as survivorship saw it."""


def _decided(values: Mapping[str, Any]) -> list[str]:
    """The fields survivorship decides (custom fields stay the survivor's)."""
    return [name for name in values if name not in {"custom", "id"}]


def links_of(session: Session, mapping: CompiledMapping, keys: Sequence[str]) -> dict[str, _Link]:
    """The links of these keys of the mapping's system and entity, by key."""
    if not keys:
        return {}
    query = select(
        _XREF.c.external_id,
        _XREF.c.id,
        _XREF.c.record_id,
        _XREF.c.merged_from_id,
        _XREF.c.hash_in,
    ).where(
        _XREF.c.system == mapping.system,
        _XREF.c.external_entity == mapping.external_entity,
        among(session, _XREF.c.external_id, list(keys)),
    )
    return {row[0]: _Link(row[1], row[2], row[3], row[4]) for row in session.execute(query)}


def digest_values(values: Mapping[str, Any]) -> str:
    """The digest of a row's mapped values: the same row mapped the same way gives the same
    (the mapping always gives its fields in one order; values are text, numbers, dates)."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def _custom_of(session: Session, table: Table, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    query = select(table.c.id, table.c.custom).where(among(session, table.c.id, list(ids)))
    return {row[0]: dict(row[1] or {}) for row in session.execute(query)}


def _unique_columns(table: Table) -> list[str]:
    """Columns unique on their own (an account's credit code): a merged row leaves its value
    to the survivor."""
    constrained = {
        constraint.columns.keys()[0]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint) and len(constraint.columns) == 1
    }
    return sorted(constrained | {column.name for column in table.columns if column.unique})


def _change(table: str, role: str, ids: Sequence[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    return {"table": table, "role": role, "ids": [str(i) for i in ids], "set": _json(values)}


def _json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: canonical(value) for name, value in values.items()}
