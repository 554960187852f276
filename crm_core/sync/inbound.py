"""Inbound sync: from an external system into the CRM, one page per transaction.

For each page: map every record (failures go to quarantine); find its CRM record through
``xref``, else through the mapping's match keys, else create one; compare three ways (the
incoming values, the CRM's values, and the values last synced) and apply the conflict rule; write
in bulk; update ``xref``; save the next cursor. All in one transaction: a crash re-reads the page,
and every step is idempotent (a record whose incoming values hash equal to the last ones synced is
skipped without a write).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.bulk import Rejected, bulk_upsert
from crm_core.db import analyze, open_session, plan_each_query
from crm_core.dedup._door import DoorMatch, flag_for_review
from crm_core.errors import InvalidInput
from crm_core.mapping import ConflictRule, DeletePolicy, MappingFailure
from crm_core.models import Conflict, Xref, table_of
from crm_core.models._types import new_id, utcnow
from crm_core.sync._books import (
    Counts,
    Problem,
    add_counts,
    load_cursor,
    quarantine,
    resolve_quarantined,
    save_cursor,
)
from crm_core.sync._canon import canonical, digest
from crm_core.sync._job import Job
from crm_core.sync._links import Link, LinkWriter, XrefLookup, links_by_key, new_link

__all__ = ["apply_records", "pull"]

log = logging.getLogger("tongbu.sync")

DIRECTION = "in"
_FEW_DELETES = 10
"""Deletes a full read applies however large a share of the records they are."""
_FRESH_STATISTICS = 2000
"""Records created by a run after which the planner statistics are refreshed (then 4x more)."""
_CUSTOM = "custom."


class _Redo(Exception):
    """Some rows of a page were rejected by the database checks: roll the page back and apply
    it again without them (they go to quarantine)."""

    def __init__(self, problems: dict[str, Problem]) -> None:
        super().__init__(f"{len(problems)} records rejected")
        self.problems = problems


class _DryRun(Exception):
    """Roll back a page applied in a dry run, keeping what it would have done."""

    def __init__(self, counts: Counts) -> None:
        super().__init__("dry run")
        self.counts = counts


@dataclass
class _Item:
    """One incoming record on its way through a page."""

    key: str
    record: Mapping[str, Any]
    values: dict[str, Any]
    lines: list[dict[str, Any]] | None
    hash: str
    link: Link | None = None
    record_id: UUID | None = None
    created: bool = False
    resembles: DoorMatch | None = None
    """An existing record it resembles without being surely the same (flagged for review)."""


@dataclass
class PageOutcome:
    """What applying a page did, and what would be written about it."""

    counts: Counts = field(default_factory=Counts)
    problems: list[Problem] = field(default_factory=list)
    ok_keys: list[str] = field(default_factory=list)
    """Records applied without a problem (written or found unchanged)."""


def pull(job: Job, *, full: bool = False, on_page: Any = None) -> Counts:
    """Read every record changed since the stored cursor (all of them with ``full``) and
    apply it to the CRM, page by page. Returns the counts of the run."""
    total = Counts()
    with open_session(job.engine) as session:
        cursor = None if full else load_cursor(session, job.pipeline.name, DIRECTION)
    started = utcnow()
    statistics_after = _FRESH_STATISTICS
    pages = iter(job.connector.read_changes(job.external_entity, cursor, job.pipeline.batch_size))
    while True:
        with job.timed("read"):
            page = next(pages, None)
        if page is None:
            break
        with job.timed("apply"):
            job.prepare_door()
            counts = apply_records(job, page.records, next_cursor=page.next_cursor, touch=full)
        total.add(counts)
        if on_page is not None:
            on_page(counts)
        if total.created >= statistics_after and not job.dry_run:
            # A first sync fills empty tables: let the planner see how big they have become.
            analyze(job.engine, job.mapping.crm_entity, "xref", "change_log")
            statistics_after *= 4
    if full and not job.dry_run:
        counts = _apply_source_deletes(job, started)
        total.add(counts)
        if on_page is not None:
            on_page(counts)
    return total


def apply_records(
    job: Job,
    records: Sequence[Mapping[str, Any]],
    *,
    next_cursor: Any = None,
    save: bool = True,
    touch: bool = False,
) -> Counts:
    """Apply one page of external records in one transaction (with the cursor when ``save``)."""
    excluded: dict[str, Problem] = {}
    while True:
        try:
            with open_session(job.engine, origin=job.system) as session:
                plan_each_query(session)
                outcome = _Page(session, job, excluded).apply(records, touch=touch)
                if job.dry_run:
                    raise _DryRun(outcome.counts)  # noqa: TRY301 - rolls the page back
                context = job.context(DIRECTION)
                quarantine(session, context, outcome.problems)
                resolve_quarantined(session, context, outcome.ok_keys)
                if save:
                    save_cursor(session, job.pipeline.name, DIRECTION, next_cursor)
                add_counts(session, job.run_id, outcome.counts)
                return outcome.counts
        except _Redo as redo:
            excluded.update(redo.problems)
        except _DryRun as dry:
            return dry.counts


class _Page:
    """Applies one page in the caller's transaction."""

    def __init__(self, session: Session, job: Job, excluded: Mapping[str, Problem]) -> None:
        self.session = session
        self.job = job
        self.mapping = job.mapping
        self.excluded = excluded
        self.lookup = XrefLookup(session)
        self.outcome = PageOutcome()
        self.links = LinkWriter(job.system, job.external_entity, job.mapping.crm_entity)
        self.conflicts: list[dict[str, Any]] = []

    # -- the steps -----------------------------------------------------------------------

    def apply(self, records: Sequence[Mapping[str, Any]], *, touch: bool) -> PageOutcome:
        counts = self.outcome.counts
        counts.read = len(records)
        items = self._map(records)
        found = links_by_key(
            self.session, self.job.system, self.job.external_entity, [item.key for item in items]
        )
        pending: list[_Item] = []
        for item in items:
            item.link = found.get(item.key)
            if item.link is not None and item.link.merged_from_id is not None:
                # A duplicate merged away in the CRM: its survivor is not updated from it.
                counts.unchanged += 1
                self.outcome.ok_keys.append(item.key)
                continue
            if item.link is not None and item.link.hash_in == item.hash:
                counts.unchanged += 1
                self.outcome.ok_keys.append(item.key)
                continue
            pending.append(item)
        self._match([item for item in pending if item.link is None])
        self._match_at_door([item for item in pending if item.link is None and item.key])
        self._write(pending)
        self._flag_resemblances(pending)
        if touch:  # every record read, also those quarantined: they still exist there
            keys = (self.mapping.external_key(record) for record in records)
            self._touch(sorted({key for key in keys if key is not None}))
        return self.outcome

    def _map(self, records: Sequence[Mapping[str, Any]]) -> list[_Item]:
        """Map the page's records (the newest of each key wins) and quarantine what fails."""
        latest: dict[str, Mapping[str, Any]] = {}
        for record in records:
            key = self.mapping.external_key(record)
            if key is None:
                self._problem(None, record, f"the record has no {self.mapping.key}", "invalid")
                continue
            latest.pop(key, None)
            latest[key] = record
        self.lookup.prefetch_external(self.mapping.inbound_references(latest.values()))
        items: list[_Item] = []
        for key, record in latest.items():
            if key in self.excluded:
                self._quarantine_problem(self.excluded[key])
                continue
            try:
                values = self.mapping.to_crm(record, self.lookup)
                lines = self.mapping.lines_to_crm(record, self.lookup)
            except MappingFailure as failure:
                self._problem(key, record, f"{failure.field}: {failure.reason}", failure.kind)
                continue
            items.append(_Item(key, record, values, lines, digest([values, lines])))
        return items

    def _match(self, unlinked: list[_Item]) -> None:
        """Link records seen for the first time to existing CRM records by the match keys."""
        if not unlinked or not self.mapping.match_keys:
            return
        table = table_of(self.job.model)
        claimed: set[UUID] = set()
        remaining = list(unlinked)
        ambiguous: dict[str, str] = {}
        for group in self.mapping.match_keys:
            candidates = [
                item
                for item in remaining
                if all(item.values.get(name) is not None for name in group)
            ]
            if not candidates:
                continue
            found = self._candidates(table, group, candidates)
            taken = self._already_linked({rid for ids in found.values() for rid in ids})
            still: list[_Item] = []
            for item in remaining:
                value = tuple(canonical(item.values.get(name)) for name in group)
                ids = [
                    rid for rid in found.get(value, []) if rid not in taken and rid not in claimed
                ]
                if len(ids) == 1:
                    item.record_id = ids[0]
                    claimed.add(ids[0])
                    ambiguous.pop(item.key, None)
                    continue
                if len(ids) > 1 and item.key not in ambiguous:
                    shown = ", ".join(str(rid) for rid in ids[:5])
                    ambiguous[item.key] = (
                        f"matches {len(ids)} {table.name} records by {', '.join(group)} "
                        f"({shown}); merge the duplicates or link one by hand, then replay"
                    )
                still.append(item)
            remaining = still
        for item in list(unlinked):
            if item.key in ambiguous and item.record_id is None:
                self._problem(item.key, item.record, ambiguous[item.key], "ambiguous")
                item.record_id = None
                item.key = ""  # dropped from the page below

    def _match_at_door(self, unlinked: list[_Item]) -> None:
        """Link records still unlinked to the existing customer the dedup model is sure they
        are; remember the ones that only resemble one (created, then flagged for review)."""
        fresh = [item for item in unlinked if item.record_id is None]
        matcher = self.job.door_matcher(self.session) if fresh else None
        if matcher is None:
            return
        matches = matcher.match(self.session, [item.values for item in fresh])
        sure = {match.record_id for match in matches if match.decision == "link"}
        taken = self._already_linked({record_id for record_id in sure if record_id is not None})
        for item, match in zip(fresh, matches, strict=True):
            if match.record_id is None:
                continue
            if match.decision == "link" and match.record_id not in taken:
                item.record_id = match.record_id
                taken.add(match.record_id)
                log.info(
                    "%s %s is %s %s (match probability %.3f)",
                    self.job.external_entity,
                    item.key,
                    self.mapping.crm_entity,
                    match.record_id,
                    match.probability,
                )
            else:
                item.resembles = match

    def _flag_resemblances(self, items: list[_Item]) -> None:
        for item in items:
            if item.created and item.resembles is not None and item.record_id is not None:
                flag_for_review(
                    self.session,
                    self.mapping.crm_entity,
                    item.record_id,
                    item.resembles,
                    f"sync {self.job.pipeline.name}: {self.job.external_entity} {item.key}",
                )

    def _candidates(
        self, table: Any, group: Sequence[str], items: Sequence[_Item]
    ) -> dict[tuple[Any, ...], list[UUID]]:
        columns = [table.c[name] for name in group]
        live = table.c.deleted_at.is_(None)
        found: dict[tuple[Any, ...], list[UUID]] = {}
        if len(group) == 1:
            wanted = list({item.values[group[0]] for item in items})
            query = select(table.c.id, *columns).where(
                live, among(self.session, columns[0], wanted)
            )
            rows = list(self.session.execute(query))
        else:
            rows = []
            for item in items:
                conditions = [
                    column == item.values[name] for column, name in zip(columns, group, strict=True)
                ]
                rows.extend(
                    self.session.execute(select(table.c.id, *columns).where(live, *conditions))
                )
        for row in rows:
            value = tuple(canonical(row[index + 1]) for index in range(len(group)))
            found.setdefault(value, []).append(row[0])
        return found

    def _already_linked(self, record_ids: set[UUID]) -> set[UUID]:
        if not record_ids:
            return set()
        xref = table_of(Xref).c
        rows = self.session.execute(
            select(xref.record_id).where(
                xref.system == self.job.system,
                xref.external_entity == self.job.external_entity,
                among(self.session, xref.record_id, list(record_ids)),
            )
        )
        return {row.record_id for row in rows}

    # -- deciding and writing ----------------------------------------------------------------

    def _write(self, pending: list[_Item]) -> None:
        pending = [item for item in pending if item.key]
        if not pending:
            return
        model = self.job.model
        header_fields = self._header_fields()
        targets = [
            item.link.record_id if item.link is not None else item.record_id for item in pending
        ]
        current = self._current({rid for rid in targets if rid is not None}, header_fields)
        lines_now = self._current_lines({rid for rid in targets if rid is not None})
        rows: list[dict[str, Any]] = []
        row_items: list[_Item] = []
        line_plans: list[tuple[_Item, list[dict[str, Any]]]] = []
        counts = self.outcome.counts
        for item, linked_to in zip(pending, targets, strict=True):
            row = current.get(linked_to) if linked_to is not None else None
            # A link to a CRM record that was deleted for good: link to a new one.
            target = linked_to if row is not None else None
            if target is None:
                item.record_id = new_id()
                item.created = True
                final = dict(item.values)
                final_lines = item.lines
                base: dict[str, Any] = {}
            else:
                item.record_id = target
                if row is not None and row["deleted_at"] is not None:
                    counts.unchanged += 1
                    log.info(
                        "%s %s is archived in the CRM; %s %s was not applied",
                        self.mapping.crm_entity,
                        target,
                        self.job.external_entity,
                        item.key,
                    )
                    self._link(item, None)
                    continue
                base = dict(item.link.synced_values or {}) if item.link is not None else {}
                assert row is not None  # noqa: S101 - checked above
                final, final_lines = self._decide(item, row, base, lines_now.get(target))
            data = self._row(final, row)
            wrote = False
            if row is None or any(canonical(data[name]) != canonical(row[name]) for name in data):
                rows.append({"id": item.record_id, **data})
                row_items.append(item)
                wrote = True
            if item.lines is not None and (
                row is None
                or target is None
                or canonical(final_lines) != canonical(_project(lines_now.get(target), item.lines))
            ):
                line_plans.append((item, final_lines or []))
                wrote = True
            if item.created:
                counts.created += 1
            elif wrote:
                counts.updated += 1
            else:
                counts.unchanged += 1
            self._link(item, base)
        self._bulk(model, rows, row_items)
        self._write_lines(line_plans, lines_now)
        self._save_conflicts()
        self.links.flush(self.session)

    def _header_fields(self) -> list[str]:
        names = [name for name in self.mapping.inbound_fields if not name.startswith(_CUSTOM)]
        if any(name.startswith(_CUSTOM) for name in self.mapping.inbound_fields):
            names.append("custom")
        return names

    def _current(self, ids: set[UUID], header_fields: Sequence[str]) -> dict[UUID, dict[str, Any]]:
        if not ids:
            return {}
        table = table_of(self.job.model)
        wanted = {"id", "version", "updated_at", "deleted_at", *header_fields}
        columns = [table.c[name] for name in sorted(wanted)]
        rows = self.session.execute(
            select(*columns).where(among(self.session, table.c.id, list(ids)))
        )
        return {row.id: dict(row._mapping) for row in rows}

    def _current_lines(self, ids: set[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        spec = self.mapping.lines
        line_model = self.job.line_model
        if spec is None or line_model is None or not ids:
            return {}
        table = table_of(line_model)
        number = self.job.line_number
        names = sorted({"id", spec.parent, number, *spec.inbound_fields})
        query = select(*[table.c[name] for name in names]).where(
            table.c.deleted_at.is_(None), among(self.session, table.c[spec.parent], list(ids))
        )
        found: dict[UUID, list[dict[str, Any]]] = {}
        for row in self.session.execute(query.order_by(table.c[number])):
            found.setdefault(row._mapping[spec.parent], []).append(dict(row._mapping))
        return found

    def _decide(
        self,
        item: _Item,
        row: Mapping[str, Any],
        base: Mapping[str, Any],
        lines_now: list[dict[str, Any]] | None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        """The three-way compare: for each field, the incoming value, the CRM's and the base."""
        final: dict[str, Any] = {}
        source_time = self.mapping.source_modified(item.record)
        crm_time: datetime | None = row.get("updated_at")
        times = (source_time, crm_time)
        custom = row.get("custom") or {}
        for name, incoming in item.values.items():
            current = custom.get(name[len(_CUSTOM) :]) if name.startswith(_CUSTOM) else row[name]
            final[name] = self._field(
                item, name, incoming=incoming, current=current, base=base, times=times
            )
        final_lines = item.lines
        if item.lines is not None and self.mapping.lines is not None:
            name = self.mapping.lines.crm_entity
            current_lines = _project(lines_now, item.lines)
            final_lines = self._field(
                item, name, incoming=item.lines, current=current_lines, base=base, times=times
            )
        return final, final_lines

    def _field(
        self,
        item: _Item,
        name: str,
        *,
        incoming: Any,
        current: Any,
        base: Mapping[str, Any],
        times: tuple[datetime | None, datetime | None],
    ) -> Any:
        """The value a field ends with, by the three-way compare and the conflict rule."""
        source_time, crm_time = times
        new, now = canonical(incoming), canonical(current)
        if new == now:
            return current
        if name in base:
            if new == base[name]:
                return current  # only the CRM changed it: keep, the outbound side sends it
            if now == base[name]:
                return incoming  # only the source changed it
        elif now in (None, "", []):
            return incoming  # first sync of this field and nothing to overwrite
        rule = self.mapping.rule_for(name)
        take_source = rule is ConflictRule.SOURCE_WINS or (
            rule is ConflictRule.NEWEST_WINS
            and source_time is not None
            and (crm_time is None or source_time >= crm_time)
        )
        self.outcome.counts.conflicts += 1
        self.conflicts.append(
            {
                "record_id": item.record_id,
                "external_id": item.key,
                "field": name,
                "base_value": base.get(name),
                "crm_value": now,
                "source_value": new,
                "crm_changed_at": crm_time,
                "source_changed_at": source_time,
                "rule": str(rule),
                "manual": rule is ConflictRule.MANUAL,
                "resolution": "source" if take_source else "crm",
            }
        )
        return incoming if take_source else current

    def _row(self, final: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
        """The column values to write: plain fields, and ``custom.*`` folded into ``custom``."""
        data: dict[str, Any] = {}
        custom: dict[str, Any] | None = None
        for name, value in final.items():
            if name.startswith(_CUSTOM):
                if custom is None:
                    custom = dict((row or {}).get("custom") or {})
                custom[name[len(_CUSTOM) :]] = canonical(value)
            else:
                data[name] = value
        if custom is not None:
            data["custom"] = custom
        return data

    def _bulk(self, model: Any, rows: list[dict[str, Any]], items: list[_Item]) -> None:
        if not rows:
            return
        result = bulk_upsert(self.session, model, rows, key="id")
        _redo_without(result.rejected, items, lambda rejected: rejected.reason)
        for item in items:
            if item.record_id is not None:
                self.lookup.remember(
                    self.job.system, self.job.external_entity, item.key, item.record_id
                )

    def _write_lines(
        self,
        plans: list[tuple[_Item, list[dict[str, Any]]]],
        lines_now: Mapping[UUID, list[dict[str, Any]]],
    ) -> None:
        spec = self.mapping.lines
        line_model = self.job.line_model
        if not plans or spec is None or line_model is None:
            return
        number = self.job.line_number
        rows: list[dict[str, Any]] = []
        owners: list[_Item] = []
        gone: list[UUID] = []
        for item, lines in plans:
            assert item.record_id is not None  # noqa: S101 - set when the item was decided
            existing = {line[number]: line["id"] for line in lines_now.get(item.record_id, [])}
            for line in lines:
                line_id = existing.pop(line[number], None) or new_id()
                rows.append({"id": line_id, spec.parent: item.record_id, **line})
                owners.append(item)
            gone.extend(existing.values())
        if gone:
            table = table_of(line_model)
            self.session.execute(delete(table).where(among(self.session, table.c.id, gone)))
        if not rows:
            return
        result = bulk_upsert(self.session, line_model, rows, key="id")
        _redo_without(
            result.rejected,
            owners,
            lambda rejected: f"line {rows[rejected.index][number]}: {rejected.reason}",
        )

    def _link(self, item: _Item, base: Mapping[str, Any] | None) -> None:
        assert item.record_id is not None  # noqa: S101 - decided before linking
        link = item.link
        if link is None or link.record_id != item.record_id:
            replaced = link
            link = new_link(item.key, item.record_id)
            if replaced is not None:
                link.id, link.new = replaced.id, False
        synced = dict(base or link.synced_values or {})
        synced.update(canonical(item.values))
        if item.lines is not None and self.mapping.lines is not None:
            synced[self.mapping.lines.crm_entity] = canonical(item.lines)
        link.synced_values = synced
        link.hash_in = item.hash
        link.external_version = self.job.version_of(dict(item.record))
        self.links.save(link)
        self.outcome.ok_keys.append(item.key)

    def _save_conflicts(self) -> None:
        if not self.conflicts:
            return
        table = table_of(Conflict)
        manual = [c for c in self.conflicts if c["manual"]]
        open_rows: dict[tuple[UUID, str], UUID] = {}
        if manual:
            rows = self.session.execute(
                select(table.c.id, table.c.record_id, table.c.field).where(
                    table.c.status == "open",
                    table.c.pipeline == self.job.pipeline.name,
                    among(self.session, table.c.record_id, list({c["record_id"] for c in manual})),
                )
            )
            open_rows = {(row.record_id, row.field): row.id for row in rows}
        now = utcnow()
        for conflict in self.conflicts:
            is_manual = conflict.pop("manual")
            resolution = conflict.pop("resolution")
            existing = open_rows.get((conflict["record_id"], conflict["field"]))
            if is_manual and existing is not None:
                self.session.execute(
                    update(table)
                    .where(table.c.id == existing)
                    .values(
                        source_value=conflict["source_value"],
                        crm_value=conflict["crm_value"],
                        source_changed_at=conflict["source_changed_at"],
                        run_id=self.job.run_id,
                    )
                )
                continue
            self.session.execute(
                table.insert().values(
                    id=new_id(),
                    run_id=self.job.run_id,
                    pipeline=self.job.pipeline.name,
                    entity=self.mapping.crm_entity,
                    system=self.job.system,
                    status="open" if is_manual else "resolved",
                    resolution=None if is_manual else resolution,
                    resolved_at=None if is_manual else now,
                    created_at=now,
                    **conflict,
                )
            )
            log.info(
                "conflict on %s %s field %s: rule %s, %s",
                self.mapping.crm_entity,
                conflict["record_id"],
                conflict["field"],
                conflict["rule"],
                "left for a person" if is_manual else f"{resolution} wins",
            )

    def _touch(self, keys: list[str]) -> None:
        """Mark these links as seen by a full read (to find records deleted at the source)."""
        if not keys:
            return
        xref = table_of(Xref)
        self.session.execute(
            update(xref)
            .where(
                xref.c.system == self.job.system,
                xref.c.external_entity == self.job.external_entity,
                among(self.session, xref.c.external_id, keys),
            )
            .values(synced_at=utcnow())
        )

    # -- quarantine --------------------------------------------------------------------------

    def _problem(self, key: str | None, record: Mapping[str, Any], reason: str, kind: str) -> None:
        self._quarantine_problem(Problem(key, dict(record), reason, kind))

    def _quarantine_problem(self, problem: Problem) -> None:
        self.outcome.problems.append(problem)
        self.outcome.counts.quarantined += 1


def _redo_without(
    rejected: Sequence[Rejected], items: Sequence[_Item], reason: Callable[[Rejected], str]
) -> None:
    """Roll the page back to apply it again without the records whose rows the database
    checks rejected (they go to quarantine with the reason)."""
    if rejected:
        raise _Redo(
            {
                items[row.index].key: Problem(
                    items[row.index].key, items[row.index].record, reason(row), "rejected"
                )
                for row in rejected
            }
        )


def _project(
    lines: list[dict[str, Any]] | None, like: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The stored lines reduced to the fields the mapping writes (for comparing)."""
    if not lines:
        return []
    names = list(like[0]) if like else []
    return [{name: line.get(name) for name in names} for line in lines]


def _apply_source_deletes(job: Job, started: datetime) -> Counts:
    """After a full read: records linked before but not read any more were deleted at the
    source. Apply the mapping's delete policy to their CRM records."""
    counts = Counts()
    policy = job.mapping.delete_policy
    xref = table_of(Xref)
    with open_session(job.engine, origin=job.system) as session:
        gone = list(
            session.execute(
                select(xref.c.id, xref.c.external_id, xref.c.record_id).where(
                    xref.c.system == job.system,
                    xref.c.external_entity == job.external_entity,
                    (xref.c.synced_at < started) | xref.c.synced_at.is_(None),
                )
            )
        )
        if not gone:
            return counts
        linked = session.scalar(
            select(func.count()).where(
                xref.c.system == job.system, xref.c.external_entity == job.external_entity
            )
        )
        if (
            len(gone) > _FEW_DELETES
            and len(gone) > (linked or 0) * job.pipeline.max_delete_fraction
        ):
            raise InvalidInput(
                f"the full read of {job.external_entity} found {len(gone)} of {linked} linked "
                f"records gone from {job.system}; no deletes were applied. If they really were "
                "deleted, raise max_delete_fraction in the pipeline file and run again"
            )
        table = table_of(job.model)
        ids = [row.record_id for row in gone]
        if policy is DeletePolicy.PROPAGATE:
            session.execute(delete(table).where(among(session, table.c.id, ids)))
        elif policy is DeletePolicy.ARCHIVE:
            session.execute(
                update(table)
                .where(among(session, table.c.id, ids), table.c.deleted_at.is_(None))
                .values(deleted_at=utcnow(), version=table.c.version + 1)
            )
        session.execute(delete(xref).where(among(session, xref.c.id, [row.id for row in gone])))
        counts.deleted = len(gone)
        add_counts(session, job.run_id, counts)
        log.info(
            "%d %s records are gone from %s: policy %s",
            len(gone),
            job.external_entity,
            job.system,
            policy,
        )
    return counts
