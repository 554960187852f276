"""``tongbu pool``: the public pools (公海) of accounts and leads: claim, return, lock, recycle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import out, state
from crm_core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from uuid import UUID

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from crm_core.models import Account, Lead
    from crm_core.rules.settings import RulesSettings

pool_app = typer.Typer(help="The public pools of accounts and leads.", no_args_is_help=True)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules", metavar="FILE", help="The rules file (default: $TONGBU_RULES or rules/crm.yaml)."
    ),
]
UserOption = Annotated[
    str, typer.Option("--user", metavar="EMAIL", help="The salesperson, by e-mail address.")
]


def parse_id(text: str, noun: str = "record") -> UUID:
    """A full record id from the command line, or a clear error."""
    from uuid import UUID

    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is not a {noun} id: give the full id") from None


def user_by_email(session: Session, email: str) -> UUID:
    """The id of the user with this e-mail address."""
    from sqlalchemy import func, select

    from crm_core.models import User

    found = session.scalar(
        select(User.id).where(
            func.lower(User.email) == email.strip().lower(), User.deleted_at.is_(None)
        )
    )
    if found is None:
        raise NotFound(f"no user with the e-mail address {email}")
    return found


def _user_id(engine: Engine, email: str) -> UUID:
    from crm_core.db import open_session

    with open_session(engine) as session:
        return user_by_email(session, email)


def _setup(rules: Path | None) -> tuple[Engine, RulesSettings]:
    from crm_core import schema
    from crm_core.rules.settings import load_rules

    settings = load_rules(rules)
    engine = state.engine()
    schema.require_current(engine)
    return engine, settings


def _describe(record: Account | Lead) -> str:
    from crm_core.models import Account

    if isinstance(record, Account):
        return f"account {record.name}"
    return f"lead {record.company or record.name or record.id}"


@pool_app.command("list")
def list_command(rules: RulesOption = None) -> None:
    """Each pool: records waiting, held, locked, and due for recycling soon."""
    from rich.table import Table

    from crm_core.db import open_session
    from crm_core.models import utcnow
    from crm_core.rules.pool import pool_status

    engine, settings = _setup(rules)
    with open_session(engine) as session:
        statuses = pool_status(session, settings, utcnow())
    if not statuses:
        out.print("No pools are defined in the rules file.")
        return
    table = Table(title="Pools", title_justify="left")
    for column in ("Pool", "Of", "Waiting", "Held", "Locked", "Due soon", "Recycle after"):
        table.add_column(column)
    for status in statuses:
        recycle = status.pool.recycle
        after = ", ".join(
            f"{label} {days} d"
            for label, days in (
                ("no follow-up", recycle.no_followup_days),
                ("no win", recycle.no_won_deal_days),
            )
            if days is not None
        )
        table.add_row(
            status.pool.label,
            status.pool.entity,
            str(status.waiting),
            str(status.held),
            str(status.locked),
            str(status.due_soon),
            after or "never",
        )
    out.print(table)


@pool_app.command("show")
def show_command(
    pool: Annotated[str, typer.Argument(help="The pool's name.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Records to list.")] = 20,
    rules: RulesOption = None,
) -> None:
    """The records waiting in a pool, oldest first."""
    from rich.table import Table
    from sqlalchemy import func, select

    from crm_core.db import open_session
    from crm_core.models import Account, Lead

    engine, settings = _setup(rules)
    chosen = settings.pool(pool)
    model = Account if chosen.entity == "accounts" else Lead
    label = Account.name if model is Account else func.coalesce(Lead.company, Lead.name)
    with open_session(engine) as session:
        waiting = [model.pool == chosen.name, model.owner_id.is_(None), model.deleted_at.is_(None)]
        total = session.scalar(select(func.count()).select_from(model).where(*waiting)) or 0
        rows = session.execute(
            select(model.id, label, model.updated_at)
            .where(*waiting)
            .order_by(model.updated_at, model.id)
            .limit(limit)
        ).all()
    table = Table(title=f"{chosen.label}: {total} waiting", title_justify="left")
    for column in ("Id", "Name", "Since"):
        table.add_column(column)
    for record_id, name, since in rows:
        table.add_row(str(record_id), name or "", f"{since:%Y-%m-%d %H:%M}")
    out.print(table)


@pool_app.command("claim")
def claim_command(
    pool: Annotated[str, typer.Argument(help="The pool's name.")],
    record: Annotated[str, typer.Argument(metavar="ID", help="The account or lead (full id).")],
    user: UserOption,
    rules: RulesOption = None,
) -> None:
    """Claim a record waiting in a pool, within the pool's caps and cool-down."""
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.models import utcnow
    from crm_core.rules.pool import claim

    engine, settings = _setup(rules)
    record_id = parse_id(record)
    user_id = _user_id(engine, user)
    with open_session(engine, origin=ORIGIN_CRM, actor_id=user_id) as session:
        claimed = claim(session, settings, pool, record_id, user_id, now=utcnow())
        out.print(f"{user} now holds {_describe(claimed)} ({claimed.id}).", highlight=False)


@pool_app.command("return")
def return_command(
    record: Annotated[str, typer.Argument(metavar="ID", help="The account or lead (full id).")],
    user: UserOption,
    reason: Annotated[str, typer.Option("--reason", help="Why it goes back (required).")],
    pool: Annotated[
        str | None, typer.Option("--pool", help="The pool to return it to (default: its own).")
    ] = None,
    rules: RulesOption = None,
) -> None:
    """Give a record you hold back to its pool."""
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.models import utcnow
    from crm_core.rules.pool import give_back

    engine, settings = _setup(rules)
    record_id = parse_id(record)
    user_id = _user_id(engine, user)
    with open_session(engine, origin=ORIGIN_CRM, actor_id=user_id) as session:
        returned = give_back(
            session,
            settings,
            record_id,
            reason=reason,
            actor_id=user_id,
            now=utcnow(),
            pool_name=pool,
        )
        out.print(f"{_describe(returned)} is back in pool {returned.pool}.", highlight=False)


@pool_app.command("transfer")
def transfer_command(
    record: Annotated[str, typer.Argument(metavar="ID", help="The account or lead (full id).")],
    to: Annotated[
        str, typer.Option("--to", metavar="EMAIL", help="The new owner, by e-mail address.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why it changes hands (required).")],
) -> None:
    """Hand a record to another salesperson (no pool rule applies)."""
    from crm_core import schema
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.models import utcnow
    from crm_core.rules.pool import transfer

    engine = state.engine()
    schema.require_current(engine)
    record_id = parse_id(record)
    user_id = _user_id(engine, to)
    with open_session(engine, origin=ORIGIN_CRM) as session:
        moved = transfer(session, record_id, user_id, reason=reason, actor_id=None, now=utcnow())
        out.print(f"{to} now holds {_describe(moved)}.", highlight=False)


def _set_lock(record: str, locked: bool, reason: str | None) -> None:
    from crm_core import schema
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.models import utcnow
    from crm_core.rules.pool import set_locked

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine, origin=ORIGIN_CRM) as session:
        changed = set_locked(
            session, parse_id(record), locked, actor_id=None, now=utcnow(), reason=reason
        )
        what = "locked to its owner" if locked else "unlocked"
        out.print(f"{_describe(changed)} is {what}.", highlight=False)


@pool_app.command("lock")
def lock_command(
    record: Annotated[str, typer.Argument(metavar="ID", help="The account or lead (full id).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
) -> None:
    """Lock a held record to its owner: it is never recycled."""
    _set_lock(record, True, reason)


@pool_app.command("unlock")
def unlock_command(
    record: Annotated[str, typer.Argument(metavar="ID", help="The account or lead (full id).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
) -> None:
    """Unlock a record: its pool may recycle it again."""
    _set_lock(record, False, reason)


@pool_app.command("recycle")
def recycle_command(
    pools: Annotated[
        list[str] | None, typer.Option("--pool", help="Only this pool (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would happen; write nothing.")
    ] = False,
    rules: RulesOption = None,
) -> None:
    """Take back what neglectful owners hold and warn the owners of what comes next (the
    nightly job); then deliver the notifications."""
    from crm_core.jobs import recycle_job

    summary = recycle_job(
        pools=pools, dry_run=dry_run, rules=rules, database_url=state.database_url
    )
    _print_counts("Recycled" if not dry_run else "Would recycle", summary["recycled"])
    _print_counts("Warned" if not dry_run else "Would warn", summary["warned"])
    if summary["adopted"]:
        _print_counts("Put into pools by scope", summary["adopted"])
    delivery = summary.get("delivery")
    if delivery:
        out.print(
            f"Notifications: {delivery['sent']} sent, {delivery['pending']} pending, "
            f"{delivery['failed']} failed."
        )


def _print_counts(title: str, counts: dict[str, int]) -> None:
    if not counts:
        out.print(f"{title}: no pool recycles.")
        return
    listed = ", ".join(f"{pool} {count}" for pool, count in counts.items())
    out.print(f"{title}: {listed}.", highlight=False)


@pool_app.command("history")
def history_command(
    record: Annotated[str, typer.Argument(metavar="ID", help="The account or lead (full id).")],
) -> None:
    """Who held a record, since when, and why it changed hands."""
    from rich.table import Table
    from sqlalchemy import select

    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.models import User
    from crm_core.rules.pool import find_pool_record, history

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        found = find_pool_record(session, parse_id(record))
        entries = history(session, found.id)
        names = dict(session.execute(select(User.id, User.name)).all())
    table = Table(title=f"Ownership of {_describe(found)}", title_justify="left")
    for column in ("When (UTC)", "Action", "Pool", "From", "To", "By", "Why"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M}",
            entry.action,
            entry.pool or "",
            names.get(entry.from_owner_id, "") if entry.from_owner_id else "",
            names.get(entry.to_owner_id, "") if entry.to_owner_id else "",
            names.get(entry.actor_id, "") if entry.actor_id else (entry.rule or "rule"),
            entry.reason or "",
        )
    out.print(table)
