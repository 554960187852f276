"""``tongbu accounts``: look at accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import out, state

if TYPE_CHECKING:
    from crm_core.overview import AccountOverview

accounts_app = typer.Typer(help="Look at accounts.", no_args_is_help=True)


@accounts_app.command()
def show(
    account_id: Annotated[
        str, typer.Argument(metavar="ID", help="The account id (or its first digits).")
    ],
    activities: Annotated[
        int, typer.Option("--activities", "-a", min=0, help="How many recent activities.")
    ] = 10,
) -> None:
    """Show an account with its contacts, open opportunities and recent activities."""
    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.dedup._merge import resolve_record
    from crm_core.overview import account_overview, resolve_account_id

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        asked = resolve_account_id(session, account_id)
        record_id = resolve_record(session, "accounts", asked)
        overview = account_overview(session, record_id, activities=activities)
    if record_id != asked:
        out.print(
            f"Account {asked} was merged into {record_id}; showing that one.", highlight=False
        )
    render(overview)


def render(overview: AccountOverview) -> None:
    """Print an account overview."""
    from rich.panel import Panel
    from rich.table import Table

    account = overview.account
    facts = [
        ("ID", str(account.id)),
        ("Credit code", account.credit_code),
        ("Industry", account.industry),
        ("Phone", account.phone),
        ("E-mail", account.email),
        ("Website", account.website),
        ("Address", " ".join(p for p in (account.province, account.city, account.address) if p)),
        ("Owner", overview.owner),
        ("Status", account.status),
        ("Version", f"{account.version} (updated {account.updated_at:%Y-%m-%d %H:%M} UTC)"),
    ]
    body = "\n".join(f"[bold]{label}:[/] {value}" for label, value in facts if value)
    out.print(Panel(body, title=f"[bold]{account.name}[/]", expand=False), highlight=False)

    contacts = Table(title=f"Contacts ({len(overview.contacts)})", title_justify="left")
    for column in ("Name", "Title", "Role", "Mobile", "Phone", "E-mail"):
        contacts.add_column(column)
    for line in overview.contacts:
        contact = line.contact
        name = contact.display_name + (" ★" if line.is_primary else "")
        contacts.add_row(
            name,
            contact.title or "",
            line.role,
            contact.mobile or "",
            contact.phone or "",
            contact.email or "",
        )
    out.print(contacts)

    deals = Table(
        title=f"Open opportunities ({len(overview.open_opportunities)})", title_justify="left"
    )
    for column in ("Name", "Stage", "Probability", "Amount", "Expected close"):
        deals.add_column(column)
    for item in overview.open_opportunities:
        deal = item.opportunity
        amount = f"{deal.amount:,.2f} {deal.currency or ''}" if deal.amount is not None else ""
        deals.add_row(
            deal.name,
            item.stage or "",
            f"{item.probability}%" if item.probability is not None else "",
            amount,
            str(deal.expected_close_date or ""),
        )
    out.print(deals)

    history = Table(
        title=f"Recent activities ({len(overview.recent_activities)})", title_justify="left"
    )
    for column in ("When", "Type", "Subject"):
        history.add_column(column)
    for activity in overview.recent_activities:
        history.add_row(f"{activity.occurred_at:%Y-%m-%d}", activity.type.value, activity.subject)
    out.print(history)
