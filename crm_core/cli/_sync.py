"""``tongbu sync``, ``runs``, ``quarantine`` and ``conflicts``: run pipelines and look after what
they could not settle."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.table import Table

from crm_core.cli._app import err, out, state

if TYPE_CHECKING:
    from crm_core.sync.engine import RunSummary

sync_app = typer.Typer(help="Run sync pipelines (pipelines/*.yaml).", no_args_is_help=True)
runs_app = typer.Typer(help="The history of sync runs.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Records a sync could not map, validate or write: look, fix, replay.",
    no_args_is_help=True,
)
conflicts_app = typer.Typer(
    help="Fields both sides changed: look, and settle the ones left to a person.",
    no_args_is_help=True,
)


def short_id(record_id: UUID) -> str:
    """The last 8 hex digits of an id, which commands accept in its place: the first digits of
    a UUIDv7 are its creation time, alike for everything made within a minute."""
    return record_id.hex[-8:]


_COUNTS = ("read", "created", "updated", "unchanged", "conflicts", "quarantined", "deleted")


@sync_app.command("run")
def run(
    pipeline: Annotated[str, typer.Argument(help="A pipeline name (pipelines/NAME.yaml) or file.")],
    direction: Annotated[
        str | None, typer.Option("--direction", help="in, out or both (default: the pipeline's).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Read every record, not only changes since last run.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; write nothing anywhere.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """Run a sync pipeline once and print what it did on each side."""
    from crm_core.sync.engine import run_pipeline
    from crm_core.sync.pipeline import Direction, load_pipeline

    chosen = None
    if direction is not None:
        try:
            chosen = Direction(direction)
        except ValueError:
            raise typer.BadParameter("--direction must be in, out or both") from None
    loaded = load_pipeline(pipeline)
    interactive = sys.stderr.isatty()

    def progress(step: str, counts: Any) -> None:
        if interactive:
            err.print(
                f"  {loaded.name} {step}: {counts.read} read, {counts.created} created, "
                f"{counts.updated} updated",
                end="\r",
                highlight=False,
            )

    summaries = run_pipeline(
        state.engine(), loaded, direction=chosen, full=full, dry_run=dry_run, progress=progress
    )
    if as_json:
        out.print_json(json.dumps([summary.as_dict() for summary in summaries]))
    else:
        out.print(summary_table(summaries))
    if any(summary.status == "failed" for summary in summaries):
        failed = next(summary for summary in summaries if summary.status == "failed")
        err.print(f"[bold red]Error:[/] {failed.error}", highlight=False)
        raise typer.Exit(1)


def summary_table(summaries: list[RunSummary]) -> Table:
    dry = any(summary.dry_run for summary in summaries)
    title = "Plan (dry run: nothing was written)" if dry else "Sync run"
    table = Table(title=title, title_justify="left")
    table.add_column("pipeline")
    table.add_column("side")
    table.add_column("status")
    for name in _COUNTS:
        table.add_column(name, justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("run")
    for summary in summaries:
        side = "into CRM" if summary.direction == "in" else "to system"
        table.add_row(
            summary.pipeline,
            side,
            summary.status,
            *[str(getattr(summary.counts, name)) for name in _COUNTS],
            f"{summary.seconds:.2f}",
            short_id(summary.run_id) if summary.run_id else "-",
        )
    return table


@sync_app.command("list")
def list_pipelines() -> None:
    """The pipelines of the pipelines folder."""
    from crm_core.sync.pipeline import load_pipeline, pipeline_paths

    table = Table(title="Pipelines", title_justify="left")
    for column in ("name", "system", "mapping", "direction", "batch", "schedule"):
        table.add_column(column)
    for path in pipeline_paths():
        pipe = load_pipeline(path)
        table.add_row(
            pipe.name,
            pipe.system,
            str(pipe.mapping),
            str(pipe.direction),
            str(pipe.batch_size),
            pipe.schedule or "-",
        )
    out.print(table)


@runs_app.command("list")
def runs_list(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many runs.")] = 20,
) -> None:
    """The latest sync runs, newest first."""
    from sqlalchemy import select

    from crm_core.db import open_session
    from crm_core.models import SyncRun

    query = select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)
    if pipeline:
        query = query.where(SyncRun.pipeline == pipeline)
    with open_session(state.engine()) as session:
        runs = list(session.execute(query).scalars())
    table = Table(title="Sync runs", title_justify="left")
    for column in ("run", "pipeline", "side", "status", "started", *_COUNTS, "seconds"):
        table.add_column(column)
    for item in runs:
        seconds = (item.timings or {}).get("seconds")
        table.add_row(
            short_id(item.id),
            item.pipeline,
            item.direction,
            item.status,
            item.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            *[str(getattr(item, name)) for name in _COUNTS],
            f"{seconds:.2f}" if seconds is not None else "-",
        )
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="The run id (or its start).")]) -> None:
    """One run: its outcome, counts, timings and error."""
    from crm_core.sync.review import find_run

    item = find_run(state.engine(), run_id)
    out.print(f"run {item.id}  pipeline {item.pipeline}  side {item.direction}", highlight=False)
    out.print(f"status: {item.status}", highlight=False)
    out.print(
        f"started {item.started_at:%Y-%m-%d %H:%M:%S}, finished "
        f"{item.finished_at:%Y-%m-%d %H:%M:%S}"
        if item.finished_at
        else f"started {item.started_at:%Y-%m-%d %H:%M:%S}, not finished",
        highlight=False,
    )
    for name in _COUNTS:
        out.print(f"  {name:<12} {getattr(item, name)}", highlight=False)
    if item.timings:
        out.print(f"timings: {json.dumps(item.timings)}", highlight=False)
    if item.error:
        out.print(f"error: {item.error}", highlight=False)


@quarantine_app.command("list")
def quarantine_list(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also the resolved ones.")] = False,
    limit: Annotated[int, typer.Option("--limit")] = 100,
) -> None:
    """Records waiting in quarantine, with the reason."""
    from crm_core.sync.review import list_quarantined

    entries = list_quarantined(
        state.engine(), pipeline=pipeline, status=None if all_ else "open", limit=limit
    )
    table = Table(title="Quarantine", title_justify="left")
    for column in ("id", "pipeline", "side", "record", "kind", "attempts", "status", "reason"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            short_id(entry.id),
            entry.pipeline or "-",
            entry.direction,
            entry.record_key or "-",
            entry.error_kind,
            str(entry.attempts),
            entry.status,
            entry.reason,
        )
    out.print(table)


@quarantine_app.command("show")
def quarantine_show(
    entry_id: Annotated[str, typer.Argument(help="The entry id (or its start).")],
) -> None:
    """One quarantined record: why, and its payload."""
    from crm_core.sync.review import find_quarantined

    entry = find_quarantined(state.engine(), entry_id)
    out.print(f"quarantine entry {entry.id} ({entry.status})", highlight=False)
    out.print(
        f"pipeline {entry.pipeline}, {entry.direction}, {entry.source} {entry.entity} "
        f"{entry.record_key}",
        highlight=False,
    )
    out.print(
        f"reason ({entry.error_kind}, {entry.attempts} attempts): {entry.reason}", highlight=False
    )
    out.print_json(json.dumps(entry.payload, ensure_ascii=False))


@quarantine_app.command("replay")
def quarantine_replay(
    entry_ids: Annotated[
        list[str] | None, typer.Argument(help="Entry ids (default: all open).")
    ] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
) -> None:
    """Apply quarantined records again; those that go through leave quarantine.

    A migration's rows (pipeline migrate:...) go through the run's mapping file again, as it
    is now, and are loaded if they pass.
    """
    from crm_core.migrate import replay_migration_rows
    from crm_core.sync.review import MIGRATION_PREFIX, find_quarantined, open_migration_rows, replay

    engine = state.engine()
    ids: list[UUID] | None = None
    if entry_ids:
        ids = [find_quarantined(engine, given).id for given in entry_ids]
    migrated = replay_migration_rows(engine, open_migration_rows(engine, ids, pipeline))
    synced = None
    if pipeline is None or not pipeline.startswith(MIGRATION_PREFIX):
        synced = replay(engine, ids=ids, pipeline=pipeline)
    delivered = migrated.delivered + (synced.delivered if synced else 0)
    still = migrated.still_quarantined + (synced.still_quarantined if synced else 0)
    out.print(f"{delivered} delivered, {still} still in quarantine.", highlight=False)
    if still:
        raise typer.Exit(1)


@conflicts_app.command("list")
def conflicts_list(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Also those settled by a rule or a person.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit")] = 100,
) -> None:
    """Conflicts waiting for a person (with --all, every decision made)."""
    from crm_core.sync.review import list_conflicts

    found = list_conflicts(
        state.engine(), pipeline=pipeline, status=None if all_ else "open", limit=limit
    )
    table = Table(title="Conflicts", title_justify="left")
    for column in ("id", "pipeline", "record", "field", "base", "crm", "source", "rule", "status"):
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(
            short_id(item.id),
            item.pipeline,
            f"{item.entity} {short_id(item.record_id)} / {item.external_id}",
            item.field,
            _shown(item.base_value),
            _shown(item.crm_value),
            _shown(item.source_value),
            item.rule,
            item.status + (f" ({item.resolution})" if item.resolution else ""),
        )
    out.print(table)


def _shown(value: Any) -> str:
    return "-" if value is None else json.dumps(value, ensure_ascii=False)


@conflicts_app.command("resolve")
def conflicts_resolve(
    conflict_id: Annotated[str, typer.Argument(help="The conflict id (or its start).")],
    take: Annotated[str, typer.Option("--take", help="crm or source: whose value stays.")],
) -> None:
    """Settle a conflict: --take source writes the system's value into the CRM now; --take crm
    keeps the CRM's, and the next outbound run sends it."""
    from crm_core.sync.review import find_conflict, resolve_conflict

    engine = state.engine()
    conflict = find_conflict(engine, conflict_id)
    settled = resolve_conflict(engine, conflict.id, take)
    follow = "sent with the next outbound run" if take == "crm" else "written to the CRM"
    out.print(
        f"conflict {short_id(settled.id)} on {settled.entity} {settled.field}: the {take} value "
        f"stays ({follow}).",
        highlight=False,
    )
