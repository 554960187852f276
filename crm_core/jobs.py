"""The hub's jobs as plain calls (DESIGN.md section 1): a ``tongbu`` command or an Airflow task
runs one and gets back a small summary, JSON-friendly counts and never records.

Each job opens the core database named by ``database_url`` (default: ``TONGBU_DATABASE_URL``),
does its work through ``crm_core`` and raises :class:`JobFailed` when the work failed, so that a
scheduler retries it and alerts; the summary of a failed run is on the exception.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import CursorResult, Engine, delete, func, select
from sqlalchemy.orm import Session

from crm_core.db import ORIGIN_CRM, create_engine, open_session
from crm_core.dedup import entity_spec
from crm_core.dedup._core import apply_core_dedup, plan_core_dedup
from crm_core.errors import TongbuError
from crm_core.mapping import load_mapping
from crm_core.migrate import (
    MigrationOptions,
    ReconciliationError,
    open_source,
    replay_migration_rows,
    run_migration,
)
from crm_core.models import Base, Quarantine, SyncRun, Xref, table_of, utcnow
from crm_core.rules.assignment import assign_leads
from crm_core.rules.notify import deliver
from crm_core.rules.pool import record_outside_owner_changes, recycle
from crm_core.rules.reminders import reminders_job
from crm_core.rules.settings import RulesSettings, load_rules
from crm_core.sync.engine import run_pipeline
from crm_core.sync.pipeline import Direction, load_pipeline, open_connector
from crm_core.sync.review import open_migration_rows, replay

__all__ = [
    "JobFailed",
    "assign_job",
    "dedup_job",
    "housekeeping_job",
    "migrate_job",
    "reconcile_job",
    "recycle_job",
    "reminders_job",
    "sync_job",
]

_RETENTION_DAYS = 90


class JobFailed(TongbuError):
    """A job ran and failed; ``summary`` says what it did before failing."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


def sync_job(
    pipeline: str,
    direction: str | None = None,
    *,
    full: bool = False,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Run one direction (``in`` or ``out``; default the pipeline's own) of a sync pipeline;
    return the run's summary (``{"runs": [...], "status": ...}``)."""

    engine = create_engine(database_url)
    try:
        chosen = Direction(direction) if direction else None
        summaries = run_pipeline(engine, load_pipeline(pipeline), direction=chosen, full=full)
    finally:
        engine.dispose()
    runs = [summary.as_dict() for summary in summaries]
    status = "failed" if any(r["status"] == "failed" for r in runs) else "succeeded"
    result = {"pipeline": pipeline, "status": status, "runs": runs}
    if status == "failed":
        errors = "; ".join(str(r["error"]) for r in runs if r["error"])
        raise JobFailed(f"pipeline {pipeline} failed: {errors}", result)
    return result


def reconcile_job(pipeline: str, *, database_url: str | None = None) -> dict[str, Any]:
    """Count the pipeline's records on both sides: the external records (read in full), the
    CRM records linked to them, and the drift, what is on one side only."""

    pipe = load_pipeline(pipeline)
    mapping = load_mapping(pipe.mapping_path())
    external: set[str] = set()
    connector = open_connector(pipe)
    try:
        for page in connector.read_changes(mapping.external_entity, None, pipe.batch_size):
            for record in page.records:
                key = mapping.external_key(record)
                if key is not None:
                    external.add(key)
    finally:
        connector.close()
    engine = create_engine(database_url)
    try:
        with open_session(engine) as session:
            xref = table_of(Xref)
            linked = set(
                session.scalars(
                    select(xref.c.external_id).where(
                        xref.c.system == mapping.system,
                        xref.c.external_entity == mapping.external_entity,
                    )
                )
            )
            crm_table = table_of_entity(mapping.crm_entity)
            crm_live = session.scalar(select(func.count()).where(crm_table.c.deleted_at.is_(None)))
    finally:
        engine.dispose()
    only_external = external - linked
    only_linked = linked - external
    return {
        "pipeline": pipeline,
        "external_entity": mapping.external_entity,
        "external": len(external),
        "linked": len(linked & external),
        "crm_records": int(crm_live or 0),
        "not_in_crm": len(only_external),
        "gone_from_system": len(only_linked),
        "drift": len(only_external) + len(only_linked),
        "examples": {
            "not_in_crm": sorted(only_external)[:5],
            "gone_from_system": sorted(only_linked)[:5],
        },
    }


def table_of_entity(entity: str) -> Any:
    """The CRM table named ``entity``."""
    return Base.metadata.tables[entity]


def dedup_job(
    entity: str = "account",
    *,
    apply: bool = True,
    threshold: float = 0.9,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Find the duplicate ``account`` or ``contact`` records of the core and (with ``apply``)
    merge them; return how many records, merges and held-back groups there were."""

    engine = create_engine(database_url)
    try:
        planned = plan_core_dedup(engine, entity_spec(entity), threshold=threshold)
        done, failed = apply_core_dedup(engine, planned) if apply else ([], [])
    finally:
        engine.dispose()
    return {
        "entity": planned.entity,
        "records": planned.records,
        "planned_merges": len(planned.plans),
        "merged": len(done),
        "records_merged_away": sum(len(history.merged_ids) for history in done),
        "held_back": len(planned.held_back) + len(failed),
        "branches_linked": len(planned.branches) if apply else 0,
    }


def migrate_job(
    source: str,
    mapping: str,
    *,
    dedup: bool = True,
    chunk_size: int = 5000,
    resume: str | None = None,
    sheet: str | None = None,
    table: str | None = None,
    query: str | None = None,
    report: str | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Migrate a legacy source through a mapping file; return the reconciliation counts (the
    report is saved as JSON and HTML at ``report`` when given)."""

    engine = create_engine(database_url)
    options = MigrationOptions(chunk_size=chunk_size, dedup=dedup)
    try:
        with open_source(source, sheet=sheet, table=table, query=query) as opened:
            try:
                result = run_migration(
                    engine,
                    opened,
                    load_mapping(mapping),
                    options=options,
                    resume=UUID(resume) if resume else None,
                )
            except ReconciliationError as error:
                if report:
                    error.report.save(Path(report))
                summary = _migration_summary(error.report.to_json())
                raise JobFailed(str(error), summary) from error
    finally:
        engine.dispose()
    if report:
        result.save(Path(report))
    return _migration_summary(result.to_json())


def _migration_summary(data: dict[str, Any]) -> dict[str, Any]:
    keep = ("run_id", "source", "mapping", "entity", "ok", "seconds", "rows_per_second")
    counts = ("read", "created", "updated", "unchanged", "merged", "quarantined")
    return {**{name: data[name] for name in keep}, **{name: data[name] for name in counts}}


def housekeeping_job(
    *, keep_days: int = _RETENTION_DAYS, retry: bool = True, database_url: str | None = None
) -> dict[str, Any]:
    """Nightly care: replay what waits in quarantine (a record that goes through now leaves
    it), and delete the run history older than ``keep_days`` (with its closed quarantine
    entries); open entries are kept whatever their age."""

    engine = create_engine(database_url)
    summary: dict[str, Any] = {"keep_days": keep_days}
    try:
        if retry:
            migrated = replay_migration_rows(engine, open_migration_rows(engine, None, None))
            synced = replay(engine)
            summary["replayed"] = migrated.delivered + synced.delivered
            summary["still_quarantined"] = migrated.still_quarantined + synced.still_quarantined
        cutoff = utcnow() - timedelta(days=keep_days)
        with open_session(engine) as session:
            old_runs = select(SyncRun.id).where(
                SyncRun.started_at < cutoff, SyncRun.status != "running"
            )
            closed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                delete(Quarantine).where(
                    Quarantine.run_id.in_(old_runs), Quarantine.status != "open"
                )
            )
            removed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                delete(SyncRun).where(SyncRun.started_at < cutoff, SyncRun.status != "running")
            )
            summary["runs_deleted"] = removed.rowcount
            summary["quarantine_deleted"] = closed.rowcount
    finally:
        engine.dispose()
    return summary


def recycle_job(
    *,
    pools: list[str] | None = None,
    dry_run: bool = False,
    rules: str | Path | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """The nightly recycle of the public pools (all, or ``pools``): put new records into the
    pools of their scope, take back what neglectful owners hold, warn the owners of what comes
    next; then deliver the notifications. Undeliverable notifications wait in the outbox for
    the next delivery: they never fail the job."""

    def work(session: Session, settings: RulesSettings) -> dict[str, Any]:
        return recycle(session, settings, now=utcnow(), pools=pools, dry_run=dry_run).as_dict()

    return _rules_job(
        work,
        rules=rules,
        dry_run=dry_run,
        database_url=database_url,
        first=record_outside_owner_changes,
    )


def assign_job(
    *,
    lead_ids: list[str] | None = None,
    dry_run: bool = False,
    rules: str | Path | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Assign the leads waiting for an owner (all, or ``lead_ids``) by the assignment rules,
    then tell the new owners. Run every few minutes, it picks up new leads whatever brought
    them in (sync, migration, a person)."""
    wanted = [UUID(text) for text in lead_ids] if lead_ids else None

    def work(session: Session, settings: RulesSettings) -> dict[str, Any]:
        return assign_leads(
            session, settings, now=utcnow(), lead_ids=wanted, dry_run=dry_run
        ).as_dict()

    return _rules_job(work, rules=rules, dry_run=dry_run, database_url=database_url)


def _rules_job(
    work: Callable[[Session, RulesSettings], dict[str, Any]],
    *,
    rules: str | Path | None,
    dry_run: bool,
    database_url: str | None,
    first: Callable[[Engine], Any] | None = None,
) -> dict[str, Any]:
    """Run a rule in one transaction (rolled back for a dry run; ``first`` before it unless
    it is one), then deliver what it had to say; the rule's summary, with the delivery's
    counts."""
    settings = load_rules(rules)
    engine = create_engine(database_url)
    try:
        if first is not None and not dry_run:
            first(engine)
        with open_session(engine, origin=ORIGIN_CRM) as session:
            summary = work(session, settings)
            if dry_run:
                session.rollback()
        if not dry_run:
            summary["delivery"] = deliver(engine, settings.notifications).as_dict()
    finally:
        engine.dispose()
    return summary
