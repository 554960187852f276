"""``tongbu sync``, ``runs``, ``quarantine`` and ``conflicts`` as an operator uses them, against
the Kingdee emulator and the bundled pipelines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kingdee.emulator import KingdeeEmulator
from crm_core import records, schema
from crm_core.db import create_engine, open_session
from crm_core.models import Account

ROOT = Path(__file__).resolve().parents[2]
TONGBU = str(Path(sys.executable).with_name("tongbu"))


@pytest.fixture
def erp() -> Iterator[KingdeeEmulator]:
    with KingdeeEmulator(seed={"customers": 20}) as emulator:
        yield emulator


@pytest.fixture
def url(tmp_path: Path) -> str:
    address = f"sqlite:///{tmp_path / 'ops.db'}"
    engine = create_engine(address)
    schema.upgrade(engine)
    engine.dispose()
    return address


def tongbu(erp: KingdeeEmulator, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TONGBU_DATABASE_URL": url,
        "TONGBU_PIPELINES_DIR": str(ROOT / "pipelines"),
        "TONGBU_KINGDEE_URL": erp.url,
        "TONGBU_KINGDEE_ACCT_ID": erp.credentials["acct_id"],
        "TONGBU_KINGDEE_USERNAME": erp.credentials["username"],
        "TONGBU_KINGDEE_PASSWORD": erp.credentials["password"],
    }
    return subprocess.run(
        [TONGBU, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_a_dry_run_shows_the_plan_and_writes_nothing(erp: KingdeeEmulator, url: str) -> None:
    planned = tongbu(erp, url, "sync", "run", "kingdee-customers", "--dry-run", "--json")

    assert planned.returncode == 0, planned.stderr
    plan = {side["direction"]: side for side in json.loads(planned.stdout)}
    assert plan["in"]["created"] == 20
    assert plan["in"]["dry_run"] is True
    assert plan["in"]["status"] == "planned"
    listed = tongbu(erp, url, "runs", "list")
    assert "kingdee-customers" not in listed.stdout
    engine = create_engine(url)
    with open_session(engine) as session:
        assert session.query(Account).count() == 0
    engine.dispose()


def test_run_look_at_the_history_and_replay_what_the_erp_refused(
    erp: KingdeeEmulator, url: str
) -> None:
    first = tongbu(erp, url, "sync", "run", "kingdee-customers", "--json")
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)[0]["run_id"]

    shown = tongbu(erp, url, "runs", "show", run_id[-8:])
    assert shown.returncode == 0, shown.stderr
    assert "status: succeeded" in shown.stdout
    assert "created      20" in shown.stdout

    engine = create_engine(url)
    with open_session(engine, origin="crm") as session:
        records.create(session, Account, {"name": "台州被拒绝有限公司"})
    engine.dispose()
    erp.faults.reject("BD_Customer", names=["台州被拒绝有限公司"], message="客户分组不能为空")

    refused = tongbu(erp, url, "sync", "run", "kingdee-customers", "--direction", "out")
    assert refused.returncode == 0, refused.stderr
    assert "partial" in refused.stdout
    waiting = tongbu(erp, url, "quarantine", "list")
    assert "客户分组不能为空" in waiting.stdout
    still = tongbu(erp, url, "quarantine", "replay")
    assert still.returncode == 1
    assert "0 delivered, 1 still in quarantine" in still.stdout

    erp.faults.clear()
    replayed = tongbu(erp, url, "quarantine", "replay")

    assert replayed.returncode == 0, replayed.stderr
    assert "1 delivered, 0 still in quarantine" in replayed.stdout
    assert "台州被拒绝有限公司" in {c["FName"] for c in erp.all("BD_Customer")}
    assert "客户分组不能为空" not in tongbu(erp, url, "quarantine", "list").stdout


def test_conflict_decisions_are_listed_and_a_settled_one_cannot_be_settled_again(
    erp: KingdeeEmulator, url: str
) -> None:
    assert tongbu(erp, url, "sync", "run", "kingdee-customers").returncode == 0
    number = erp.numbers("BD_Customer")[0]
    customer = erp.get("BD_Customer", number)
    assert customer is not None
    engine = create_engine(url)
    with open_session(engine, origin="crm") as session:
        account = session.query(Account).filter(Account.name == customer["FName"]).one()
        records.update(
            session, Account, account.id, {"name": "CRM 改的名字"}, expected_version=account.version
        )
    engine.dispose()
    erp.edit("BD_Customer", number, FName="ERP 后改的名字")

    assert tongbu(erp, url, "sync", "run", "kingdee-customers").returncode == 0
    decided = tongbu(erp, url, "conflicts", "list", "--all")

    assert "newest_wins" in decided.stdout
    assert "resolved (source)" in decided.stdout
    conflict_id = decided.stdout.split("│")[1].strip()
    again = tongbu(erp, url, "conflicts", "resolve", conflict_id, "--take", "crm")
    assert again.returncode == 1
    assert "already resolved" in again.stderr
    assert "Traceback" not in again.stderr
