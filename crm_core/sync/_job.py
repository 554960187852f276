"""What one run of a pipeline works with, shared by the inbound and outbound halves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_core.db import open_session
from crm_core.dedup._door import KEYED, Matcher, refresh_match_keys
from crm_core.errors import ConfigError
from crm_core.mapping import CompiledMapping
from crm_core.models import Entity, Xref, entity_classes, table_of
from crm_core.sync._books import RunContext
from crm_core.sync.pipeline import Pipeline
from crm_core.sync.ports import Connector, EntityDescription

__all__ = ["Job", "model_for"]


def model_for(table: str) -> type[Entity]:
    """The CRM entity model of a table name."""
    for model in entity_classes():
        if model.__tablename__ == table:
            return model
    raise ConfigError(f"{table} is not a CRM entity table")


@dataclass
class Job:
    """A pipeline being run: the database, the compiled mapping, the connector, the run row."""

    engine: Engine
    pipeline: Pipeline
    mapping: CompiledMapping
    connector: Connector
    dry_run: bool = False
    run_id: UUID | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per phase of the run (``read``, ``apply``, ``plan``, ``send``, ``book``)."""
    _matcher: Matcher | None = field(default=None, init=False, repr=False)
    _door_open: bool | None = field(default=None, init=False, repr=False)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the time the block takes to ``phase``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.timings[phase] = self.timings.get(phase, 0.0) + spent

    @property
    def system(self) -> str:
        """The external system, also the origin of the CRM writes made for it."""
        return self.mapping.system

    @property
    def external_entity(self) -> str:
        """The external entity the pipeline syncs."""
        return self.mapping.external_entity

    @property
    def model(self) -> type[Entity]:
        """The CRM entity model the pipeline syncs."""
        return model_for(self.mapping.crm_entity)

    @property
    def line_model(self) -> type[Entity] | None:
        """The CRM model of the lines, for mappings with lines."""
        lines = self.mapping.lines
        return model_for(lines.crm_entity) if lines is not None else None

    @property
    def line_number(self) -> str:
        """The CRM field numbering the lines (the engine matches stored lines by it)."""
        lines = self.mapping.lines
        if lines is None or lines.number is None:
            raise ConfigError(
                f"mapping {self.mapping.name}: lines need a `number` field (e.g. line_no) so "
                "that stored lines can be matched to incoming ones"
            )
        return lines.number

    @cached_property
    def _description(self) -> EntityDescription:
        described = self.connector.entities().get(self.external_entity)
        if described is None:
            raise ConfigError(
                f"pipeline {self.pipeline.name}: the {self.system} connector has no entity "
                f"{self.external_entity}"
            )
        return described

    def description(self) -> EntityDescription:
        """The connector's description of the external entity."""
        return self._description

    def context(self, direction: str) -> RunContext:
        """The bookkeeping context of this run in one direction."""
        return RunContext(
            pipeline=self.pipeline.name,
            source=self.system,
            entity=self.external_entity,
            direction=direction,
            run_id=self.run_id,
        )

    @property
    def door_matcher_wanted(self) -> bool:
        """Whether records arriving unlinked are matched at the door."""
        return self.pipeline.match_at_door and self.mapping.crm_entity in KEYED

    def prepare_door(self) -> None:
        """Before the first page: bring the match keys up to date (not in a dry run, which
        writes nothing), and find out whether any
        live record is not linked to this system yet (if every one is, an arriving record has
        nothing it could be linked to, and matching is skipped for the run)."""
        if self._door_open is not None or not self.door_matcher_wanted:
            return
        if not self.dry_run:
            refresh_match_keys(self.engine)
        table = table_of(self.model)
        xref = table_of(Xref)
        linked_here = (
            select(xref.c.id)
            .where(
                xref.c.entity == table.name,  # the index is (entity, record_id, system)
                xref.c.record_id == table.c.id,
                xref.c.system == self.system,
                xref.c.external_entity == self.external_entity,
            )
            .exists()
        )
        query = select(table.c.id).where(table.c.deleted_at.is_(None), ~linked_here).limit(1)
        with open_session(self.engine) as session:
            self._door_open = session.scalar(query) is not None

    def door_matcher(self, session: Session) -> Matcher | None:
        """The matcher of records arriving unlinked, when the pipeline matches at the door and
        the core holds records it could match them with."""
        if not self.door_matcher_wanted or not self._door_open:
            return None
        if self._matcher is None:
            self._matcher = Matcher.for_entity(
                session, self.mapping.crm_entity, self.pipeline.match_threshold
            )
        return self._matcher

    def version_of(self, record: dict[str, Any]) -> str | None:
        """The external version of a record (its version field), as text."""
        field = self.description().version_field
        if field is None or record.get(field) is None:
            return None
        return str(record[field])
