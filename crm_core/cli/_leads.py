"""``tongbu leads``: score leads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import out, state
from crm_core.errors import InvalidInput

if TYPE_CHECKING:
    from uuid import UUID

    from crm_core.rules.scoring import LeadScore

leads_app = typer.Typer(help="Work on leads.", no_args_is_help=True)


@leads_app.command("score")
def score_command(
    lead_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="The leads to score (full ids).")
    ] = None,
    score_all: Annotated[bool, typer.Option("--all", help="Score every open lead.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show each rule's points.")] = False,
    model_file: Annotated[
        Path | None,
        typer.Option("--model", metavar="FILE", help="A scoring model (default: the shipped one)."),
    ] = None,
) -> None:
    """Score open leads from their fields and activities, and store the scores that changed."""
    from crm_core import schema
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.models import Lead, utcnow
    from crm_core.records import get
    from crm_core.rules.scoring import load_model, rescore_leads

    if bool(lead_ids) == score_all:
        raise InvalidInput("give the ids of the leads to score, or --all (not both)")
    asked = [_parse_id(text) for text in lead_ids or []]
    model = load_model(model_file)
    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine, origin=ORIGIN_CRM) as session:
        for lead_id in asked:
            get(session, Lead, lead_id)  # NotFound for an unknown id
        scored = rescore_leads(session, model, utcnow(), asked or None)
    _render(scored, explain)
    skipped = set(asked) - {result.lead_id for result in scored}
    for lead_id in sorted(skipped):
        out.print(f"Lead {lead_id} is not open (converted or disqualified); not scored.")
    changed = sum(result.changed for result in scored)
    out.print(f"Scored {len(scored)} lead(s); {changed} score(s) changed.")


def _parse_id(text: str) -> UUID:
    from uuid import UUID

    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is not a lead id: give the full id") from None


def _render(scored: list[LeadScore], explain: bool) -> None:
    from rich.table import Table

    table = Table(title=f"Lead scores ({len(scored)})", title_justify="left")
    for column in ("Lead", "Name / company", "Score", "Band", "Changed"):
        table.add_column(column)
    for result in scored:
        previous = "new" if result.previous is None else f"was {result.previous}"
        table.add_row(
            str(result.lead_id),
            result.label,
            str(result.total),
            result.band or "",
            previous if result.changed else "no",
        )
    out.print(table)
    if not explain:
        return
    for result in scored:
        out.print(f"\n{result.lead_id} {result.label}: {result.total}", highlight=False)
        for line in result.lines:
            note = f" ({line.note})" if line.note else ""
            matched = line.matched if line.matched != "" else "-"
            out.print(f"  {line.rule}: {matched}{note} -> {line.points:+d}", highlight=False)
