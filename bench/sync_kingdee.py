"""Benchmark: sync with Kingdee K3 Cloud (the bundled emulator) on SQLite and PostgreSQL.

Prints:
* inbound initial sync of N customers (default 50,000) into each database, records/s, against a
  bare httpx loop that only fetches the same pages from the same emulator in the same run; the
  ratio (target >= 0.5: the hub costs at most as much as the transport);
* outbound sync of 10,000 changed accounts, records/s;
* a round trip of 1,000 edits (CRM -> ERP -> CRM, the echo recognised and not written), seconds;
* peak memory (RSS) of the inbound sync at N/5 and N records: flat in the number of records.

The emulator runs in its own process, so the figures are the hub's alone.

    .venv/bin/python bench/sync_kingdee.py [--customers 50000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("TONGBU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
PAGE = 1000
FIELDS = (
    "FCUSTID,FNumber,FName,FShortName,FTEL,FADDRESS,FWEBSITE,FTAXREGISTERCODE,FPROVINCIAL,"
    "FDescription,FForbidStatus,FTRADINGCURRID.FNumber,FModifyDate"
)


def start_emulator(customers: int, data: Path) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    """The emulator in a child process; its base URL and credentials."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_core.cli",
            "emulator",
            "serve",
            "kingdee",
            "--port",
            "0",
            "--seed",
            f"customers={customers}",
            "--data",
            str(data),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    if process.stdout is None:
        raise SystemExit("no output from the emulator")
    url = ""
    credentials: dict[str, str] = {}
    while not credentials:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("the emulator did not start")
        if " emulator at " in line:
            url = line.split(" emulator at ", 1)[1].strip()
        elif line.startswith("acct_id="):
            credentials = dict(part.split("=", 1) for part in line.split())
    return process, url, credentials


def bare_fetch(url: str, credentials: dict[str, str]) -> tuple[int, float]:
    """Fetch every customer page with plain httpx: the transport's own speed."""
    started = time.perf_counter()
    count = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post(
            "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc",
            json={
                "parameters": [
                    credentials["acct_id"],
                    credentials["username"],
                    credentials["password"],
                    2052,
                ]
            },
        ).raise_for_status()
        last = ("", 0)
        while True:
            filter_string = (
                f"FModifyDate > '{last[0]}' OR (FModifyDate = '{last[0]}' AND FCUSTID > {last[1]})"
                if last[0]
                else ""
            )
            response = client.post(
                "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc",
                json={
                    "data": {
                        "FormId": "BD_Customer",
                        "FieldKeys": FIELDS,
                        "FilterString": filter_string,
                        "OrderString": "FModifyDate ASC, FCUSTID ASC",
                        "StartRow": 0,
                        "Limit": PAGE,
                    }
                },
            )
            rows = response.json()
            count += len(rows)
            if len(rows) < PAGE:
                break
            last = (rows[-1][-1], rows[-1][0])
    return count, time.perf_counter() - started


def fresh_database(backend: str, folder: Path) -> tuple[str, Any]:
    """A new, migrated database; its URL and a function that drops it."""
    from crm_core import schema
    from crm_core.db import create_engine

    if backend == "sqlite":
        url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"

        def drop() -> None:
            return None
    else:
        name = f"tongbu_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

        def drop() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    engine = create_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url, drop


def write_pipeline(folder: Path, url: str, credentials: dict[str, str]) -> Path:
    path = folder / "kingdee-customers.yaml"
    path.write_text(
        "connector:\n  type: kingdee\n"
        f"  base_url: {url}\n  acct_id: {credentials['acct_id']}\n"
        f"  username: {credentials['username']}\n  password_env: BENCH_KINGDEE_PASSWORD\n"
        f"mapping: {ROOT / 'mappings' / 'kingdee' / 'customer.yaml'}\n"
        f"direction: both\nbatch_size: {PAGE}\n",
        encoding="utf-8",
    )
    return path


def child(arguments: argparse.Namespace) -> None:
    """Run one step in this process and print its figures as JSON (for peak RSS)."""
    from crm_core.db import create_engine
    from crm_core.sync.engine import run_pipeline
    from crm_core.sync.pipeline import Direction, load_pipeline

    engine = create_engine(arguments.database)
    pipeline = load_pipeline(arguments.pipeline)
    figures: dict[str, Any] = {}
    if arguments.step == "inbound":
        started = time.perf_counter()
        (summary,) = run_pipeline(engine, pipeline, direction=Direction.IN)
        figures = {"records": summary.counts.created, "seconds": time.perf_counter() - started}
    elif arguments.step == "outbound":
        ids = _edit_accounts(engine, arguments.edits, "bench-out")
        started = time.perf_counter()
        (summary,) = run_pipeline(engine, pipeline, direction=Direction.OUT)
        figures = {
            "records": summary.counts.updated,
            "edited": len(ids),
            "seconds": time.perf_counter() - started,
        }
    elif arguments.step == "roundtrip":
        _edit_accounts(engine, arguments.edits, "bench-rt")
        started = time.perf_counter()
        summaries = run_pipeline(engine, pipeline, direction=Direction.BOTH)
        (back,) = run_pipeline(engine, pipeline, direction=Direction.IN)
        figures = {
            "sent": summaries[1].counts.updated,
            "echo_written": back.counts.created + back.counts.updated,
            "echo_read": back.counts.read,
            "seconds": time.perf_counter() - started,
        }
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _edit_accounts(engine: Any, count: int, tag: str) -> list[Any]:
    """Change ``count`` accounts the way a user of the CRM would (origin crm)."""
    from crm_core.db import open_session

    with open_session(engine, origin="crm") as session:
        ids = list(
            session.execute(
                text("SELECT id FROM accounts ORDER BY id LIMIT :n"), {"n": count}
            ).scalars()
        )
        for index, record_id in enumerate(ids):
            session.execute(
                text("UPDATE accounts SET description = :d WHERE id = :i"),
                {"d": f"{tag} {index}", "i": record_id},
            )
    return ids


def run_child(step: str, database: str, pipeline: Path, edits: int = 0) -> dict[str, Any]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            step,
            "--database",
            database,
            "--pipeline",
            str(pipeline),
            "--edits",
            str(edits),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    figures: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child")
    parser.add_argument("--database")
    parser.add_argument("--pipeline")
    parser.add_argument("--edits", type=int, default=0)
    arguments = parser.parse_args()
    if arguments.child:
        arguments.step = arguments.child
        child(arguments)
        return

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        print(f"Kingdee sync benchmark: {arguments.customers:,} customers, pages of {PAGE}")
        for backend in arguments.backends.split(","):
            for size in (arguments.customers // 5, arguments.customers):
                emulator, url, credentials = start_emulator(
                    size, folder / f"erp-{backend}-{size}.db"
                )
                os.environ["BENCH_KINGDEE_PASSWORD"] = credentials["password"]
                pipeline = write_pipeline(folder, url, credentials)
                database, drop = fresh_database(backend, folder)
                try:
                    fetched, bare_seconds = bare_fetch(url, credentials)
                    inbound = run_child("inbound", database, pipeline)
                    rate = inbound["records"] / inbound["seconds"]
                    bare_rate = fetched / bare_seconds
                    print(
                        f"{backend:<10} inbound {inbound['records']:>7,} customers: "
                        f"{rate:>8,.0f} rec/s;"
                        f" bare httpx fetch {bare_rate:>8,.0f} rec/s; ratio {rate / bare_rate:.2f};"
                        f" peak RSS {inbound['peak_rss_mb']:.0f} MB"
                    )
                    if size == arguments.customers:
                        outbound = run_child("outbound", database, pipeline, edits=10_000)
                        print(
                            f"{backend:<10} outbound {outbound['records']:,} changed accounts: "
                            f"{outbound['records'] / outbound['seconds']:,.0f} rec/s "
                            f"({outbound['seconds']:.1f} s); "
                            f"peak RSS {outbound['peak_rss_mb']:.0f} MB"
                        )
                        trip = run_child("roundtrip", database, pipeline, edits=1_000)
                        print(
                            f"{backend:<10} round trip of 1,000 edits (CRM -> ERP -> CRM): "
                            f"{trip['seconds']:.1f} s; sent {trip['sent']:,}, echo read "
                            f"{trip['echo_read']:,}, echo written {trip['echo_written']}"
                        )
                finally:
                    emulator.terminate()
                    emulator.wait()
                    drop()


if __name__ == "__main__":
    main()
