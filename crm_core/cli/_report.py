"""``tongbu report``: reports on the CRM core (the sales funnel)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import out, state
from crm_core.errors import InvalidInput

if TYPE_CHECKING:
    from datetime import date

    from crm_core.rules.funnel import FunnelReport, GroupBy

report_app = typer.Typer(help="Reports on the CRM core.", no_args_is_help=True)

_GROUPINGS = ("none", "owner", "team")


@report_app.command("funnel")
def funnel_command(
    *,
    pipeline: Annotated[
        str | None,
        typer.Option("--pipeline", metavar="NAME", help="The pipeline (default: the default one)."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="Opportunities created on or after this day (YYYY-MM-DD).",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", metavar="DATE", help="Opportunities created on or before this day (YYYY-MM-DD)."
        ),
    ] = None,
    group_by: Annotated[
        str, typer.Option("--by", metavar="none|owner|team", help="One funnel per owner or team.")
    ] = "none",
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            metavar="CODE",
            help="Only opportunities in this currency (needed for amounts when they are mixed).",
        ),
    ] = None,
    outputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--out",
            metavar="PATH",
            help="Also save the report: FILE.csv (a line per group and stage), FILE.html (a "
            "chart: an SVG funnel per group), or a folder (ending in / or existing): both, as "
            "funnel.csv and funnel.html in it. May be given more than once.",
        ),
    ] = None,
) -> None:
    """Print a pipeline's sales funnel: per stage, reached, now in it, amounts, conversion.

    It counts the opportunities created from --from to --to (days in Asia/Shanghai).
    An opportunity reaches every stage up to the furthest open or won stage it entered.
    Days in stage come from the stage history; a visit still going on counts up to now.
    """
    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.rules.funnel import funnel_report

    grouping = _grouping(group_by)
    first, last = _date("--from", start), _date("--to", end)
    targets = _targets(outputs or [])
    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        report = funnel_report(
            session, pipeline=pipeline, start=first, end=last, group_by=grouping, currency=currency
        )
    _render(report)
    _save(report, targets)


def _grouping(text: str) -> GroupBy:
    value = text.strip().lower()
    if value == "none":
        return "none"
    if value == "owner":
        return "owner"
    if value == "team":
        return "team"
    raise InvalidInput(f"--by {text!r} is not a grouping: use one of {', '.join(_GROUPINGS)}")


def _date(option: str, text: str | None) -> date | None:
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{option} {text!r} is not a date: write it as YYYY-MM-DD") from None


def _targets(outputs: list[Path]) -> list[tuple[str, Path]]:
    """Each ``--out`` as (kind, file): a .csv, a .html, or a folder (both files in it)."""
    targets: list[tuple[str, Path]] = []
    for given in outputs:
        suffix = given.suffix.lower()
        if suffix == ".csv":
            targets.append(("csv", given))
        elif suffix in {".html", ".htm"}:
            targets.append(("html", given))
        elif given.is_dir() or str(given).endswith(("/", "\\")) or not suffix:
            targets += [("csv", given / "funnel.csv"), ("html", given / "funnel.html")]
        else:
            raise InvalidInput(f"--out {str(given)!r}: give a .csv file, a .html file or a folder")
    return targets


def _save(report: FunnelReport, targets: list[tuple[str, Path]]) -> None:
    from crm_core.rules.funnel import write_csv, write_html_chart

    for kind, path in targets:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            written = write_csv(report, path) if kind == "csv" else write_html_chart(report, path)
        except OSError as error:
            raise InvalidInput(f"cannot write {path}: {error.strerror}") from error
        out.print(f"Wrote {written}", highlight=False)


def _render(report: FunnelReport) -> None:
    from rich.table import Table

    from crm_core.rules.funnel import describe, table_rows

    table = Table(title=describe(report), title_justify="left")
    heading = {"none": "Group", "owner": "Owner", "team": "Team"}[report.group_by]
    for column in (heading, "Stage", "Reached", "Amount reached", "Now", "Amount now"):
        table.add_column(column, justify="left" if column in {heading, "Stage"} else "right")
    for column in ("Conversion", "Visits", "Avg days", "Median days"):
        table.add_column(column, justify="right")
    rows = table_rows(report)
    per_group = len(rows) // len(report.groups) if report.groups else 0
    for index, row in enumerate(rows):
        table.add_row(*row, end_section=per_group > 0 and (index + 1) % per_group == 0)
    out.print(table)
    for group in report.groups:
        rate = "" if group.win_rate is None else f" (win rate {group.win_rate:.1%})"
        out.print(f"{group.name}: {group.opportunities} opportunities, {group.won} won{rate}.")
    if report.amounts_left_out:
        out.print(
            f"Amounts are left out: the opportunities are in {', '.join(report.currencies)}; "
            "choose one with --currency.",
            highlight=False,
        )
