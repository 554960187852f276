"""``tongbu migrate run``: a source, through a mapping, into the CRM core, in chunks, with a
reconciliation at the end (DESIGN.md section 7).

1. **Plan** (dedup on): read every row once, map it, and find the rows that are one customer,
   among themselves and with the records already in the core (:func:`crm_core.dedup.
   dedup_records`). The plan is saved with the run before anything is loaded.
2. **Load**: read the rows again and write them chunk by chunk, each chunk in one transaction
   together with its checkpoint. A group of rows that are one customer is written when its last
   row has been read: the first row becomes the record (its empty fields filled from the
   others), the others are merged into it, each merge in ``merge_history``.
3. **Reconcile**: rows read = created + updated + merged + quarantined, per source; the checksum
   of the key fields as written against the rows read back. A run whose numbers do not add up
   fails.

A run killed at any moment is continued with ``--resume RUN_ID``: the chunks committed stay,
the rest is loaded, no row twice.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Engine, or_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from crm_core.bulk import ConcurrentWriteError
from crm_core.db import analyze, open_session
from crm_core.dedup import DEFAULT_THRESHOLD, ENTITIES, EntitySpec
from crm_core.dedup._core import live_records
from crm_core.dedup._run import dedup_table, featurise
from crm_core.dedup._table import FeatureTable
from crm_core.errors import InvalidInput, NotFound
from crm_core.mapping import CompiledMapping
from crm_core.migrate._load import ChunkLoader, Group, links_of
from crm_core.migrate._plan import DedupPlan
from crm_core.migrate._prepare import Failure, Prepared, prepare
from crm_core.migrate._report import Checksum, Counts, MigrationReport, QuarantineReason
from crm_core.migrate._sources import CsvSource, Source, SourceRow
from crm_core.models import (
    Entity,
    MigrationCheckpoint,
    Quarantine,
    SyncRun,
    entity_classes,
    utcnow,
)
from crm_core.sync._links import XrefLookup
from crm_core.sync.review import MIGRATION_PREFIX

__all__ = ["MigrationOptions", "MigrationProgress", "run_migration"]

_ATTEMPTS = 3
_ANALYZE_AFTER = 10_000
_ANALYZE_FROM = 2_000
_STREAM_FROM = 20_000
"""From this many rows, dedup normalises in worker processes while the rows are read."""
_DEDUP_ENTITY = {"accounts": "account", "contacts": "contact"}


class MigrationProgress(Protocol):
    """What a migration reports while it works (the command shows a bar or log lines)."""

    def phase(self, name: str, total: int | None = None) -> None:
        """A new phase starts, with ``total`` rows when they are known."""

    def advance(self, steps: int) -> None:
        """``steps`` more rows of the phase are done."""


class _Quiet:
    def phase(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass


@dataclass(frozen=True)
class MigrationOptions:
    """How a migration runs."""

    chunk_size: int = 5000
    dedup: bool = True
    """Merge the rows that are one customer, and match them to the core's records."""
    threshold: float = DEFAULT_THRESHOLD
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        """The options as saved with the run."""
        return {"chunk_size": self.chunk_size, "dedup": self.dedup, "threshold": self.threshold}


def run_migration(
    engine: Engine,
    source: Source,
    mapping: CompiledMapping,
    *,
    options: MigrationOptions | None = None,
    resume: UUID | None = None,
    source_label: str | None = None,
    progress: MigrationProgress | None = None,
) -> MigrationReport:
    """Migrate ``source`` into the core through ``mapping``; return the reconciliation report.

    Raises :class:`~crm_core.migrate.ReconciliationError` when the numbers do not add up (after
    everything that could be written was), :class:`~crm_core.errors.InvalidInput` for a source
    or mapping that cannot be used, before anything is written.
    """
    options = options or MigrationOptions()
    if options.chunk_size < 1:
        raise InvalidInput("--chunk-size must be at least 1")
    _check_columns(source, mapping)
    label = source_label or source.name
    report = MigrationReport(
        run_id=None,
        source=label,
        mapping=str(mapping.path),
        entity=mapping.crm_entity,
        dry_run=options.dry_run,
        dedup=options.dedup and _dedup_spec(mapping) is not None,
        checksum_fields=_checksum_fields(mapping),
    )
    run = _Run(engine, source, mapping, options, report, progress or _Quiet())
    return run.execute(resume, label)


# --------------------------------------------------------------------------- checks


def _model_of(mapping: CompiledMapping) -> type[Entity]:
    classes = {cls.__tablename__: cls for cls in entity_classes()}
    return classes[mapping.crm_entity]


def _check_columns(source: Source, mapping: CompiledMapping) -> None:
    """Refuse a source that lacks the key column or every column the mapping reads."""
    columns = set(source.columns)
    if mapping.key not in columns:
        raise InvalidInput(
            f"{source.name} has no column {mapping.key!r}, the key of {mapping.path}; its "
            f"columns: {', '.join(source.columns)}"
        )
    wanted = [f.external for f in mapping.fields if f.external and f.direction != "out"]
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise InvalidInput(
            f"{source.name} lacks the column(s) {', '.join(missing)} that {mapping.path} "
            f"reads; its columns: {', '.join(source.columns)}"
        )


def _dedup_spec(mapping: CompiledMapping) -> EntitySpec | None:
    name = _DEDUP_ENTITY.get(mapping.crm_entity)
    return ENTITIES[name] if name is not None else None


def _checksum_fields(mapping: CompiledMapping) -> tuple[str, ...]:
    """The key fields: the ones the mapping matches on, else the name; always written ones."""
    written = set(mapping.inbound_fields)
    fields = [name for group in mapping.match_keys for name in group if name in written]
    if not fields:
        fields = [name for name in ("name", "last_name", "number") if name in written]
    return tuple(dict.fromkeys(name for name in fields if not name.startswith("custom.")))


def _fingerprint(source: Source) -> str:
    """What identifies the source: a file's name, size and first megabyte; else its name."""
    digest = hashlib.sha256(source.name.encode())
    path = getattr(source, "path", None)
    if isinstance(path, Path) and path.is_file():
        digest.update(str(path.stat().st_size).encode())
        with path.open("rb") as file:
            digest.update(file.read(1 << 20))
    return digest.hexdigest()[:32]


def _count_rows(source: Source) -> int | None:
    """The number of rows, when it is cheap to know (a CSV file's lines), for the ETA."""
    if not isinstance(source, CsvSource):
        return None
    lines = 0
    with source.path.open("rb") as file:
        while block := file.read(1 << 22):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def _pipeline(mapping: CompiledMapping) -> str:
    return f"{MIGRATION_PREFIX}{mapping.name}"


# --------------------------------------------------------------------------- the run row


def _start(
    engine: Engine,
    mapping: CompiledMapping,
    *,
    source_name: str,
    label: str,
    fingerprint: str,
    options: MigrationOptions,
    plan: DedupPlan | None,
) -> MigrationCheckpoint:
    with open_session(engine) as session:
        run = SyncRun(pipeline=_pipeline(mapping), direction="in")
        session.add(run)
        session.flush()
        # This run reads the whole source again: the quarantine of its earlier runs is
        # replaced by what this one finds (rows corrected in the source meanwhile load now).
        session.execute(
            update(Quarantine)
            .where(
                Quarantine.pipeline == _pipeline(mapping),
                Quarantine.status == "open",
                or_(
                    Quarantine.source == source_name,
                    Quarantine.source.startswith(f"{source_name}!"),
                ),
            )
            .values(status="superseded", resolved_at=utcnow())
        )
        checkpoint = MigrationCheckpoint(
            run_id=run.id,
            source=label,
            mapping=str(mapping.path),
            fingerprint=fingerprint,
            options=options.to_json(),
            phase="loading",
            position=0,
            counts={},
            plan=plan.to_bytes() if plan is not None else None,
        )
        session.add(checkpoint)
        session.flush()
        session.expunge(checkpoint)
    return checkpoint


def _resume(
    engine: Engine,
    mapping: CompiledMapping,
    run_id: UUID,
    *,
    label: str,
    fingerprint: str,
    report: MigrationReport,
) -> tuple[MigrationCheckpoint, MigrationOptions]:
    with open_session(engine) as session:
        checkpoint = session.get(MigrationCheckpoint, run_id)
        if checkpoint is None:
            raise NotFound(f"no migration run {run_id}; `tongbu runs list` shows the runs")
        session.expunge(checkpoint)
    if checkpoint.phase == "done":
        raise InvalidInput(f"migration run {run_id} is finished; there is nothing to resume")
    if checkpoint.mapping != str(mapping.path):
        raise InvalidInput(
            f"run {run_id} used the mapping {checkpoint.mapping}, not {mapping.path}: resume it "
            "with the same mapping"
        )
    if checkpoint.fingerprint != fingerprint:
        raise InvalidInput(
            f"the source {label} is not the one run {run_id} started on ({checkpoint.source}): "
            "it changed or is another file; resume with the same source, or start a new run"
        )
    saved = checkpoint.options
    options = MigrationOptions(
        chunk_size=int(saved["chunk_size"]),
        dedup=bool(saved["dedup"]),
        threshold=float(saved["threshold"]),
    )
    _restore(report, checkpoint.counts)
    report.resumed = True
    return checkpoint, options


def _saved_counts(report: MigrationReport) -> dict[str, Any]:
    return {
        "sources": {name: counts.to_json() for name, counts in report.sources.items()},
        "reasons": [
            {"reason": entry.reason, "count": entry.count, "examples": entry.examples}
            for entry in report.reasons.values()
        ],
        "source_checksum": report.source_checksum.to_json(),
        "loaded_checksum": report.loaded_checksum.to_json(),
        "seconds": report.seconds,
    }


def _restore(report: MigrationReport, saved: dict[str, Any]) -> None:
    for name, counts in saved.get("sources", {}).items():
        report.sources[name] = Counts.from_json(counts)
    for entry in saved.get("reasons", []):
        report.reasons[entry["reason"]] = QuarantineReason(
            entry["reason"], int(entry["count"]), list(entry["examples"])
        )
    report.source_checksum = Checksum.from_json(saved.get("source_checksum"))
    report.loaded_checksum = Checksum.from_json(saved.get("loaded_checksum"))
    report.seconds = float(saved.get("seconds", 0.0))


def _save(session: Session, run_id: UUID, position: int, report: MigrationReport) -> None:
    checkpoint = session.get(MigrationCheckpoint, run_id)
    run = session.get(SyncRun, run_id)
    if checkpoint is None or run is None:
        raise NotFound(f"migration run {run_id} was deleted while it ran")
    checkpoint.position = position
    checkpoint.counts = _saved_counts(report)
    total = report.total
    run.read, run.created, run.updated = total.read, total.created, total.updated
    run.unchanged, run.quarantined = total.unchanged, total.quarantined
    run.timings = {"merged": total.merged}


def _finish(engine: Engine, run_id: UUID, report: MigrationReport) -> None:
    with open_session(engine) as session:
        checkpoint = session.get(MigrationCheckpoint, run_id)
        run = session.get(SyncRun, run_id)
        if checkpoint is None or run is None:
            raise NotFound(f"migration run {run_id} was deleted while it ran")
        checkpoint.phase = "done"
        checkpoint.counts = _saved_counts(report)
        problems = report.problems()
        run.status = "failed" if problems else "succeeded"
        run.error = "; ".join(problems) or None
        run.finished_at = utcnow()
        run.timings = {"merged": report.total.merged, "seconds": round(report.seconds, 3)}


def _fail(engine: Engine, run_id: UUID, error: BaseException) -> None:
    """Mark the run failed (it can be resumed); a crash that kills the process leaves it
    ``running``, which ``--resume`` accepts just the same."""
    try:
        with open_session(engine) as session:
            run = session.get(SyncRun, run_id)
            if run is not None:
                run.status = "failed"
                run.error = f"{type(error).__name__}: {error}"[:2000]
                run.finished_at = utcnow()
    except sa_exc.SQLAlchemyError:  # pragma: no cover - the database itself is failing
        pass


# --------------------------------------------------------------------------- the run


@dataclass
class _Run:
    """One migration run: its source, mapping, options and report."""

    engine: Engine
    source: Source
    mapping: CompiledMapping
    options: MigrationOptions
    report: MigrationReport
    progress: MigrationProgress
    analyzed_at: int = 0
    """How many rows were written when the planner's statistics were last refreshed."""
    _rows_read: int = 0

    def execute(self, resume: UUID | None, label: str) -> MigrationReport:
        """Plan (or take the saved plan), load, reconcile."""
        started = time.perf_counter()
        fingerprint = _fingerprint(self.source)
        checkpoint: MigrationCheckpoint | None = None
        if resume is not None:
            checkpoint, self.options = _resume(
                self.engine,
                self.mapping,
                resume,
                label=label,
                fingerprint=fingerprint,
                report=self.report,
            )
        spec = _dedup_spec(self.mapping) if self.options.dedup else None
        total = _count_rows(self.source)
        plan: DedupPlan | None = None
        if checkpoint is not None and checkpoint.plan is not None:
            plan = DedupPlan.from_bytes(checkpoint.plan)
            total = len(plan.leaders)
        elif spec is not None and checkpoint is None:
            plan = self.plan(spec, total)
            total = len(plan.leaders)
        elif checkpoint is None:
            total = self.check_source(total)
        if checkpoint is None and not self.options.dry_run:
            checkpoint = _start(
                self.engine,
                self.mapping,
                source_name=self.source.name,
                label=label,
                fingerprint=fingerprint,
                options=self.options,
                plan=plan,
            )
        run_id = checkpoint.run_id if checkpoint is not None else None
        self.report.run_id = str(run_id) if run_id is not None else None
        loader = ChunkLoader(
            mapping=self.mapping,
            model=_model_of(self.mapping),
            run_id=run_id,
            pipeline=_pipeline(self.mapping),
            source_name=self.source.name,
            report=self.report,
            checksum_fields=self.report.checksum_fields,
            now=utcnow,
        )
        position = checkpoint.position if checkpoint is not None else 0
        self.progress.phase("checking" if self.options.dry_run else "loading", total)
        if position:
            self.progress.advance(position)
        try:
            self.load(loader, plan, position)
        except BaseException as error:
            if run_id is not None:
                _fail(self.engine, run_id, error)
            raise
        self.report.seconds += time.perf_counter() - started
        if run_id is not None:
            _finish(self.engine, run_id, self.report)
            if self.report.total.created + self.report.total.merged >= _ANALYZE_AFTER:
                analyze(self.engine, self.mapping.crm_entity, "xref", "change_log")
        self.report.check()
        return self.report

    # ------------------------------------------------------------------ phase 1: plan

    def check_source(self, total: int | None) -> int:
        """Read the source once without mapping it (when there is no dedup plan to make), so
        that a broken file fails before anything is written; return its rows."""
        self.progress.phase("checking the source", total)
        rows = 0
        for batch in _batches(self.source, self.options.chunk_size):
            rows += len(batch)
            self.progress.advance(len(batch))
        return rows

    def plan(self, spec: EntitySpec, total: int | None) -> DedupPlan:
        """Read and map every row, and find which are one customer (see the module's doc).

        The rows' dedup cells go to the normalising worker processes chunk by chunk while the
        next rows are read and mapped: the cells of a million rows are never all in memory."""
        started = time.perf_counter()
        self.progress.phase("reading for dedup", total)
        ids: list[str] = []
        chunks = self._dedup_chunks(spec, ids)
        head: list[list[tuple[str | None, ...]]] = []
        buffered = 0
        for chunk in chunks:  # a small source is normalised here, without worker processes
            head.append(chunk)
            buffered += len(chunk)
            if buffered >= _STREAM_FROM:
                break
        streamed = itertools.chain(head, chunks)
        if buffered >= _STREAM_FROM:
            features = featurise(spec, spec.columns, streamed, self.progress, chunked=True)
        else:
            cells = [cell for chunk in streamed for cell in chunk]
            features = featurise(spec, spec.columns, cells, self.progress)
        rows = self._rows_read
        if len(ids) < 2:
            return DedupPlan.alone(rows)
        result = dedup_table(
            spec,
            FeatureTable(ids, features),
            threshold=self.options.threshold,
            progress=self.progress,
            normalised_in=time.perf_counter() - started,
        )
        return DedupPlan.from_result(rows, ids, result)

    def _dedup_chunks(
        self, spec: EntitySpec, ids: list[str]
    ) -> Iterator[list[tuple[str | None, ...]]]:
        """The dedup cells of the new rows, a chunk at a time, then those of the core's live
        records; their ids are appended to ``ids`` as they go."""
        seen: set[str] = set()
        self._rows_read = 0
        for batch in _batches(enumerate(self.source), self.options.chunk_size):
            prepared = list(self.prepare_batch(batch).values())
            self._rows_read += len(batch)
            keys = [item.key for item in prepared if isinstance(item, Prepared)]
            with open_session(self.engine) as session:
                linked = links_of(session, self.mapping, keys)
            cells = []
            for item in prepared:
                # Every row with a key claims it, a failing one too (as in load()).
                if item.key is None or item.key in seen:
                    continue
                seen.add(item.key)
                if isinstance(item, Prepared) and item.key not in linked:
                    ids.append(str(item.index))
                    cells.append(_dedup_cells(spec, item))
            self.progress.advance(len(batch))
            if cells:
                yield cells
        with open_session(self.engine) as session:
            core_ids, core_values = live_records(session, spec)
        ids.extend(f"core:{record_id}" for record_id in core_ids)
        for start in range(0, len(core_values), self.options.chunk_size):
            yield core_values[start : start + self.options.chunk_size]

    # ------------------------------------------------------------------ phase 2: load

    def load(self, loader: ChunkLoader, plan: DedupPlan | None, position: int) -> None:
        """Read the rows, group them by the plan, and write them chunk by chunk."""
        mapping, source = self.mapping, self.source
        seen: dict[str, str] = {}
        """Each key read, and where it was first."""
        open_groups: dict[int, list[Prepared]] = {}
        chunk = _Pending()
        rows = 0
        for batch in _batches(enumerate(source), self.options.chunk_size):
            wanted = [
                (index, row)
                for index, row in batch
                if not (index < position and self._group_end(plan, index) < position)
            ]
            prepared = self.prepare_batch(wanted) if wanted else {}
            for index, row in batch:
                rows = index + 1
                if plan is not None and index >= len(plan.leaders):
                    raise InvalidInput(
                        f"{source.name} has more rows than when the run was planned: it changed"
                    )
                first = int(plan.leaders[index]) if plan is not None else index
                end = self._group_end(plan, index)
                core = plan.core.get(first) if plan is not None else None
                key = mapping.external_key(row.values)
                first_seen = seen.setdefault(key, row.position) if key is not None else None
                if index not in prepared:
                    continue  # written before the run was interrupted
                item = prepared[index]
                if isinstance(item, Prepared) and first_seen != row.position:
                    item = _repeated(item, str(first_seen))
                if isinstance(item, Failure):
                    chunk.failures.append(item)
                    chunk.rows += 1
                elif first == index == end:
                    chunk.groups.append(Group([item], core))
                    chunk.rows += 1
                else:
                    open_groups.setdefault(first, []).append(item)
                if index == end and first in open_groups:
                    members = open_groups.pop(first)
                    chunk.groups.append(Group(members, core))
                    chunk.rows += len(members)
                if chunk.rows >= self.options.chunk_size:
                    self.write(loader, chunk, index + 1)
                    chunk = _Pending()
        if open_groups:
            raise InvalidInput(f"{source.name} has fewer rows than when the run was planned")
        self.write(loader, chunk, rows)

    @staticmethod
    def _group_end(plan: DedupPlan | None, index: int) -> int:
        """The last row of the group of row ``index`` (itself without a plan)."""
        if plan is None or index >= len(plan.leaders):
            return index
        return plan.group_end(int(plan.leaders[index]))

    def prepare_batch(
        self, batch: Sequence[tuple[int, SourceRow]]
    ) -> dict[int, Prepared | Failure]:
        """Map a batch of rows, the related records they name looked up in ``xref`` at once,
        in a short transaction of its own."""
        with open_session(self.engine) as session:
            lookup = XrefLookup(session)
            lookup.prefetch_external(
                self.mapping.inbound_references(row.values for _, row in batch)
            )
            return {index: prepare(self.mapping, lookup, index, row) for index, row in batch}

    def write(self, loader: ChunkLoader, chunk: _Pending, position: int) -> None:
        """One chunk in one transaction with its checkpoint; retried when a concurrent writer
        got in the way. A dry run counts the chunk in a transaction it rolls back."""
        report = self.report
        saved = copy.deepcopy(report)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with open_session(self.engine, origin=self.mapping.system) as session:
                    groups = [Group(list(group.rows), group.core_id) for group in chunk.groups]
                    loader.load(session, groups, chunk.failures)
                    if self.options.dry_run:
                        session.rollback()
                    elif loader.run_id is not None:
                        _save(session, loader.run_id, position, report)
                break
            except (ConcurrentWriteError, sa_exc.IntegrityError):
                _rewind(report, saved)  # the chunk rolled back: it is counted again
                if attempt == _ATTEMPTS:
                    raise
        self.progress.advance(chunk.rows)
        self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        """Refresh PostgreSQL's statistics each time the rows written double: the lookups of
        each chunk (links, unique values, the read-back) are planned for the tables as they
        are now, not as they were when empty (a sequential scan per chunk, quadratic)."""
        total = self.report.total
        written = total.created + total.merged + total.updated
        if self.options.dry_run or written < max(2 * self.analyzed_at, _ANALYZE_FROM):
            return
        analyze(self.engine, self.mapping.crm_entity, "xref")
        self.analyzed_at = written


@dataclass
class _Pending:
    """The groups and failures of the chunk being gathered."""

    groups: list[Group] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rows: int = 0


def _dedup_cells(spec: EntitySpec, row: Prepared) -> tuple[str | None, ...]:
    custom = row.values.get("custom") or {}
    cells = []
    for name in spec.columns:
        value = row.values.get(name, custom.get(name))
        cells.append(None if value is None else str(value))
    return tuple(cells)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _repeated(item: Prepared, earlier: str) -> Failure:
    return Failure(
        item.index,
        item.row,
        item.key,
        f"the key {item.key!r} was given to an earlier row too ({earlier})",
        "duplicate_key",
    )


def _rewind(report: MigrationReport, saved: MigrationReport) -> None:
    report.sources = copy.deepcopy(saved.sources)
    report.reasons = copy.deepcopy(saved.reasons)
    report.source_checksum = copy.deepcopy(saved.source_checksum)
    report.loaded_checksum = copy.deepcopy(saved.loaded_checksum)
