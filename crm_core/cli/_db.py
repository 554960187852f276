"""``tongbu db``: create, migrate and maintain the CRM core database."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_core.cli._app import err, out, state

db_app = typer.Typer(
    help="Create, migrate and maintain the CRM core database.", no_args_is_help=True
)


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create the schema, or migrate it up to the newest (or a given) revision."""
    from crm_core import schema
    from crm_core.db import describe_url

    engine = state.engine()
    schema.upgrade(engine, revision)
    out.print(f"{describe_url(engine.url)} is at revision {schema.current_revision(engine)}.")


@db_app.command(context_settings={"ignore_unknown_options": True})  # so that -1 is a revision
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, -1 for one step, base for none.")
    ],
) -> None:
    """Migrate the schema down (base removes every Tongbu table and its data)."""
    from crm_core import schema
    from crm_core.db import describe_url

    engine = state.engine()
    schema.downgrade(engine, revision)
    current = schema.current_revision(engine) or "base (no Tongbu schema)"
    out.print(f"{describe_url(engine.url)} is at revision {current}.")


@db_app.command()
def current() -> None:
    """Show the schema revision of the database."""
    from crm_core import schema
    from crm_core.db import describe_url

    engine = state.engine()
    revision = schema.current_revision(engine)
    where = describe_url(engine.url)
    if revision is None:
        out.print(f"{where} has no Tongbu schema yet; run `tongbu db upgrade`.")
    elif revision == schema.head_revision():
        out.print(f"{where} is at revision {revision} (the newest).")
    else:
        out.print(
            f"{where} is at revision {revision}; the newest is {schema.head_revision()} "
            "(run `tongbu db upgrade`)."
        )


@db_app.command()
def reindex() -> None:
    """Rebuild the search index from the accounts, contacts and leads."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from sqlalchemy import func, select

    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.models import Account, Contact, Lead
    from crm_core.search import rebuild_index

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        total = sum(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Account, Contact, Lead)
        )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("Indexing", total=total)
        indexed = rebuild_index(engine, progress=lambda n: progress.advance(task, n))
    out.print(f"Indexed {indexed} records.")
