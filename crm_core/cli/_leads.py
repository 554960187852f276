"""``tongbu leads``: score and convert leads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import out, state
from crm_core.errors import InvalidInput

if TYPE_CHECKING:
    from decimal import Decimal
    from uuid import UUID

    from crm_core.rules.conversion import Conversion
    from crm_core.rules.scoring import LeadScore

leads_app = typer.Typer(help="Work on leads: score, assign, convert.", no_args_is_help=True)


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


@leads_app.command("convert")
def convert_command(
    lead_id: Annotated[str, typer.Argument(metavar="ID", help="The lead to convert (full id).")],
    *,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", metavar="ID", help="Convert into this existing account (full id)."
        ),
    ] = None,
    new_account: Annotated[
        bool,
        typer.Option("--new-account", help="Create a new account, even if one resembles it."),
    ] = False,
    no_opportunity: Annotated[
        bool, typer.Option("--no-opportunity", help="Do not create an opportunity.")
    ] = False,
    opportunity_name: Annotated[
        str | None,
        typer.Option(
            "--opportunity-name",
            metavar="TEXT",
            help="The opportunity's name (default: company – lead name).",
        ),
    ] = None,
    amount: Annotated[
        str | None,
        typer.Option("--amount", metavar="DECIMAL", help="The opportunity's amount."),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", metavar="CODE", help="The amount's currency (default: CNY)."),
    ] = None,
) -> None:
    """Convert an open lead into an account (an existing one the dedup matcher is sure of,
    or a new one), a contact and an opportunity, keeping its history and links."""
    from crm_core import schema
    from crm_core.models import utcnow
    from crm_core.rules.conversion import convert

    if account is not None and new_account:
        raise InvalidInput("give --account ID or --new-account, not both")
    if no_opportunity and (opportunity_name or amount is not None or currency):
        raise InvalidInput(
            "--opportunity-name, --amount and --currency describe the opportunity: "
            "leave them out with --no-opportunity"
        )
    asked = _parse_id(lead_id)
    account_id = _parse_id(account, "an account") if account is not None else None
    engine = state.engine()
    schema.require_current(engine)
    done = convert(
        engine,
        asked,
        now=utcnow(),
        account_id=account_id,
        new_account=new_account,
        opportunity=not no_opportunity,
        opportunity_name=opportunity_name,
        amount=_parse_amount(amount) if amount is not None else None,
        currency=currency,
    )
    _render_conversion(done, new_account=new_account)


@leads_app.command("assign")
def assign_command(
    lead_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ID]...", help="Only these leads (default: every waiting one)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would get what; write nothing.")
    ] = False,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            metavar="FILE",
            help="The rules file (default: $TONGBU_RULES or rules/crm.yaml).",
        ),
    ] = None,
) -> None:
    """Give the leads waiting for an owner to salespeople by the assignment rules (round
    robin, capacity, region and industry filters), and tell the new owners."""
    from crm_core import schema
    from crm_core.jobs import assign_job

    for text in lead_ids or []:
        _parse_id(text)
    schema.require_current(state.engine())
    summary = assign_job(
        lead_ids=lead_ids or None,
        dry_run=dry_run,
        rules=rules,
        database_url=state.database_url,
    )
    total = sum(summary["assigned"].values())
    verb = "Would assign" if dry_run else "Assigned"
    out.print(f"{verb} {total} lead(s).", highlight=False)
    for rule, count in summary["assigned"].items():
        out.print(f"  rule {rule}: {count}", highlight=False)
    for name, count in sorted(summary["per_user"].items()):
        out.print(f"  {name}: {count}", highlight=False)
    if summary["to_fallback_pool"]:
        out.print(f"{summary['to_fallback_pool']} lead(s) to the fallback pool.")
    if summary["waiting"]:
        out.print(f"{summary['waiting']} lead(s) still wait: no rule or no member with room.")
    delivery = summary.get("delivery")
    if delivery:
        out.print(
            f"Notifications: {delivery['sent']} sent, {delivery['pending']} pending, "
            f"{delivery['failed']} failed."
        )


def _parse_amount(text: str) -> Decimal:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount: give a number such as 120000.00") from None
    if not value.is_finite():
        raise InvalidInput(f"{text!r} is not an amount: give a number such as 120000.00")
    return value


def _render_conversion(done: Conversion, *, new_account: bool) -> None:
    account = f"account {done.account_id} {done.account_name}"
    if done.account_created:
        why = "as asked" if new_account else "no existing account matches the company"
        account = f"Created {account} ({why})."
    elif done.matched_by is not None:
        chance = (
            f", match probability {done.probability:.2f}" if done.probability is not None else ""
        )
        account = f"Linked to existing {account} (matched by {done.matched_by}{chance})."
    else:
        account = f"Linked to existing {account} (as asked)."
    contact = f"contact {done.contact_id} {done.contact_name}".rstrip()
    contact = (
        f"Created {contact}."
        if done.contact_created
        else f"Reused the account's {contact} (same e-mail or mobile)."
    )
    deal = (
        f"Created opportunity {done.opportunity_id}."
        if done.opportunity_id is not None
        else "No opportunity created."
    )
    moved = done.moved
    out.print(f"Converted lead {done.lead_id}.", highlight=False)
    for line in (account, contact, deal):
        out.print(f"  {line}", highlight=False)
    out.print(
        f"  Kept on the lead: {moved.activities} activity(ies), now in the account's history "
        f"too; {moved.tasks} task(s); {moved.documents} document(s). The contact is in "
        f"{moved.campaigns} of the lead's campaign(s).",
        highlight=False,
    )
    for note in done.notes:
        out.print(f"  Note: {note}.", highlight=False)


def _parse_id(text: str, what: str = "a lead") -> UUID:
    from uuid import UUID

    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is not {what} id: give the full id") from None


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
