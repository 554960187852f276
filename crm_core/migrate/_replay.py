"""Replaying quarantined migration rows: each row's stored values go through its run's mapping
file again (corrected since, perhaps); a row that now maps is matched against the core (a sure
match is merged into the existing customer) and loaded, the others stay in quarantine with
their new reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from sqlalchemy import Engine, select

from crm_core.db import open_session
from crm_core.dedup._door import Matcher, refresh_match_keys
from crm_core.errors import InvalidInput
from crm_core.mapping import load_mapping
from crm_core.migrate._load import ChunkLoader, Group, links_of
from crm_core.migrate._prepare import Failure, prepare
from crm_core.migrate._report import MigrationReport
from crm_core.migrate._sources import SourceRow
from crm_core.models import MigrationCheckpoint, Quarantine, entity_classes, utcnow
from crm_core.sync._links import XrefLookup
from crm_core.sync.review import MIGRATION_PREFIX

__all__ = ["ReplayOutcome", "replay_migration_rows"]
_DOOR_ENTITIES = frozenset({"accounts", "contacts"})


@dataclass
class ReplayOutcome:
    """How many replayed rows were loaded, and how many are still in quarantine."""

    delivered: int = 0
    still_quarantined: int = 0


def replay_migration_rows(engine: Engine, entries: Sequence[Quarantine]) -> ReplayOutcome:
    """Replay open quarantine entries of migrations (see the module's doc)."""
    outcome = ReplayOutcome()
    by_run: dict[UUID | None, list[Quarantine]] = defaultdict(list)
    for entry in entries:
        by_run[entry.run_id].append(entry)
    door_refreshed = False
    for run_id, group in by_run.items():
        mapping_path = _mapping_of(engine, run_id, group[0])
        mapping = load_mapping(mapping_path)
        model = next(cls for cls in entity_classes() if cls.__tablename__ == mapping.crm_entity)
        door = mapping.crm_entity in _DOOR_ENTITIES
        if door and not door_refreshed:
            refresh_match_keys(engine)
            door_refreshed = True
        for entry in group:
            report = MigrationReport(
                run_id=str(run_id),
                source=entry.source,
                mapping=str(mapping_path),
                entity=mapping.crm_entity,
                dry_run=False,
                dedup=door is not None,
            )
            loader = ChunkLoader(
                mapping=mapping,
                model=model,
                run_id=run_id,
                pipeline=entry.pipeline or f"{MIGRATION_PREFIX}{mapping.name}",
                source_name=entry.source,
                report=report,
                checksum_fields=(),
                now=utcnow,
                replacing=entry.id,
            )
            payload = entry.payload
            row = SourceRow(str(payload.get("position", "")), dict(payload.get("values", {})))
            with open_session(engine, origin=mapping.system) as session:
                item = prepare(mapping, XrefLookup(session), 0, row)
                # A row whose key another row holds stays: loading it would overwrite that
                # row's record. Fix the key in the source and migrate it again.
                if (
                    entry.error_kind == "duplicate_key"
                    and not isinstance(item, Failure)
                    and links_of(session, mapping, [item.key])
                ):
                    item = Failure(0, row, item.key, entry.reason, "duplicate_key")
                if isinstance(item, Failure):
                    loader.load(session, [], [item])
                else:
                    core_id = None
                    if door:
                        matcher = Matcher.for_entity(session, mapping.crm_entity)
                        [found] = matcher.match(session, [item.values])
                        core_id = found.record_id if found.decision == "link" else None
                    loader.load(session, [Group([item], core_id)], [])
                if report.total.quarantined:
                    outcome.still_quarantined += 1
                else:
                    stored = session.get(Quarantine, entry.id)
                    if stored is not None:
                        stored.status = "resolved"
                        stored.resolved_at = stored.last_attempt_at = utcnow()
                        stored.attempts += 1
                    outcome.delivered += 1
    return outcome


def _mapping_of(engine: Engine, run_id: UUID | None, entry: Quarantine) -> Path:
    with open_session(engine) as session:
        path = (
            session.scalar(
                select(MigrationCheckpoint.mapping).where(MigrationCheckpoint.run_id == run_id)
            )
            if run_id is not None
            else None
        )
    if path is None:
        raise InvalidInput(
            f"quarantine entry {entry.id} comes from a migration run that is gone; run the "
            "migration of its source again instead"
        )
    return Path(path)
