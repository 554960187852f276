"""``tongbu reminders``: what each salesperson has coming up; ``tongbu notifications``: the
outbox of messages to the teams' group chats."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import out, state
from crm_core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

    from sqlalchemy.orm import Session

    from crm_core.rules.notify import DeliveryReport
    from crm_core.rules.reminders import OwnerReminders

reminders_app = typer.Typer(help="Tasks, follow-ups and recycles coming up.", no_args_is_help=True)
notifications_app = typer.Typer(
    help="Messages to the teams' group chats (the outbox).", no_args_is_help=True
)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        metavar="FILE",
        help="The rules file (default: TONGBU_RULES, else rules/crm.yaml).",
        show_default=False,
    ),
]
HorizonOption = Annotated[
    str,
    typer.Option("--horizon", help="How far ahead to look: 1d, 12h, 2d..."),
]


@reminders_app.command("list")
def reminders_list(
    horizon: HorizonOption = "1d",
    owner: Annotated[
        str | None, typer.Option("--owner", metavar="EMAIL", help="Only this user's.")
    ] = None,
    rules_file: RulesOption = None,
) -> None:
    """Each user's open tasks due, planned follow-ups and coming recycles, one table each."""
    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.models import utcnow
    from crm_core.rules.reminders import collect_reminders, parse_horizon
    from crm_core.rules.settings import load_rules

    span = parse_horizon(horizon)
    settings = load_rules(rules_file)
    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        if owner is not None:
            _require_user(session, owner)
        collected = collect_reminders(session, settings, utcnow(), span)
    if owner is not None:
        wanted = owner.strip().casefold()
        collected = [item for item in collected if (item.email or "").casefold() == wanted]
    for item in collected:
        _render_owner(item, item.zone(settings.zone))
    if not collected:
        whose = owner if owner is not None else "anyone"
        out.print(f"No reminders for {whose} within {horizon}.", highlight=False)
    else:
        total = sum(item.count for item in collected)
        out.print(f"{total} reminder(s) for {len(collected)} user(s) within {horizon}.")


@reminders_app.command("send")
def reminders_send(
    horizon: HorizonOption = "1d",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would be reminded; send nothing.")
    ] = False,
    rules_file: RulesOption = None,
) -> None:
    """Send each user their reminders in their team's chat (once a day); deliver the outbox."""
    from crm_core import schema
    from crm_core.models import utcnow
    from crm_core.rules.reminders import parse_horizon, render, send_reminders
    from crm_core.rules.settings import load_rules

    span = parse_horizon(horizon)
    settings = load_rules(rules_file)
    engine = state.engine()
    schema.require_current(engine)
    report = send_reminders(engine, settings, utcnow(), span, dry_run=dry_run)
    if dry_run:
        for item in report.reminders:
            out.print(f"\n@{item.name} <{item.email or '-'}>", highlight=False)
            out.print(render(item, item.zone(settings.zone)), highlight=False)
        out.print(f"Dry run: {len(report.reminders)} user(s) would be reminded; nothing sent.")
        return
    out.print(
        f"Reminders for {len(report.reminders)} user(s): {report.queued} queued, "
        f"{report.skipped} already queued today or with no channel."
    )
    if report.delivery is not None:
        _print_delivery(report.delivery)


@notifications_app.command("list")
def notifications_list(
    status: Annotated[
        str | None, typer.Option("--status", help="Only pending, sent or failed ones.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
) -> None:
    """The newest notifications: where they go, their status and last error."""
    from rich.table import Table

    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.rules.notify import STATUSES, list_notifications

    if status is not None and status not in STATUSES:
        raise InvalidInput(f"--status is one of {', '.join(STATUSES)}, not {status!r}")
    if limit <= 0:
        raise InvalidInput("--limit must be a positive number")
    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        found = list_notifications(session, status, limit)
    table = Table(title=f"Notifications ({len(found)})", title_justify="left")
    for column in ("id", "kind", "channel", "status", "attempts", "created (UTC)", "next / sent"):
        table.add_column(column)
    table.add_column("text / last error", overflow="fold")
    for item in found:
        when = item.sent_at if item.sent_at is not None else item.next_attempt_at
        first_line = item.text.splitlines()[0] if item.text else ""
        detail = first_line if item.last_error is None else f"{first_line}\n{item.last_error}"
        table.add_row(
            str(item.id),
            item.kind,
            item.channel,
            item.status,
            str(item.attempts),
            f"{item.created_at:%Y-%m-%d %H:%M}",
            f"{when:%Y-%m-%d %H:%M}",
            detail,
        )
    out.print(table)


@notifications_app.command("deliver")
def notifications_deliver(
    limit: Annotated[
        int | None, typer.Option("--limit", help="Send at most this many.", show_default=False)
    ] = None,
    rules_file: RulesOption = None,
) -> None:
    """Send the notifications that are due; retry later those that could not be sent."""
    from crm_core import schema
    from crm_core.rules.notify import deliver
    from crm_core.rules.settings import load_rules

    if limit is not None and limit <= 0:
        raise InvalidInput("--limit must be a positive number")
    settings = load_rules(rules_file)
    engine = state.engine()
    schema.require_current(engine)
    _print_delivery(deliver(engine, settings.notifications, limit=limit))


def _require_user(session: Session, email: str) -> None:
    from sqlalchemy import func, select

    from crm_core.models import User

    found = session.scalar(
        select(User.id).where(func.lower(User.email) == email.strip().lower()).limit(1)
    )
    if found is None:
        raise NotFound(f"no user with the e-mail address {email!r}")


def _render_owner(item: OwnerReminders, zone: tzinfo) -> None:
    from rich.table import Table

    title = f"{item.name} <{item.email or '-'}> ({item.count})"
    table = Table(title=title, title_justify="left")
    for column in ("kind", "when", "what", "note"):
        table.add_column(column)

    def when(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"

    for task in item.tasks:
        kind = "overdue" if task.overdue else "task"
        table.add_row(kind, when(task.at), task.title, "")
    for follow_up in item.follow_ups:
        table.add_row("follow-up", when(follow_up.at), follow_up.subject, follow_up.account or "")
    for recycle in item.recycles:
        note = f"pool {recycle.pool}: {recycle.reason}"
        table.add_row("recycle", when(recycle.due_at), recycle.label, note)
    out.print(table)


def _print_delivery(report: DeliveryReport) -> None:
    out.print(
        f"Delivered: {report.sent} sent, {report.retried} to retry, {report.failed} failed; "
        f"{report.pending} pending in the outbox."
    )
