"""``tongbu demo``: a guided tour on the embedded database."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from crm_core.cli._accounts import render
from crm_core.cli._app import app, out, state
from crm_core.cli._search import search
from crm_core.cli._sync import summary_table

if TYPE_CHECKING:
    from sqlalchemy import Engine

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
    _migration_tour(engine)
    _sync_tour(engine)
    _rules_tour()
    out.print(
        "\nTry it yourself: [bold]tongbu search 恒达[/], [bold]tongbu search 0571[/], "
        "[bold]tongbu accounts show ID[/], [bold]tongbu runs list[/], [bold]tongbu pool list[/], "
        "[bold]tongbu report funnel[/], [bold]tongbu --help[/]."
    )


_ROOT = Path(__file__).resolve().parents[2]
_BUNDLED_PIPELINES = _ROOT / "pipelines"
_LEGACY_MAPPING = _ROOT / "mappings" / "legacy" / "accounts_csv.yaml"
_DEMO_PIPELINES = ("kingdee-materials", "kingdee-customers", "kingdee-orders")
_RULES = _ROOT / "rules" / "crm.yaml"


def _emulator_file(engine: Engine) -> Path:
    """Where the demo's emulator keeps its data (so a second demo finds the same ERP)."""
    return _beside_database(engine, "kingdee.db")


def _beside_database(engine: Engine, suffix: str) -> Path:
    """A file of the demo beside an SQLite database, else in the temporary folder, named
    after the database: ``tongbu.<suffix>``."""
    database = engine.url.database or "tongbu"
    if engine.url.get_backend_name() == "sqlite" and database != ":memory:":
        return Path(database).with_suffix(f".{suffix}")
    return Path(tempfile.gettempdir()) / f"tongbu-demo-{Path(database).name}.{suffix}"


def _migration_tour(engine: Engine) -> None:
    """Migrate the bundled legacy spreadsheet: duplicates merged, bad rows quarantined."""
    from crm_core.cli._migrate import show_report
    from crm_core.mapping import load_mapping
    from crm_core.migrate import ExcelSource, run_migration
    from crm_core.sample.make_legacy import LEGACY_WORKBOOK

    out.rule("[bold]5. Migration of a legacy spreadsheet (duplicates, bad rows)")
    out.print(
        f"[dim]$ tongbu migrate run --source {LEGACY_WORKBOOK.name} "
        f"--mapping mappings/legacy/{_LEGACY_MAPPING.name}[/]"
    )
    with ExcelSource(LEGACY_WORKBOOK) as source:
        report = run_migration(engine, source, load_mapping(_LEGACY_MAPPING))
    show_report(report, report.save(_beside_database(engine, "migration.json")))
    out.print(
        "Rows of one customer were merged (on a second demo they are found linked: updated, "
        "nothing created twice); see them with [bold]tongbu merge list[/], the bad rows with "
        "[bold]tongbu quarantine list[/].",
        highlight=False,
    )


def _sync_tour(engine: Engine) -> None:
    """Sync with the bundled Kingdee emulator: everything both ways, an edit on each side,
    again, and once more to show that nothing echoes."""
    from sqlalchemy import select

    from crm_core import records
    from crm_core.cli._emulator import emulator_types
    from crm_core.db import open_session
    from crm_core.models import Account, Xref
    from crm_core.sync.engine import run_pipeline
    from crm_core.sync.pipeline import PIPELINES_DIR_ENV, load_pipeline

    out.rule("[bold]6. Two-way sync with Kingdee K3 Cloud (the bundled emulator)")
    data = _emulator_file(engine)
    fresh = not data.exists()
    factory = emulator_types()["kingdee"].load()
    seed = {"customers": 200, "orders": 60} if fresh else {}
    with factory(port=0, seed=seed, data_path=str(data)).start() as erp:
        os.environ["TONGBU_KINGDEE_URL"] = erp.url
        os.environ["TONGBU_KINGDEE_ACCT_ID"] = erp.credentials["acct_id"]
        os.environ["TONGBU_KINGDEE_USERNAME"] = erp.credentials["username"]
        os.environ["TONGBU_KINGDEE_PASSWORD"] = erp.credentials["password"]
        out.print(f"Kingdee emulator at {erp.url} ({data.name}).", highlight=False)
        folder = Path(os.environ.get(PIPELINES_DIR_ENV) or _BUNDLED_PIPELINES)
        pipelines = [load_pipeline(folder / f"{name}.yaml") for name in _DEMO_PIPELINES]

        def sync(title: str) -> None:
            out.print(f"[dim]$ tongbu sync run ... ({title})[/]")
            summaries = [s for p in pipelines for s in run_pipeline(engine, p)]
            out.print(summary_table(summaries))

        sync("first run: everything both ways")
        number = erp.numbers("BD_Customer")[0]
        erp.edit(
            "BD_Customer", number, FName=f"{erp.get('BD_Customer', number)['FName']}（已改名）"
        )
        with open_session(engine) as session:
            linked = session.scalar(
                select(Xref.record_id)
                .where(Xref.system == "kingdee", Xref.external_entity == "BD_Customer")
                .order_by(Xref.external_id.desc())
            )
            account = session.get(Account, linked) if linked else None
        if account is not None:
            with open_session(engine, origin="crm") as session:
                records.update(
                    session,
                    Account,
                    account.id,
                    {"phone": "+8657188889999"},
                    expected_version=account.version,
                )
        out.print(
            f"Renamed customer {number} in the ERP; changed the phone of "
            f"{account.name if account else '-'} in the CRM.",
            highlight=False,
        )
        sync("second run: each edit arrives on the other side")
        out.print(
            "The customers the CRM created came back from the ERP with the values the ERP "
            "filled in (trading currency, forbid status): the CRM learned them once.",
            highlight=False,
        )
        sync("third run: nothing to do, nothing echoes")


def _rules_tour() -> None:
    """The CRM rules on the sample (``rules/crm.yaml``): new leads handed out, records put into
    the public pools, the morning reminders, the sales chat told on a WeCom group robot (the
    bundled emulator)."""
    from crm_core.cli._emulator import emulator_types
    from crm_core.cli._leads import assign_command
    from crm_core.cli._pool import list_command, recycle_command
    from crm_core.cli._reminders import reminders_send

    out.rule("[bold]7. CRM rules: new leads assigned, the public pools, reminders on WeCom")
    factory = emulator_types()["wecom-robot"].load()
    with factory() as robot:
        os.environ["TONGBU_SALES_WEBHOOK"] = robot.credentials["webhook"]
        out.print(f"WeCom robot emulator at {robot.url}; rules in rules/{_RULES.name}.")
        out.print("[dim]$ tongbu leads assign[/]")
        assign_command(lead_ids=None, dry_run=False, rules=_RULES)
        out.print("[dim]$ tongbu pool recycle[/]")
        recycle_command(pools=None, dry_run=False, rules=_RULES)
        out.print("[dim]$ tongbu pool list[/]")
        list_command(rules=_RULES)
        out.print("[dim]$ tongbu reminders send[/]")
        reminders_send(horizon="7d", dry_run=False, rules_file=_RULES)
        received = list(robot.messages)
    out.print(f"The sales chat got {len(received)} message(s).", highlight=False)
    if received:
        out.print(f"The first one:\n{received[0].content}", highlight=False)
