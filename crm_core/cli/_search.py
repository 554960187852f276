"""``tongbu search``: find accounts, contacts and leads."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Annotated

import typer

from crm_core.cli._app import app, err, out, state

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
    with err.status("Searching…", spinner="dots") if err.is_terminal else nullcontext():
        hits = run_search(engine, text, entities=entity, limit=limit)
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
