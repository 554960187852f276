"""The ``tongbu`` command line (typer + rich). Every command is a thin call into ``crm_core``."""

from crm_core.cli import _demo, _search
from crm_core.cli._accounts import accounts_app
from crm_core.cli._airflow import airflow_app
from crm_core.cli._app import app, main
from crm_core.cli._db import db_app
from crm_core.cli._dedup import dedup_app
from crm_core.cli._emulator import emulator_app
from crm_core.cli._leads import leads_app
from crm_core.cli._mapping import mapping_app
from crm_core.cli._merge import merge_app
from crm_core.cli._migrate import migrate_app
from crm_core.cli._pool import pool_app
from crm_core.cli._reminders import notifications_app, reminders_app
from crm_core.cli._report import report_app
from crm_core.cli._sync import conflicts_app, quarantine_app, runs_app, sync_app

app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(mapping_app, name="mapping")
app.add_typer(sync_app, name="sync")
app.add_typer(runs_app, name="runs")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(dedup_app, name="dedup")
app.add_typer(merge_app, name="merge")
app.add_typer(migrate_app, name="migrate")
app.add_typer(emulator_app, name="emulator")
app.add_typer(airflow_app, name="airflow")
app.add_typer(leads_app, name="leads")
app.add_typer(pool_app, name="pool")
app.add_typer(reminders_app, name="reminders")
app.add_typer(notifications_app, name="notifications")
app.add_typer(report_app, name="report")

__all__ = ["_demo", "_search", "app", "main"]
