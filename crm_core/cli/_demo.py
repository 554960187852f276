"""``tongbu demo``: a guided tour on the embedded database."""

from __future__ import annotations

from crm_core.cli._accounts import render
from crm_core.cli._app import app, out, state
from crm_core.cli._search import search

_SEARCHES = ("华信", "+86 138 0013 8000", "acme")


@app.command()
def demo() -> None:
    """Set up the database, load the bundled sample customers, and show search at work."""
    from crm_core import schema
    from crm_core.db import describe_url, open_session
    from crm_core.overview import account_overview
    from crm_core.sample import load_sample, sample_id

    engine = state.engine()
    out.rule("[bold]1. The CRM core database")
    schema.upgrade(engine)
    out.print(
        f"{describe_url(engine.url)} is at schema revision {schema.current_revision(engine)}."
    )

    out.rule("[bold]2. The bundled sample of customers")
    summary = load_sample(engine)
    if summary.already_loaded:
        out.print("The sample is already loaded.")
    else:
        loaded = ", ".join(f"{count} {table}" for table, count in sorted(summary.counts.items()))
        out.print(f"Loaded {loaded}.")

    out.rule("[bold]3. Search: part of a Chinese name, a phone in any format, a name")
    for text in _SEARCHES:
        out.print(f"[dim]$ tongbu search {text!r}[/]")
        search(text, entity=None, limit=5, as_json=False)

    out.rule("[bold]4. An account with its contacts, deals and history")
    with open_session(engine) as session:
        overview = account_overview(session, sample_id("account", "a_huaxin"), activities=5)
    out.print(f"[dim]$ tongbu accounts show {overview.account.id}[/]")
    render(overview)
    out.print(
        "\nTry it yourself: [bold]tongbu search 恒达[/], [bold]tongbu search 0571[/], "
        "[bold]tongbu accounts show ID[/], [bold]tongbu --help[/]."
    )
