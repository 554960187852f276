"""The ``tongbu`` command line (typer + rich). Every command is a thin call into ``crm_core``."""

from crm_core.cli import _demo, _search
from crm_core.cli._accounts import accounts_app
from crm_core.cli._app import app, main
from crm_core.cli._db import db_app

app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")

__all__ = ["_demo", "_search", "app", "main"]
