"""Running a pipeline: one ``sync_run`` row per direction, inbound before outbound.

Inbound runs first in a two-way run, so that a field both sides changed is seen as a conflict
and settled by the mapping's rule before the CRM's side is sent out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, select, update

from crm_core.db import open_session
from crm_core.mapping import load_mapping
from crm_core.models import SyncRun, table_of
from crm_core.models._types import new_id, utcnow
from crm_core.schema import require_current
from crm_core.sync import inbound, outbound
from crm_core.sync._books import Counts
from crm_core.sync._job import Job
from crm_core.sync._lease import lease
from crm_core.sync.pipeline import Direction, Pipeline, open_connector
from crm_core.sync.ports import ConnectorError

__all__ = ["RunSummary", "run_pipeline"]

log = logging.getLogger("tongbu.sync")

Progress = Callable[[str, Counts], None]


@dataclass
class RunSummary:
    """What one direction of a run did."""

    pipeline: str
    direction: str
    run_id: UUID | None
    status: str
    counts: Counts
    seconds: float
    dry_run: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A small JSON-friendly summary (what an Airflow task returns)."""
        return {
            "pipeline": self.pipeline,
            "direction": self.direction,
            "run_id": str(self.run_id) if self.run_id else None,
            "status": self.status,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            **self.counts.as_dict(),
            "timings": self.extra.get("timings", {}),
        }


def run_pipeline(
    engine: Engine,
    pipeline: Pipeline,
    *,
    direction: Direction | None = None,
    full: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[RunSummary]:
    """Run ``pipeline`` (in its own direction unless ``direction`` is given). A dry run reads
    and maps everything and counts what would happen, and writes nothing on either side."""
    require_current(engine)
    mapping = load_mapping(pipeline.mapping_path())
    chosen = direction or pipeline.direction
    steps = [Direction.IN, Direction.OUT] if chosen is Direction.BOTH else [chosen]
    connector = open_connector(pipeline)
    summaries: list[RunSummary] = []
    try:
        with lease(engine, pipeline.name):
            for step in steps:
                job = Job(engine, pipeline, mapping, connector, dry_run=dry_run)
                summaries.append(_run_step(job, step, full=full, progress=progress))
                if summaries[-1].status == "failed":
                    break
    finally:
        connector.close()
    return summaries


def _run_step(job: Job, step: Direction, *, full: bool, progress: Progress | None) -> RunSummary:
    name = job.pipeline.name
    if not job.dry_run:
        job.run_id = _start(job.engine, name, str(step))
    started = time.perf_counter()
    counts = Counts()
    status, error = "succeeded", None

    def on_page(page: Counts) -> None:
        counts.add(page)
        if progress is not None:
            progress(str(step), counts)

    try:
        if step is Direction.IN:
            inbound.pull(job, full=full, on_page=on_page)
        else:
            outbound.push(job, on_batch=on_page)
    except ConnectorError as failure:
        status, error = "failed", f"{type(failure).__name__}: {failure}"
        log.error("pipeline %s (%s) failed: %s", name, step, error)  # noqa: TRY400
    except Exception as failure:
        status, error = "failed", f"{type(failure).__name__}: {failure}"
        _finish(job, status, error, time.perf_counter() - started)
        raise
    seconds = time.perf_counter() - started
    if status == "succeeded" and counts.quarantined:
        status = "partial"
    if status != "failed" and job.dry_run:
        status = "planned"  # nothing was written: the counts are what a run would do
    _finish(job, status, error, seconds)
    summary = RunSummary(name, str(step), job.run_id, status, counts, seconds, job.dry_run, error)
    summary.extra["timings"] = {phase: round(spent, 3) for phase, spent in job.timings.items()}
    return summary


def _start(engine: Engine, pipeline: str, direction: str) -> UUID:
    """Write the run row; a run of the same pipeline left ``running`` by a crash is marked
    ``interrupted``."""
    run_id = new_id()
    table = table_of(SyncRun)
    with open_session(engine) as session:
        session.execute(
            update(table)
            .where(
                table.c.pipeline == pipeline,
                table.c.direction == direction,
                table.c.status == "running",
            )
            .values(status="interrupted", finished_at=utcnow())
        )
        session.execute(
            table.insert().values(
                id=run_id,
                pipeline=pipeline,
                direction=direction,
                status="running",
                started_at=utcnow(),
            )
        )
    return run_id


def _finish(job: Job, status: str, error: str | None, seconds: float) -> None:
    if job.run_id is None:
        return
    table = table_of(SyncRun)
    with open_session(job.engine) as session:
        session.execute(
            update(table)
            .where(table.c.id == job.run_id)
            .values(
                status=status,
                error=error,
                finished_at=utcnow(),
                timings={
                    "seconds": round(seconds, 3),
                    **{phase: round(spent, 3) for phase, spent in job.timings.items()},
                },
            )
        )


def last_runs(engine: Engine, limit: int = 20) -> list[Any]:
    """The most recent runs, newest first."""
    with open_session(engine) as session:
        return list(
            session.execute(
                select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)
            ).scalars()
        )
