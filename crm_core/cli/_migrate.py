"""``tongbu migrate``: load legacy customer data (CSV, Excel, a legacy SQL database) into the
CRM core, with a reconciliation report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.table import Table

from crm_core.cli._app import out, state
from crm_core.cli._progress import PhaseBar

if TYPE_CHECKING:
    from crm_core.migrate import MigrationReport

migrate_app = typer.Typer(
    help="Migrate legacy customer data into the CRM core.", no_args_is_help=True
)


@migrate_app.command("run")
def migrate_run(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            "-s",
            help="A .csv/.tsv/.txt file, an .xlsx workbook, or a database URL "
            "(mysql+pymysql://user@host/db, postgresql+psycopg://...) with --table or --query.",
        ),
    ],
    mapping: Annotated[
        Path,
        typer.Option(
            "--mapping", "-m", help="The mapping file, e.g. mappings/legacy/accounts_csv.yaml."
        ),
    ],
    *,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read, cleanse, validate and dedup everything; write nothing."
        ),
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", metavar="RUN_ID", help="Continue an interrupted run where it stopped."
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Rows per transaction (and per checkpoint).")
    ] = 5000,
    dedup: Annotated[
        bool,
        typer.Option(
            "--dedup/--no-dedup",
            help="Merge the rows that are one customer, and match them to the core's records.",
        ),
    ] = True,
    threshold: Annotated[
        float, typer.Option(help="The match probability from which two rows are one customer.")
    ] = 0.9,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Where to save the JSON report (the HTML page goes next to it, .html); "
            "default migration-<run id>.json here.",
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="A CSV file's encoding (default: detected).")
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="The workbook's sheet (default: every sheet).")
    ] = None,
    table: Annotated[str | None, typer.Option(help="The table of a database source.")] = None,
    query: Annotated[
        str | None, typer.Option(help="A SELECT giving the rows of a database source.")
    ] = None,
) -> None:
    """Load a legacy source into the CRM core through a mapping file, and reconcile.

    Every row read is created, updated (its key was loaded before), merged into another row of
    the same customer, or quarantined with its reason: the report shows the four add up. A run
    that is killed is continued with --resume RUN_ID; no row is loaded twice.
    """
    from crm_core.errors import InvalidInput
    from crm_core.mapping import load_mapping
    from crm_core.migrate import MigrationOptions, ReconciliationError, open_source, run_migration

    if not 0 < threshold < 1:
        raise InvalidInput("--threshold is a probability between 0 and 1 (exclusive)")
    run_id = _run_id(resume) if resume is not None else None
    compiled = load_mapping(mapping)
    options = MigrationOptions(
        chunk_size=chunk_size, dedup=dedup, threshold=threshold, dry_run=dry_run
    )
    engine = state.engine()
    with (
        open_source(source, encoding=encoding, sheet=sheet, table=table, query=query) as opened,
        PhaseBar("migrate") as progress,
    ):
        try:
            result = run_migration(
                engine,
                opened,
                compiled,
                options=options,
                resume=run_id,
                source_label=_label(source, table, query),
                progress=progress,
            )
        except ReconciliationError as error:
            show_report(error.report, _save(error.report, report))
            raise
    show_report(result, _save(result, report))


def _run_id(text: str) -> UUID:
    from crm_core.errors import InvalidInput

    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput(
            f"--resume takes the run id `tongbu migrate run` printed (or `tongbu runs list` "
            f"shows), not {text!r}"
        ) from None


def _label(source: str, table: str | None, query: str | None) -> str:
    """The source as the report names it: a database URL without its password."""
    if "://" not in source:
        return source
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = make_url(source).render_as_string(hide_password=True)
    except ArgumentError:
        shown = "(database)"
    return f"{shown} {table or '(query)'}" if table or query else shown


def _save(result: MigrationReport, path: Path | None) -> tuple[Path, Path]:
    name = f"migration-{result.run_id or 'dry-run'}.json"
    return result.save(path if path is not None else Path(name))


def show_report(result: MigrationReport, saved: tuple[Path, Path]) -> None:
    """Print the reconciliation: counts per source, checksum, top quarantine reasons."""
    data = result.to_json()
    verdict = "[green]reconciled[/]" if data["ok"] else "[bold red]does NOT reconcile[/]"
    what = "dry run of the migration" if result.dry_run else f"migration {result.run_id}"
    out.print(f"{what} of {result.source} into {result.entity}: {verdict}")
    table = Table(title=None)
    for column in ("source", "read", "created", "updated", "merged", "quarantined"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for row in data["sources"]:
        table.add_row(
            row["source"],
            *(f"{row[n]:,}" for n in ("read", "created", "updated", "merged", "quarantined")),
        )
    if len(data["sources"]) > 1:
        table.add_row(
            "total",
            *(f"{data[n]:,}" for n in ("read", "created", "updated", "merged", "quarantined")),
        )
    out.print(table)
    checksum = data["checksum"]
    if checksum["loaded"] is not None:
        mark = "match" if checksum["match"] else "[bold red]DIFFER[/]"
        out.print(
            f"checksum of {', '.join(checksum['fields'])}: source {checksum['source']['sum']}, "
            f"loaded {checksum['loaded']['sum']} ({mark})"
        )
    if data["quarantine_reasons"]:
        reasons = Table(title="Quarantined: the most common reasons")
        reasons.add_column("rows", justify="right")
        reasons.add_column("reason")
        reasons.add_column("for example")
        for entry in data["quarantine_reasons"]:
            example = entry["examples"][0]
            reasons.add_row(
                f"{entry['count']:,}",
                entry["reason"],
                f"{example['position']}: {example['reason']}",
            )
        out.print(reasons)
    rate = data["rows_per_second"]
    out.print(
        f"{data['seconds']:,} s, {rate or 0:,} rows/s. Report: {saved[0]} and {saved[1]}",
        highlight=False,
    )
    for problem in data["problems"]:
        out.print(f"[bold red]{problem}[/]")
