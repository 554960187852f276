"""Crash safety: a two-way sync killed with SIGKILL at random moments and restarted each time
ends with both sides holding exactly what an uninterrupted run gives: nothing lost, nothing
doubled, in the CRM or in the ERP."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crm_core.bulk import load
from crm_core.db import open_session
from crm_core.models import Account, Xref
from tests.integration.sync_harness import Hub

KILLS = 20


def _sync_process(hub: Hub, log: Any) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "TONGBU_DATABASE_URL": hub.db.url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "crm_core.cli", "sync", "run", "kingdee-customers"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def test_a_sync_killed_at_20_random_moments_loses_and_doubles_nothing(
    hub_factory: Any, tmp_path: Path
) -> None:
    hub: Hub = hub_factory(customers=2500)
    hub.set_batch_size("customers", 100)  # more transactions, more moments to die in
    rows = [
        {"name": f"苏州克拉什测试{index:04d}有限公司", "phone": f"+86512{index:08d}"}
        for index in range(2500)
    ]
    load(hub.db.engine, Account, rows, origin="crm")
    erp_before = {c["FNumber"]: c["FName"] for c in hub.erp.all("BD_Customer")}
    chance = random.Random(20261125)

    kills = 0
    log = (tmp_path / "sync.log").open("wb")
    while kills < KILLS:
        process = _sync_process(hub, log)
        time.sleep(chance.uniform(0.3, 1.8))
        if process.poll() is not None:
            break  # it finished before the kill: the run is complete
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    final = _sync_process(hub, log)
    final.wait(timeout=300)
    log.close()
    assert final.returncode == 0, (tmp_path / "sync.log").read_text(encoding="utf-8")

    with open_session(hub.db.engine) as session:
        accounts = {a.id: a for a in session.scalars(select(Account))}
        links = list(
            session.execute(
                select(Xref.record_id, Xref.external_id).where(
                    Xref.external_entity == "BD_Customer"
                )
            )
        )
    erp = {c["FNumber"]: c for c in hub.erp.all("BD_Customer")}

    assert kills == KILLS, f"the run ended after {kills} kills: make it longer"
    assert len(accounts) == 5000
    assert len(erp) == 5000
    assert len(links) == 5000
    assert len({record for record, _ in links}) == 5000  # one ERP customer per account
    assert {number for _, number in links} == set(erp)  # and one account per ERP customer
    for record_id, number in links:
        assert accounts[record_id].name == erp[number]["FName"]
    names = Counter(a.name for a in accounts.values())
    assert all(names[f"苏州克拉什测试{index:04d}有限公司"] == 1 for index in range(2500))
    assert {n: erp[n]["FName"] for n in erp_before} == erp_before
    # The next run reads back the customers the CRM created, with the values the ERP filled in
    # (its default currency): the CRM learns them once, creates nothing and sends nothing back.
    again = hub.run("customers")
    assert again["in"].counts.created == 0
    assert again["out"].counts.created + again["out"].counts.updated == 0
    settled = hub.run("customers")
    assert settled["in"].counts.created + settled["in"].counts.updated == 0
    assert settled["out"].counts.created + settled["out"].counts.updated == 0
