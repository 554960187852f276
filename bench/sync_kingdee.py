"""Benchmark: sync with Kingdee K3 Cloud (the bundled emulator) on SQLite and PostgreSQL.

Prints:
* inbound initial sync of N customers (default 50,000) into each database, records/s, against a
  bare httpx loop that only fetches the same pages from the same emulator in the same run; the
  ratio (target >= 0.5: the hub costs at most as much as the transport);
* the floor: the same fetch loop that also writes each page, in one transaction, into a fresh
  database of its own with no Tongbu code in the path (plain psycopg COPY or sqlite3
  executemany): the ``accounts`` rows (with their keys, indexes and change-capture triggers),
  their ``xref`` links and the ``sync_state`` cursor. Its records/s, "floor / bare" (the highest
  hub / bare ratio any implementation could reach) and "hub / floor" (how close the hub gets);
* outbound sync of 10,000 changed accounts, records/s;
* a round trip of 1,000 edits (CRM -> ERP -> CRM, the echo recognised and not written), seconds;
* peak memory (RSS) of the inbound sync at N/5 and N records: flat in the number of records.

The emulator runs in its own process, so the figures are the hub's alone. ``--inbound-only``
skips the outbound and round-trip steps.

    .venv/bin/python bench/sync_kingdee.py [--customers 50000] [--backends sqlite,postgresql]
        [--inbound-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb
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


def customer_pages(url: str, credentials: dict[str, str]) -> Iterator[list[list[Any]]]:
    """Log in with plain httpx, then yield every page of customers, walking the keyset cursor
    (FModifyDate, FCUSTID); the last page is the first one shorter than ``PAGE``."""
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
            rows: list[list[Any]] = response.json()
            yield rows
            if len(rows) < PAGE:
                break
            last = (rows[-1][-1], rows[-1][0])


def bare_fetch(url: str, credentials: dict[str, str]) -> tuple[int, float]:
    """Fetch every customer page with plain httpx: the transport's own speed."""
    started = time.perf_counter()
    count = 0
    for rows in customer_pages(url, credentials):
        count += len(rows)
    return count, time.perf_counter() - started


# Positions in a row of FIELDS.
_CUSTID, _NUMBER, _NAME, _TEL, _ADDRESS, _WEBSITE, _TAXCODE, _MODIFIED = (0, 1, 2, 4, 5, 6, 7, 12)
_ACCOUNT_COLUMNS = "id, name, phone, address, website, credit_code"
_XREF_COLUMNS = "id, system, external_entity, external_id, entity, record_id"
_FLOOR_PIPELINE = "kingdee-customers"


def floor_fetch_and_write(
    url: str, credentials: dict[str, str], database: str
) -> tuple[int, float]:
    """The same fetch as :func:`bare_fetch`, plus the least any hub must write per page.

    After each page, in one transaction tagged with origin ``kingdee`` as the hub tags its own:
    one ``accounts`` row per customer (values taken as they come, no transforms, so its
    indexes, unique keys, foreign keys and change-capture triggers writing ``change_log`` all
    run), one ``xref`` row linking it to its FNumber, and the ``sync_state`` cursor (the last
    row's FModifyDate and FCUSTID). Plain psycopg (COPY) or sqlite3; no Tongbu code, no
    matching, hashing or mapping. A hub doing the job can be no faster than this.
    """
    if database.startswith("sqlite:///"):
        return _floor_sqlite(url, credentials, database.removeprefix("sqlite:///"))
    return _floor_postgres(url, credentials, database)


def _floor_postgres(url: str, credentials: dict[str, str], database: str) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    with psycopg.connect(database) as connection:
        for rows in customer_pages(url, credentials):
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('tongbu.origin', 'kingdee', true)")
                ids = [uuid.uuid4() for _ in rows]
                with cursor.copy(f"COPY accounts ({_ACCOUNT_COLUMNS}) FROM STDIN") as copy:
                    for record_id, row in zip(ids, rows, strict=True):
                        copy.write_row(_account_row(record_id, row))
                with cursor.copy(f"COPY xref ({_XREF_COLUMNS}) FROM STDIN") as copy:
                    for record_id, row in zip(ids, rows, strict=True):
                        copy.write_row(
                            (
                                uuid.uuid4(),
                                "kingdee",
                                "BD_Customer",
                                row[_NUMBER],
                                "accounts",
                                record_id,
                            )
                        )
                if rows:
                    cursor.execute(
                        "INSERT INTO sync_state (pipeline, direction, cursor) "
                        "VALUES (%s, 'in', %s) ON CONFLICT (pipeline, direction) "
                        "DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()",
                        (_FLOOR_PIPELINE, Jsonb(_floor_cursor(rows))),
                    )
            count += len(rows)
        elapsed = time.perf_counter() - started
        _check_floor(connection.execute, count, "%s")
    return count, elapsed


def _account_row(record_id: Any, row: list[Any]) -> tuple[Any, ...]:
    """The floor's ``accounts`` values of one fetched customer row (no transforms)."""
    return (record_id, row[_NAME], row[_TEL], row[_ADDRESS], row[_WEBSITE], row[_TAXCODE])


def _floor_sqlite(url: str, credentials: dict[str, str], path: str) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    # The hub's connection settings (crm_core.db), with transactions begun by hand.
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA cache_size = -65536")
        for rows in customer_pages(url, credentials):
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO tongbu_write_context (id, origin, actor_id) "
                    "VALUES (1, 'kingdee', NULL)"
                )
                ids = [uuid.uuid4().hex for _ in rows]
                connection.executemany(
                    f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    list(map(_account_row, ids, rows)),
                )
                connection.executemany(
                    f"INSERT INTO xref ({_XREF_COLUMNS}) "
                    "VALUES (?, 'kingdee', 'BD_Customer', ?, 'accounts', ?)",
                    [
                        (uuid.uuid4().hex, row[_NUMBER], record_id)
                        for record_id, row in zip(ids, rows, strict=True)
                    ],
                )
                if rows:
                    connection.execute(
                        "INSERT INTO sync_state (pipeline, direction, cursor) VALUES (?, 'in', ?) "
                        "ON CONFLICT (pipeline, direction) DO UPDATE SET cursor = excluded.cursor, "
                        "updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')",
                        (_FLOOR_PIPELINE, json.dumps(_floor_cursor(rows))),
                    )
                connection.execute("DELETE FROM tongbu_write_context")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            count += len(rows)
        elapsed = time.perf_counter() - started
        _check_floor(connection.execute, count, "?")
    finally:
        connection.close()
    return count, elapsed


def _floor_cursor(rows: list[list[Any]]) -> dict[str, Any]:
    return {"FModifyDate": rows[-1][_MODIFIED], "FCUSTID": rows[-1][_CUSTID]}


def _check_floor(execute: Any, count: int, marker: str) -> None:
    """Fail loudly unless the floor wrote one account, one xref row and one logged insert
    (origin kingdee) per customer fetched."""
    checks = {
        "accounts": "SELECT count(*) FROM accounts",
        "xref": "SELECT count(*) FROM xref WHERE system = 'kingdee'",
        "change_log": (
            "SELECT count(*) FROM change_log WHERE entity = 'accounts' AND op = 'insert' "
            f"AND origin = {marker}"
        ),
        "sync_state": f"SELECT count(*) FROM sync_state WHERE pipeline = {marker}",
    }
    parameters = {"change_log": ("kingdee",), "sync_state": (_FLOOR_PIPELINE,)}
    expected = {"accounts": count, "xref": count, "change_log": count, "sync_state": 1}
    for table, query in checks.items():
        (found,) = execute(query, parameters.get(table, ())).fetchone()
        if found != expected[table]:
            raise SystemExit(f"floor: {table} holds {found:,} rows, expected {expected[table]:,}")


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
    parser.add_argument(
        "--inbound-only", action="store_true", help="skip the outbound and round-trip steps"
    )
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
                    floor_database, drop_floor = fresh_database(backend, folder)
                    try:
                        floored, floor_seconds = floor_fetch_and_write(
                            url, credentials, floor_database
                        )
                    finally:
                        drop_floor()
                    inbound = run_child("inbound", database, pipeline)
                    rate = inbound["records"] / inbound["seconds"]
                    bare_rate = fetched / bare_seconds
                    floor_rate = floored / floor_seconds
                    print(
                        f"{backend:<10} inbound {inbound['records']:>7,} customers: "
                        f"{rate:>8,.0f} rec/s;"
                        f" bare httpx fetch {bare_rate:>8,.0f} rec/s; ratio {rate / bare_rate:.2f};"
                        f" peak RSS {inbound['peak_rss_mb']:.0f} MB"
                    )
                    print(
                        f"{backend:<10}   floor (fetch + bare writes) {floor_rate:>8,.0f} rec/s;"
                        f" floor / bare {floor_rate / bare_rate:.2f} (the most any hub reaches);"
                        f" hub / floor {rate / floor_rate:.2f}"
                    )
                    if arguments.inbound_only:
                        continue
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
