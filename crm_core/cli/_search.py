"""``tongbu search``: find accounts, contacts and leads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import app, err, out, state

if TYPE_CHECKING:
    from sqlalchemy import Engine

_KIND = {"accounts": "account", "contacts": "contact", "leads": "lead"}


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="A name or part of it, a phone, or an e-mail.")],
    entity: Annotated[
        list[str] | None,
        typer.Option(
            "--entity",
            "-e",
            help="Only this kind of record: account, contact or lead (repeatable).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Search accounts, contacts and leads by name (Chinese or English, any part of it), phone
    (any format) or e-mail; the best matches first."""
    from rich.table import Table

    from crm_core import schema
    from crm_core.search import search as run_search

    engine = state.engine()
    schema.require_current(engine)
    _refresh_index_with_progress(engine)
    hits = run_search(engine, text, entities=entity, limit=limit, refresh=False)
    if as_json:
        for hit in hits:
            record = {
                "entity": _KIND[hit.entity],
                "id": str(hit.record_id),
                "name": hit.title,
                "detail": hit.detail,
                "phone": hit.phone,
                "email": hit.email,
                "score": hit.score,
                "matched": hit.matched,
            }
            out.print_json(json.dumps(record, ensure_ascii=False), indent=None)
        return
    if not hits:
        out.print(f"No account, contact or lead matches {text!r}.", highlight=False)
        return
    table = Table(title=f"{len(hits)} match{'es' if len(hits) != 1 else ''} for {text!r}")
    for column in ("Type", "Name", "Detail", "Phone", "E-mail", "Score", "ID"):
        table.add_column(column, no_wrap=column in {"ID", "Phone", "Score"})
    for hit in hits:
        table.add_row(
            _KIND[hit.entity],
            hit.title,
            hit.detail,
            hit.phone or "",
            hit.email or "",
            str(hit.score),
            str(hit.record_id),
        )
    out.print(table)


def _refresh_index_with_progress(engine: Engine) -> None:
    """Bring the search index up to date, showing progress when there is a lot to index (the
    first search after a large import indexes every new record)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crm_core.search import refresh_index

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task("Updating the search index", total=None)

        def advance(count: int) -> None:
            done = int(bar.tasks[0].completed) + count
            bar.update(task, completed=done, description=f"Indexed {done:,} changed records")

        refresh_index(engine, progress=advance)
