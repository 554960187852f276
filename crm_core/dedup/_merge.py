"""Merging duplicate records inside the CRM core, and undoing a merge exactly.

A merge is planned (:func:`plan_merge`, a pure read: the survivor, each field's value and where
it comes from, what will move) and then applied (:func:`apply_merge`) in one transaction of
ordinary writes, which change capture logs like any other:

* the losers get ``merged_into_id`` = the survivor and are soft-deleted, so their ids still
  resolve (:func:`resolve_record`); a unique value the survivor takes over (a credit code) is
  cleared on the loser first;
* the survivor gets the values the survivorship rules chose;
* every row that points at a loser points at the survivor instead: each foreign key to the
  merged table and each polymorphic ``<name>_type``/``<name>_id`` pair, found in the models'
  metadata (so new tables are covered). A row that would duplicate one the survivor already has
  (e.g. the same contact twice at the account) is soft-deleted instead and stays with the loser;
* the losers' ``xref`` links move to the survivor, marked with ``merged_from_id``.

``merge_history`` keeps the before-image of every row written, and what each write set, so
:func:`undo_merge` restores every row as it was, except the bookkeeping columns (version,
updated at and by). It refuses instead of overwriting a change made after the merge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    ColumnElement,
    RowMapping,
    String,
    Table,
    UniqueConstraint,
    and_,
    cast,
    func,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from crm_core._credit_code import normalise_credit_code
from crm_core._values import among
from crm_core.changes import decode_changed
from crm_core.dedup._survivorship import (
    FieldChoice,
    Member,
    SurvivorshipRules,
    choose_survivor,
    choose_values,
    default_rules,
)
from crm_core.errors import InvalidInput, NotFound, StaleVersionError, TongbuError
from crm_core.models import Base, MergeHistory, Xref, person_name, table_of, utcnow
from crm_core.models._hub import CannotLink
from crm_core.records import record_label

__all__ = [
    "MergeConflict",
    "MergePlan",
    "MergeRefused",
    "ReferenceCount",
    "UndoRefused",
    "add_cannot_link",
    "apply_merge",
    "cannot_links",
    "entity_table",
    "find_merge",
    "find_record",
    "list_merges",
    "plan_merge",
    "record_title",
    "resolve_record",
    "undo_merge",
]


class MergeRefused(InvalidInput):
    """The records must not be merged: a branch and its head office, two valid credit codes,
    a deleted or already merged record, or a pair a person has said are different."""


class MergeConflict(StaleVersionError):
    """A record changed between planning and applying a merge; nothing was written."""


class UndoRefused(TongbuError):
    """A merge cannot be undone: it is undone already, a later merge builds on it, or undoing
    it would overwrite a change made after it."""


# Columns survivorship does not decide: identity, bookkeeping and the merge's own marks.
_UNDECIDED = frozenset(
    {
        "id",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "version",
        "deleted_at",
        "merged_into_id",
        "custom",
    }
)
_XREF = table_of(Xref)
_CUSTOM = "custom."


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ReferenceCount:
    """What a merge does to the rows of one referencing column that point at the losers."""

    table: str
    column: str
    moved: int
    """Rows that will point at the survivor."""
    removed: int
    """Rows that would duplicate one of the survivor's: soft-deleted, left with the loser."""


@dataclass(frozen=True)
class MergePlan:
    """A merge as :func:`plan_merge` worked it out; :func:`apply_merge` carries it out."""

    entity: str
    survivor_id: UUID
    loser_ids: tuple[UUID, ...]
    versions: Mapping[UUID, int]
    """The version of each record when planned: applying fails if any has moved on."""
    fields: Mapping[str, FieldChoice]
    """Every field survivorship decides (``custom.<key>`` for custom keys)."""
    survivor_changes: Mapping[str, Any]
    """The survivor's columns whose value changes, with the new value."""
    cleared: Mapping[UUID, tuple[str, ...]]
    """Unique columns cleared on a loser because the survivor takes over its value."""
    references: tuple[ReferenceCount, ...]
    reference_counts: Mapping[UUID, int]
    """How many rows and links point at each record (the default survivor has the most)."""
    survivor_given: bool
    titles: Mapping[UUID, str]
    rules: SurvivorshipRules

    @property
    def record_ids(self) -> tuple[UUID, ...]:
        """The survivor, then the losers."""
        return (self.survivor_id, *self.loser_ids)


def plan_merge(
    session: Session,
    entity: str,
    record_ids: Sequence[UUID],
    rules: SurvivorshipRules | None = None,
    survivor_id: UUID | None = None,
) -> MergePlan:
    """Work out how to merge ``record_ids`` of ``entity`` (``account``/``contact`` or the
    table name) without writing anything.

    Raises :class:`MergeRefused` for records that must not be merged, :class:`NotFound` for an
    unknown id and :class:`InvalidInput` for fewer than two records or unknown rule fields.
    """
    table = entity_table(entity)
    ids = _distinct_ids(record_ids, survivor_id)
    rows = _members(session, table, ids, lock=False)
    _refuse_unmergeable(session, table, rows)
    chosen_rules = rules if rules is not None else default_rules(table.name)
    fields = _decided_fields(table, rows)
    _check_rule_fields(table, chosen_rules, fields)
    counts = _reference_counts(session, table.name, ids)
    systems = _linked_systems(session, table.name, ids)
    members = [_member(row, fields, systems, counts) for row in rows]
    survivor = _survivor(members, survivor_id)
    losers = tuple(member.id for member in members if member.id != survivor.id)
    choices = choose_values(members, survivor, chosen_rules, fields)
    by_id = {row["id"]: row for row in rows}
    return MergePlan(
        entity=table.name,
        survivor_id=survivor.id,
        loser_ids=losers,
        versions={row["id"]: row["version"] for row in rows},
        fields=choices,
        survivor_changes=_survivor_changes(choices, by_id[survivor.id]),
        cleared=_unique_clears(table, choices, [by_id[loser] for loser in losers]),
        references=_planned_references(session, table.name, survivor.id, losers),
        reference_counts=counts,
        survivor_given=survivor_id is not None,
        titles={row["id"]: record_title(row) for row in rows},
        rules=chosen_rules,
    )


def entity_table(entity: str) -> Table:
    """The table of a mergeable entity, by table name or in the singular (``account``)."""
    name = entity.strip().lower()
    for candidate in (name, f"{name}s"):
        table = Base.metadata.tables.get(candidate)
        if table is not None and _mergeable(table):
            return table
    known = ", ".join(record_label(t.name) for t in Base.metadata.sorted_tables if _mergeable(t))
    raise InvalidInput(f"{entity!r} records cannot be merged; these can: {known}")


def _mergeable(table: Table) -> bool:
    return {"merged_into_id", "version", "deleted_at"} <= set(table.c.keys())


def _distinct_ids(record_ids: Sequence[UUID], survivor_id: UUID | None) -> list[UUID]:
    ids = list(dict.fromkeys(record_ids))
    if len(ids) < 2:
        raise InvalidInput("a merge needs at least two different records")
    if survivor_id is not None and survivor_id not in ids:
        raise InvalidInput(f"the survivor {survivor_id} is not one of the records to merge")
    return ids


def _members(
    session: Session, table: Table, ids: Sequence[UUID], *, lock: bool
) -> list[RowMapping]:
    """The full rows of the records, in the order given; unknown ids are an error."""
    rows = {row["id"]: row for row in _rows(session, table, among(session, table.c.id, ids), lock)}
    label = record_label(table.name)
    for record_id in ids:
        if record_id not in rows:
            raise NotFound(f"no {label} with id {record_id}")
    return [rows[record_id] for record_id in ids]


def _rows(
    session: Session, table: Table, condition: ColumnElement[bool], lock: bool
) -> list[RowMapping]:
    query = select(table).where(condition).order_by(table.c.id)
    if lock:
        query = query.with_for_update()
    return list(session.execute(query).mappings())


def _refuse_unmergeable(session: Session, table: Table, rows: Sequence[RowMapping]) -> None:
    label = record_label(table.name)
    for row in rows:
        if row["merged_into_id"] is not None:
            raise MergeRefused(
                f"{label} {row['id']} was already merged into {row['merged_into_id']}; merge "
                "that record instead"
            )
        if row["deleted_at"] is not None:
            raise MergeRefused(f"{label} {row['id']} is deleted; restore it before merging it")
    _refuse_branches(session, table, rows)
    _refuse_two_credit_codes(table, rows)
    _refuse_cannot_links(session, table, rows)


def _refuse_branches(session: Session, table: Table, rows: Sequence[RowMapping]) -> None:
    if "parent_id" not in table.c:
        return
    ids = {row["id"] for row in rows}
    for row in rows:
        head = next((up for up in _head_offices(session, table, row) if up in ids), None)
        if head is not None:
            raise MergeRefused(
                f"{record_title(row)} ({row['id']}) is a branch of {head}: a branch is its own "
                "legal entity, linked to its head office, never merged into it"
            )


def _head_offices(session: Session, table: Table, row: RowMapping) -> list[UUID]:
    """The record's parent, the parent's parent, and so on (a branch of a branch)."""
    found: list[UUID] = []
    parent = row["parent_id"]
    while parent is not None and parent not in found:
        found.append(parent)
        parent = session.scalar(select(table.c.parent_id).where(table.c.id == parent))
    return found


def _refuse_two_credit_codes(table: Table, rows: Sequence[RowMapping]) -> None:
    if "credit_code" not in table.c:
        return
    seen: dict[str, RowMapping] = {}
    for row in rows:
        code = normalise_credit_code(row["credit_code"])
        if code is None:
            continue
        other = next((first for known, first in seen.items() if known != code), None)
        if other is not None:
            raise MergeRefused(
                f"{record_title(other)} ({other['id']}) and {record_title(row)} ({row['id']}) "
                "have two different valid credit codes: they are different companies"
            )
        seen.setdefault(code, row)


def _refuse_cannot_links(session: Session, table: Table, rows: Sequence[RowMapping]) -> None:
    ids = [row["id"] for row in rows]
    link = table_of(CannotLink).c
    found = session.execute(
        select(link.record_a, link.record_b).where(
            link.entity == table.name,
            among(session, link.record_a, ids),
            among(session, link.record_b, ids),
        )
    ).first()
    if found is not None:
        raise MergeRefused(
            f"{record_label(table.name)}s {found.record_a} and {found.record_b} were un-merged "
            "before: a person said they are different records"
        )


def _decided_fields(table: Table, rows: Sequence[RowMapping]) -> list[str]:
    columns = [column.name for column in table.columns if column.name not in _UNDECIDED]
    keys = sorted({key for row in rows for key in (row["custom"] or {})})
    return columns + [f"{_CUSTOM}{key}" for key in keys]


def _check_rule_fields(table: Table, rules: SurvivorshipRules, fields: Sequence[str]) -> None:
    for name in rules.fields:
        if name != "custom" and not name.startswith(_CUSTOM) and name not in fields:
            raise InvalidInput(
                f"survivorship rule for {name!r}: {record_label(table.name)}s have no such "
                "field that a merge decides"
            )


def _member(
    row: RowMapping,
    fields: Sequence[str],
    systems: Mapping[UUID, frozenset[str]],
    counts: Mapping[UUID, int],
) -> Member:
    custom = row["custom"] or {}
    values = {
        name: custom.get(name.removeprefix(_CUSTOM)) if name.startswith(_CUSTOM) else row[name]
        for name in fields
    }
    return Member(
        id=row["id"],
        values=values,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        systems=systems.get(row["id"], frozenset()),
        references=counts.get(row["id"], 0),
    )


def _survivor(members: Sequence[Member], survivor_id: UUID | None) -> Member:
    if survivor_id is None:
        return choose_survivor(members)
    return next(member for member in members if member.id == survivor_id)


def _survivor_changes(choices: Mapping[str, FieldChoice], survivor: RowMapping) -> dict[str, Any]:
    changes = {
        name: choice.value
        for name, choice in choices.items()
        if choice.changed and not name.startswith(_CUSTOM)
    }
    custom = dict(survivor["custom"] or {})
    for name, choice in choices.items():
        if choice.changed and name.startswith(_CUSTOM):
            custom[name.removeprefix(_CUSTOM)] = choice.value
    if custom != (survivor["custom"] or {}):
        changes["custom"] = custom
    return changes


def _unique_clears(
    table: Table, choices: Mapping[str, FieldChoice], losers: Sequence[RowMapping]
) -> dict[UUID, tuple[str, ...]]:
    unique = [name for name in _unique_columns(table) if name in choices]
    cleared: dict[UUID, tuple[str, ...]] = {}
    for loser in losers:
        names = tuple(
            name
            for name in unique
            if loser[name] is not None and loser[name] == choices[name].value
        )
        if names:
            cleared[loser["id"]] = names
    return cleared


def _unique_columns(table: Table) -> list[str]:
    """Columns that are unique on their own (such as an account's credit code)."""
    return [columns[0] for columns in _unique_sets(table) if len(columns) == 1]


def _unique_sets(table: Table) -> list[tuple[str, ...]]:
    sets = [
        tuple(column.name for column in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    sets += [
        tuple(column.name for column in index.columns) for index in table.indexes if index.unique
    ]
    return sets


# --------------------------------------------------------------------------- references


@dataclass(frozen=True, eq=False)
class _Reference:
    """A column whose rows point at records of the merged table: a foreign key, or the id of
    a polymorphic pair (``related_type`` = the table, ``related_id`` = the record)."""

    table: Table
    column: Column[Any]
    kind: Column[Any] | None = None

    def pointing_at(self, session: Session, entity: str, ids: Sequence[UUID]) -> Any:
        """The condition of the rows that point at one of ``ids``."""
        condition = among(session, self.column, ids)
        if self.kind is None:
            return condition
        return and_(condition, self.kind.in_(sorted({entity, record_label(entity)})))

    def live(self) -> Any:
        """The condition of rows that are not soft-deleted."""
        return self.table.c.deleted_at.is_(None) if "deleted_at" in self.table.c else true()


@cache
def _references(entity: str) -> tuple[_Reference, ...]:
    found: list[_Reference] = []
    for table in Base.metadata.sorted_tables:
        if table.name == _XREF.name:
            continue  # links move with their own mark, merged_from_id
        for key in sorted(table.foreign_keys, key=lambda key: key.parent.name):
            own_mark = table.name == entity and key.parent.name == "merged_into_id"
            if key.column.table.name == entity and not own_mark:
                found.append(_Reference(table, key.parent))
        for column in table.columns:
            if not column.name.endswith("_type"):
                continue
            target = table.c.get(column.name.removesuffix("_type") + "_id")
            if target is not None and not target.foreign_keys:
                found.append(_Reference(table, target, column))
    return tuple(found)


def _reference_counts(session: Session, entity: str, ids: Sequence[UUID]) -> dict[UUID, int]:
    counts = dict.fromkeys(ids, 0)
    for reference in _references(entity):
        query = (
            select(reference.column, func.count())
            .where(reference.pointing_at(session, entity, ids), reference.live())
            .group_by(reference.column)
        )
        for record_id, count in session.execute(query):
            counts[record_id] += count
    for record_id, count in session.execute(
        select(_XREF.c.record_id, func.count())
        .where(_XREF.c.entity == entity, among(session, _XREF.c.record_id, ids))
        .group_by(_XREF.c.record_id)
    ):
        counts[record_id] += count
    return counts


def _linked_systems(
    session: Session, entity: str, ids: Sequence[UUID]
) -> dict[UUID, frozenset[str]]:
    systems: dict[UUID, set[str]] = {}
    for record_id, system in session.execute(
        select(_XREF.c.record_id, _XREF.c.system)
        .where(_XREF.c.entity == entity, among(session, _XREF.c.record_id, ids))
        .distinct()
    ):
        systems.setdefault(record_id, set()).add(system)
    return {record_id: frozenset(names) for record_id, names in systems.items()}


@dataclass
class _Relink:
    """The rows of one reference that point at the losers, sorted into what happens to them."""

    reference: _Reference
    moved: list[RowMapping] = field(default_factory=list)
    removed: list[RowMapping] = field(default_factory=list)
    """Live rows that would duplicate a row of the survivor: soft-deleted."""


def _relink(
    session: Session,
    entity: str,
    reference: _Reference,
    survivor_id: UUID,
    loser_ids: Sequence[UUID],
    *,
    lock: bool,
) -> _Relink:
    condition = reference.pointing_at(session, entity, loser_ids)
    rows = _rows(session, reference.table, condition, lock)
    order = {loser: position for position, loser in enumerate(loser_ids)}
    rows.sort(key=lambda row: order[row[reference.column.name]])
    relink = _Relink(reference)
    keys = _duplicate_keys(reference)
    taken = _taken_keys(session, entity, reference, survivor_id, keys) if rows and keys else set()
    for row in rows:
        row_keys = {(columns, tuple(row[name] for name in columns)) for columns in keys}
        if not row_keys & taken:
            relink.moved.append(row)
            taken |= row_keys
        elif "deleted_at" not in reference.table.c:
            raise MergeRefused(
                f"{reference.table.name} row {row['id']} would duplicate a row of the survivor "
                f"{survivor_id}, and {reference.table.name} rows cannot be soft-deleted"
            )
        elif row["deleted_at"] is None:
            relink.removed.append(row)
        # A duplicate deleted already stays as it is, with the merged record.
    return relink


def _duplicate_keys(reference: _Reference) -> list[tuple[str, ...]]:
    """For each unique constraint over the reference column: its other columns."""
    name = reference.column.name
    return [
        tuple(column for column in columns if column != name)
        for columns in _unique_sets(reference.table)
        if name in columns
    ]


def _taken_keys(
    session: Session,
    entity: str,
    reference: _Reference,
    survivor_id: UUID,
    keys: Sequence[tuple[str, ...]],
) -> set[tuple[tuple[str, ...], tuple[Any, ...]]]:
    condition = reference.pointing_at(session, entity, [survivor_id])
    rows = _rows(session, reference.table, condition, lock=False)
    return {(columns, tuple(row[name] for name in columns)) for row in rows for columns in keys}


def _planned_references(
    session: Session, entity: str, survivor_id: UUID, loser_ids: Sequence[UUID]
) -> tuple[ReferenceCount, ...]:
    counts = []
    for reference in _references(entity):
        relink = _relink(session, entity, reference, survivor_id, loser_ids, lock=False)
        if relink.moved or relink.removed:
            counts.append(
                ReferenceCount(
                    reference.table.name,
                    reference.column.name,
                    len(relink.moved),
                    len(relink.removed),
                )
            )
    links = session.scalar(
        select(func.count()).where(
            _XREF.c.entity == entity, among(session, _XREF.c.record_id, loser_ids)
        )
    )
    if links:
        counts.append(ReferenceCount(_XREF.name, "record_id", int(links), 0))
    return tuple(counts)


# --------------------------------------------------------------------------- applying


@dataclass
class _Journal:
    """What a merge wrote: the before-image of every row, and each write in order."""

    images: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(
        self, table: Table, role: str, rows: Sequence[RowMapping], values: Mapping[str, Any]
    ) -> None:
        """Keep the rows' before-images and what the write sets on them."""
        images = self.images.setdefault(table.name, {})
        for row in rows:
            images.setdefault(str(row["id"]), _image(row))
        self.changes.append(
            {
                "table": table.name,
                "role": role,
                "ids": [str(row["id"]) for row in rows],
                "set": _image(values),
            }
        )

    def count(self, table: str, column: str, what: str, number: int) -> None:
        """Add to the number of rows of ``table.column`` that were moved or removed."""
        counts = self.counts.setdefault(f"{table}.{column}", {"moved": 0, "removed": 0})
        counts[what] += number


def apply_merge(
    session: Session,
    plan: MergePlan,
    *,
    reason: Mapping[str, Any] | None = None,
    actor_id: UUID | None = None,
) -> MergeHistory:
    """Carry out a planned merge in the session's transaction, and return its history row.

    The session must be a writer (``open_session(engine, origin="crm", ...)``). Raises
    :class:`MergeConflict`, before writing anything, if a record moved on since the plan.
    """
    _require_writer(session)
    session.flush()
    table = entity_table(plan.entity)
    rows = _members(session, table, plan.record_ids, lock=True)
    _check_versions(table, plan, rows)
    _refuse_unmergeable(session, table, rows)  # a cannot-link may have been added since
    journal = _Journal()
    writer = _Writer(session, actor_id, utcnow())
    for row in rows[1:]:
        marks = {"merged_into_id": plan.survivor_id, "deleted_at": writer.now}
        values = {**dict.fromkeys(plan.cleared.get(row["id"], ()), None), **marks}
        writer.write(table, [row], values, journal, "loser")
    if plan.survivor_changes:
        writer.write(table, rows[:1], plan.survivor_changes, journal, "survivor")
    for reference in _references(table.name):
        _move_references(session, writer, journal, plan, reference)
    _move_links(session, writer, journal, plan)
    session.expire_all()
    history = MergeHistory(
        entity=table.name,
        survivor_id=plan.survivor_id,
        merged_ids=[str(loser) for loser in plan.loser_ids],
        before_images=journal.images,
        relinked={"changes": journal.changes, "counts": journal.counts},
        reason=dict(reason) if reason is not None else None,
        merged_by=actor_id,
        survivorship={name: _choice_json(choice) for name, choice in plan.fields.items()},
    )
    session.add(history)
    session.flush()
    return history


def _require_writer(session: Session) -> None:
    if session.info.get("origin") is None:
        raise InvalidInput(
            "merges write records: open the session with an origin, e.g. "
            "open_session(engine, origin='crm')"
        )


def _check_versions(table: Table, plan: MergePlan, rows: Sequence[RowMapping]) -> None:
    for row in rows:
        planned = plan.versions[row["id"]]
        if row["version"] != planned:
            raise MergeConflict(
                f"{record_label(table.name)} {row['id']} was changed since the merge was "
                f"planned (version {planned}, now {row['version']}); nothing was written: plan "
                "the merge again"
            )


@dataclass
class _Writer:
    """Writes rows as the merge and its undo do: bookkeeping stamped, versions bumped."""

    session: Session
    actor_id: UUID | None
    now: datetime

    def write(
        self,
        table: Table,
        rows: Sequence[RowMapping],
        values: Mapping[str, Any],
        journal: _Journal,
        role: str,
    ) -> None:
        """Set ``values`` on ``rows``, keeping their before-images in the journal."""
        if not rows:
            return
        journal.record(table, role, rows, values)
        self.set(table, [row["id"] for row in rows], values)

    def set(self, table: Table, ids: Sequence[Any], values: Mapping[str, Any]) -> None:
        """Set ``values`` on the rows with these ids."""
        stamped: dict[str, Any] = dict(values)
        if "version" in table.c:
            stamped.update(
                version=table.c.version + 1, updated_at=self.now, updated_by=self.actor_id
            )
        self.session.execute(
            update(table)
            .where(among(self.session, table.c.id, list(ids)))
            .values(**stamped)
            .execution_options(synchronize_session=False)
        )


def _move_references(
    session: Session, writer: _Writer, journal: _Journal, plan: MergePlan, reference: _Reference
) -> None:
    relink = _relink(session, plan.entity, reference, plan.survivor_id, plan.loser_ids, lock=True)
    column = reference.column.name
    writer.write(reference.table, relink.moved, {column: plan.survivor_id}, journal, "relink")
    writer.write(reference.table, relink.removed, {"deleted_at": writer.now}, journal, "remove")
    if relink.moved or relink.removed:
        journal.count(reference.table.name, column, "moved", len(relink.moved))
        journal.count(reference.table.name, column, "removed", len(relink.removed))


def _move_links(session: Session, writer: _Writer, journal: _Journal, plan: MergePlan) -> None:
    for loser in plan.loser_ids:
        condition = and_(_XREF.c.entity == plan.entity, _XREF.c.record_id == loser)
        rows = _rows(session, _XREF, condition, lock=True)
        values = {"record_id": plan.survivor_id, "merged_from_id": loser}
        writer.write(_XREF, rows, values, journal, "link")
        if rows:
            journal.count(_XREF.name, "record_id", "moved", len(rows))


def _choice_json(choice: FieldChoice) -> dict[str, Any]:
    return {
        "value": _to_json(choice.value),
        "source": str(choice.source_id),
        "rule": choice.rule.value,
        "changed": choice.changed,
    }


def _image(values: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: _to_json(value) for name, value in values.items()}


def _to_json(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


# --------------------------------------------------------------------------- undo


@dataclass(frozen=True)
class _Step:
    """One write of a merge, to be reverted: the rows as they are now and as they were."""

    table: Table
    after: dict[str, Any]
    before: dict[str, dict[str, Any]]
    current: dict[str, RowMapping]


def undo_merge(session: Session, merge_id: UUID, actor_id: UUID | None = None) -> MergeHistory:
    """Undo a merge: every row it wrote gets back the values it had before (bookkeeping
    aside), links return to their records, and each restored record gets a cannot-link with
    the survivor so dedup never proposes the merge again.

    Raises :class:`UndoRefused`, writing nothing, when the merge is undone already, when a
    later merge involves its survivor (undo that one first), or when a row it wrote was
    changed or deleted since in a way the undo would overwrite.
    """
    _require_writer(session)
    session.flush()
    history = session.get(MergeHistory, merge_id, with_for_update=True, populate_existing=True)
    if history is None:
        raise NotFound(f"no merge with id {merge_id}")
    if history.undone_at is not None:
        raise UndoRefused(f"merge {merge_id} was already undone at {history.undone_at:%Y-%m-%d}")
    table = entity_table(history.entity)
    _refuse_later_merges(session, table, history)
    changes = history.relinked.get("changes")
    if changes is None:
        raise UndoRefused(f"merge {merge_id} kept no record of its writes; it cannot be undone")
    steps = [_step(session, history, change) for change in reversed(changes)]
    for step in steps:
        _check_unchanged(step, history.id)
    writer = _Writer(session, actor_id, utcnow())
    for step in steps:
        _revert(writer, step)
    session.expire_all()
    history.undone_at = writer.now
    history.undone_by = actor_id
    for loser in history.merged_ids:
        add_cannot_link(
            session,
            history.entity,
            history.survivor_id,
            UUID(loser),
            f"merge {history.id} undone",
            actor_id=actor_id,
        )
    session.flush()
    session.refresh(history)  # loaded again, so it can be read after the session closes
    return history


def _refuse_later_merges(session: Session, table: Table, history: MergeHistory) -> None:
    survivor = history.survivor_id
    merged_into = session.scalar(select(table.c.merged_into_id).where(table.c.id == survivor))
    later = session.scalars(
        select(MergeHistory)
        .where(
            MergeHistory.entity == history.entity,
            MergeHistory.undone_at.is_(None),
            MergeHistory.id != history.id,
            MergeHistory.merged_at >= history.merged_at,
        )
        .order_by(MergeHistory.merged_at.desc())
    )
    for other in later:
        if other.survivor_id == survivor or (
            other.survivor_id == merged_into and str(survivor) in other.merged_ids
        ):
            raise UndoRefused(
                f"{record_label(table.name)} {survivor}, the survivor of merge {history.id}, "
                f"was merged again later (merge {other.id}): undo that merge first"
            )


def _step(session: Session, history: MergeHistory, change: Mapping[str, Any]) -> _Step:
    table = Base.metadata.tables[change["table"]]
    ids = [UUID(text) for text in change["ids"]]
    rows = _rows(session, table, among(session, table.c.id, ids), lock=True)
    images = history.before_images[table.name]
    return _Step(
        table=table,
        after=decode_changed(table.name, change["set"]),
        before={text: decode_changed(table.name, images[text]) for text in change["ids"]},
        current={str(row["id"]): row for row in rows},
    )


def _check_unchanged(step: _Step, merge_id: UUID) -> None:
    label = "link" if step.table.name == _XREF.name else record_label(step.table.name)
    for text in step.before:
        row = step.current.get(text)
        if row is None:
            raise UndoRefused(
                f"{label} {text} was deleted after merge {merge_id}; the merge cannot be undone"
            )
        for name, value in step.after.items():
            if row[name] != value:
                raise UndoRefused(
                    f"{label} {text} was changed after merge {merge_id}: its {name} is now "
                    f"{_shown(row[name])}, the merge left {_shown(value)}; undoing would "
                    "overwrite that change"
                )


def _shown(value: Any) -> str:
    return "empty" if value is None else repr(_to_json(value))


def _revert(writer: _Writer, step: _Step) -> None:
    groups: dict[str, tuple[dict[str, Any], list[UUID]]] = {}
    for text, before in step.before.items():
        restored = {name: before[name] for name in step.after}
        key = repr(sorted(_image(restored).items()))
        groups.setdefault(key, (restored, []))[1].append(UUID(text))
    for restored, ids in groups.values():
        writer.set(step.table, ids, restored)


# --------------------------------------------------------------------------- looking up


def resolve_record(session: Session, entity: str, record_id: UUID) -> UUID:
    """The record an id stands for now: itself, or the record it was merged into (following
    merges of merges). Raises :class:`NotFound` for an unknown id."""
    table = entity_table(entity)
    seen: list[UUID] = []
    current = record_id
    while True:
        found = session.execute(
            select(table.c.merged_into_id).where(table.c.id == current)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no {record_label(table.name)} with id {current}")
        if found[0] is None:
            return current
        if found[0] in seen:
            raise InvalidInput(f"the merges of {record_id} go round in a circle")
        seen.append(current)
        current = found[0]


def find_record(session: Session, entity: str, text: str) -> UUID:
    """A record id from its full form, or from its first or last digits (at least 6)."""
    table = entity_table(entity)
    found: UUID = _by_id_text(session, table.c.id, text, record_label(table.name), 6)
    return found


def find_merge(session: Session, text: str) -> MergeHistory:
    """A merge from its full id, or from its first or last digits (at least 4: commands show
    the last 8)."""
    merge_id = _by_id_text(session, MergeHistory.id, text, "merge", 4)
    history = session.get(MergeHistory, merge_id)
    if history is None:  # pragma: no cover - found by id just above
        raise NotFound(f"no merge with id {merge_id}")
    return history


def _by_id_text(session: Session, column: Any, text: str, what: str, least: int) -> Any:
    cleaned = text.strip().lower()
    try:
        exact = UUID(cleaned)
    except ValueError:
        exact = None
    if exact is not None:
        if session.scalar(select(column).where(column == exact)) is None:
            raise NotFound(f"no {what} with id {exact}")
        return exact
    digits = cleaned.replace("-", "")
    if len(digits) < least or any(char not in "0123456789abcdef" for char in digits):
        raise InvalidInput(
            f"{text!r} is not a valid {what} id: give the full id, or at least {least} of "
            "its first or last hexadecimal digits"
        )
    shown = func.replace(cast(column, String), "-", "")  # PostgreSQL shows the dashes
    query = select(column).where(shown.like(f"{digits}%") | shown.like(f"%{digits}")).limit(2)
    found = list(session.scalars(query))
    if not found:
        raise NotFound(f"no {what} with an id starting or ending with {text!r}")
    if len(found) > 1:
        raise InvalidInput(f"several {what}s have ids starting or ending with {text!r}; give more")
    return found[0]


def list_merges(
    session: Session, *, entity: str | None = None, limit: int = 20
) -> list[MergeHistory]:
    """The latest merges, newest first (of one entity if given)."""
    query = select(MergeHistory).order_by(MergeHistory.merged_at.desc()).limit(limit)
    if entity is not None:
        query = query.where(MergeHistory.entity == entity_table(entity).name)
    return list(session.scalars(query))


def record_title(values: Mapping[Any, Any]) -> str:
    """How a record (a row or a before-image) is named to people: its name, or the person's."""
    if values.get("name"):
        return str(values["name"])
    if "first_name" in values or "last_name" in values:
        return person_name(values.get("first_name"), values.get("last_name")) or "(no name)"
    return str(values.get("id", ""))


# --------------------------------------------------------------------------- cannot-link


def add_cannot_link(
    session: Session,
    entity: str,
    a: UUID,
    b: UUID,
    reason: str | None,
    *,
    actor_id: UUID | None = None,
) -> CannotLink:
    """Record that two records are different, so dedup never proposes merging them; adding a
    pair twice keeps the first."""
    if a == b:
        raise InvalidInput(f"a record cannot be kept apart from itself ({a})")
    table = entity_table(entity).name
    first, second = sorted((a, b))
    existing = session.scalars(
        select(CannotLink).where(
            CannotLink.entity == table, CannotLink.record_a == first, CannotLink.record_b == second
        )
    ).first()
    if existing is not None:
        return existing
    link = CannotLink(
        entity=table, record_a=first, record_b=second, reason=reason, created_by=actor_id
    )
    session.add(link)
    session.flush()
    return link


def cannot_links(session: Session, entity: str) -> set[tuple[UUID, UUID]]:
    """Every pair of records of ``entity`` that must not be merged, smaller id first."""
    table = entity_table(entity).name
    rows = session.execute(
        select(CannotLink.record_a, CannotLink.record_b).where(CannotLink.entity == table)
    )
    return {(row.record_a, row.record_b) for row in rows}
