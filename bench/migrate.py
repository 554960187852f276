"""Benchmark of ``tongbu migrate run``: a million legacy accounts from CSV into PostgreSQL.

The source is ``--rows`` generated legacy accounts (default 1,000,000; ``bench/data/legacy.py``:
Chinese companies, about 150 bytes a row, about 10 % duplicates and 1 % invalid rows), cached in
``bench/.cache``. Five parts, each optional (``--parts raw,floor,off,on,dlt``), each on a fresh
PostgreSQL database created through ``--pg-admin-url`` and dropped when the part ends:

1. **raw** -- the physical limit: the file streamed through psycopg's ``COPY ... FROM STDIN
   (FORMAT csv, HEADER)`` into a bare table of the 8 text columns (no key, no index) in one
   transaction: rows/s, the median of three loads (each into a new table; a million rows take
   only a few seconds, so one load alone is noisy).
2. **floor** -- the least work any migration must do to put these rows into ``accounts`` with
   change capture on, all of it in the server (no Tongbu code in the path): ``tongbu db upgrade``,
   then, timed from the start of the COPY to the commit, in one transaction: the file COPY'd as
   in raw into a temporary staging table, the session's origin set as the hub sets it
   (``set_config('tongbu.origin', 'migration', true)``), and one ``INSERT INTO accounts (name,
   credit_code, phone, email, address, city) SELECT ... FROM staging ON CONFLICT (credit_code)
   DO NOTHING`` keeping only the rows that fit the columns (a name that is not empty, each value
   within its column's length, read from the schema; empty values as NULL): one account per
   credit code, the other columns from their defaults, the capture triggers writing
   ``change_log``. No cleansing, validation, quarantine, dedup or report, which the migration
   must also do. The median of three loads (``accounts`` and ``change_log`` truncated between
   them), each checked: the accounts and the ``insert`` rows of ``change_log`` (origin
   ``migration``) both equal the rows inserted, else the part fails. Its rows/s (rows of the
   file / seconds) over the raw COPY's is the most any migration can reach of the 0.4 target,
   and its rows/s bounds what dedup on can reach of its 50,000.
3. **off** -- ``tongbu db upgrade``, then ``tongbu migrate run --source <csv> --mapping
   mappings/legacy/accounts_csv.yaml --no-dedup --report <json>`` as a child process: its wall
   time, rows/s (rows read / wall time), peak memory (the proportional set size of its whole
   process tree, sampled every half second, as in ``bench/dedup.py``; the PostgreSQL server is
   not in it) and the report's counts, checked: read = created + updated + unchanged + merged
   + quarantined (``unchanged`` only where the report has it), and read = the rows of the file;
   also the command's own time from its report (without the interpreter's start), the accounts
   in the database and the report's quarantine reasons. Targets: rows/s at least 0.4 of the raw
   COPY's, peak memory at most 1 GB. With ``--flat-check`` the same run on a quarter of the rows
   (a file of its own) shows whether memory is flat in the number of rows (a peak ratio near 1,
   at most 1.25 counts as flat).
4. **on** -- the same run with dedup (no ``--no-dedup``): target at least 50,000 rows/s.
5. **dlt** -- only when ``import dlt`` works here (it is not a Tongbu dependency): the same file
   through a dlt pipeline (postgres destination, ``write_disposition="merge"``, primary key
   ``id``, its default settings otherwise: the rows are ``INSERT``ed into a staging table, then
   merged) in a child process, timed the same way, for reference; dlt keeps one row of each
   repeated id. dlt demands a password, so a placeholder is put in the URL (trust auth ignores
   it), and its telemetry is off. Otherwise it prints "dlt not installed: skipped".

A ``CHECKPOINT`` precedes each timed phase so that none pays for the dirty pages of the one
before. The parts only count rows after their load, so none needs an ANALYZE (autovacuum may be
off on the server): the migration is timed with whatever statistics it keeps itself. The counts
expected from the data (invalid rows, duplicates) are printed beside the report's. Figures go to
the terminal and to ``bench/out/migrate.json``; each run's own report to
``bench/out/migrate.<part>.report.json``. Run it::

    python bench/migrate.py [--rows N] [--parts raw,floor,off,on,dlt] [--chunk-size N]
                            [--flat-check] [--seed S] [--pg-admin-url URL]

``--rows 20000`` is a quick check. The exit status is 1 when a part failed (its error is in the
figures).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from data.legacy import COLUMNS, write_legacy_csv  # noqa: E402
from dedup import _tree_rss_kb, log  # noqa: E402

CACHE = BENCH / ".cache"
OUT = BENCH / "out"
OUT_FILE = OUT / "migrate.json"
MAPPING = Path("mappings") / "legacy" / "accounts_csv.yaml"
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PARTS = ("raw", "floor", "off", "on", "dlt")
RAW_RUNS = 3
RATIO_TARGET = 0.4
MEMORY_TARGET_MB = 1024
DEDUP_ON_TARGET = 50_000
FLAT_TOLERANCE = 1.25
FLOOR_COLUMNS = ("name", "credit_code", "phone", "email", "address", "city")
"""The columns of the file that the floor puts into ``accounts`` (the others take defaults)."""
"""A peak at N rows at most this many times the peak at N/4 counts as flat."""
COUNTS = ("read", "created", "updated", "unchanged", "merged", "quarantined")
"""The report's counts; ``unchanged`` (rows whose key was loaded before with the same values)
is optional: 0 when the report has none."""
_BOX_DRAWING = str.maketrans(dict.fromkeys("│╭╮╰╯─", " "))
"""The frame rich draws around a command-line error, taken out of the message."""


# --------------------------------------------------------------------------- measuring a command


@dataclass(frozen=True)
class Measured:
    """One command's wall time, peak memory (its whole process tree, PSS), status and output."""

    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str

    def error(self, what: str) -> str:
        """One line saying how the command failed, with the end of what it wrote."""
        text = (self.stderr.strip() or self.stdout.strip()).translate(_BOX_DRAWING)
        lines = [" ".join(line.split()) for line in text.splitlines()]
        lines = [line for line in lines if line]
        return f"{what} failed with status {self.returncode}: " + " | ".join(lines[-6:])


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``command`` from the repository's root; its wall time, the peak of its process tree's
    memory, its status and its output. The child is killed if this process is interrupted."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
    return Measured(seconds, peak / 1024, process.returncode, stdout, stderr)


# --------------------------------------------------------------------------- data and databases


def legacy_file(rows: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The generated legacy accounts and their summary (cached)."""
    source = CACHE / f"legacy_{rows}_{seed}.csv"
    summary_file = source.with_suffix(".summary.json")
    if source.exists() and summary_file.exists():
        return source, json.loads(summary_file.read_text(encoding="utf-8"))
    log(f"generating {rows:,} legacy accounts")
    partial = source.with_suffix(".partial")
    summary = write_legacy_csv(partial, rows, seed)
    partial.replace(source)
    summary_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return source, summary


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped when the block ends however it ends."""
    name = f"tongbu_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base, _, _ = admin_url.rpartition("/")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def checkpoint(admin_url: str) -> None:
    """Write the dirty pages out before a timed phase."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("CHECKPOINT")


def count_rows(url: str, table: str) -> int | None:
    """The rows of ``table`` in the database at ``url`` (None when it cannot be counted)."""
    try:
        with psycopg.connect(url) as connection:
            row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def tongbu_env(url: str) -> dict[str, str]:
    """The environment of a ``tongbu`` command on the database at ``url``."""
    return {
        **os.environ,
        "TONGBU_DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://", 1),
    }


def _server_version(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# --------------------------------------------------------------------------- the parts


def raw_copy(admin_url: str, source: Path, rows: int) -> dict[str, Any]:
    """The file COPY'd into a bare table of text columns: the physical limit. Three loads, each
    into a new table; the median counts."""
    columns = ", ".join(f"{column} text" for column in COLUMNS)
    timings: list[float] = []
    copied = 0
    with fresh_database(admin_url) as url, psycopg.connect(url) as connection:
        for attempt in range(RAW_RUNS):
            table = f"legacy_accounts_{attempt}"
            connection.execute(f"CREATE TABLE {table} ({columns})")
            connection.commit()
            checkpoint(admin_url)
            log(f"raw COPY of {rows:,} rows ({attempt + 1}/{RAW_RUNS})")
            started = time.perf_counter()
            with source.open("rb") as stream, connection.cursor() as cursor:
                with cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    while block := stream.read(1 << 20):
                        copy.write(block)
                copied = cursor.rowcount
            connection.commit()
            timings.append(time.perf_counter() - started)
    seconds = statistics.median(timings)
    return {
        "rows": copied,
        "seconds": round(seconds, 3),
        "runs_seconds": [round(timing, 3) for timing in timings],
        "rows_per_second": round(copied / seconds),
        "megabytes_per_second": round(source.stat().st_size / seconds / 1e6, 1),
        "complete": copied == rows,
    }


def column_limits(connection: psycopg.Connection[Any], table: str) -> dict[str, int | None]:
    """The maximum length of each of :data:`FLOOR_COLUMNS` in ``table`` (None: unbounded)."""
    found = connection.execute(
        "SELECT column_name, character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND column_name = ANY(%s)",
        (table, list(FLOOR_COLUMNS)),
    ).fetchall()
    limits = {str(name): None if length is None else int(length) for name, length in found}
    missing = [column for column in FLOOR_COLUMNS if column not in limits]
    if missing:
        raise RuntimeError(f"{table} has no column {', '.join(missing)}")
    return {column: limits[column] for column in FLOOR_COLUMNS}


def floor_insert(limits: dict[str, int | None]) -> str:
    """The one ``INSERT ... SELECT`` of the floor: the staged rows that fit the columns (a name
    that is not empty, each value within its length), empty values as NULL, one per credit code."""
    values = ", ".join(
        column if column == "name" else f"NULLIF({column}, '')" for column in FLOOR_COLUMNS
    )
    fits = ["name <> ''"] + [
        f"({column} IS NULL OR char_length({column}) <= {length})"
        for column, length in limits.items()
        if length is not None
    ]
    return (
        f"INSERT INTO accounts ({', '.join(FLOOR_COLUMNS)}) SELECT {values} FROM floor_staging "
        f"WHERE {' AND '.join(fits)} ON CONFLICT (credit_code) DO NOTHING"
    )


def floor_load(admin_url: str, source: Path, rows: int) -> dict[str, Any]:
    """The least any migration must do, all in the server: the file COPY'd into a staging table
    and put into ``accounts`` by one ``INSERT ... SELECT`` with change capture on. Three loads on
    one migrated database (truncated between them), each checked; the median counts."""
    staging = ", ".join(f"{column} text" for column in COLUMNS)
    timings: list[float] = []
    copied = inserted = 0
    with fresh_database(admin_url) as url:
        upgraded = measure([sys.executable, "-m", "crm_core.cli", "db", "upgrade"], tongbu_env(url))
        if upgraded.returncode != 0:
            return {"rows": rows, "error": upgraded.error("tongbu db upgrade")}
        with psycopg.connect(url) as connection:
            limits = column_limits(connection, "accounts")
            insert = floor_insert(limits)
            connection.commit()
            for attempt in range(RAW_RUNS):
                connection.execute("TRUNCATE accounts, change_log CASCADE")
                connection.commit()
                checkpoint(admin_url)
                connection.execute(f"CREATE TEMP TABLE floor_staging ({staging}) ON COMMIT DROP")
                log(f"floor: COPY + INSERT ... SELECT of {rows:,} rows ({attempt + 1}/{RAW_RUNS})")
                started = time.perf_counter()
                with source.open("rb") as stream, connection.cursor() as cursor:
                    with cursor.copy(
                        "COPY floor_staging FROM STDIN (FORMAT csv, HEADER true)"
                    ) as copy:
                        while block := stream.read(1 << 20):
                            copy.write(block)
                    copied = cursor.rowcount
                    cursor.execute("SELECT set_config('tongbu.origin', 'migration', true)")
                    cursor.execute(insert)
                    inserted = cursor.rowcount
                connection.commit()
                timings.append(time.perf_counter() - started)
                found = connection.execute(
                    "SELECT (SELECT count(*) FROM accounts), count(*) FILTER (WHERE op = 'insert'"
                    " AND entity = 'accounts' AND origin = 'migration'), count(*) FROM change_log"
                ).fetchone()
                connection.commit()
                accounts, captured, logged = found if found else (None, None, None)
                if not accounts == captured == logged == inserted:
                    error = (
                        f"floor load {attempt + 1}: {inserted:,} rows inserted, but {accounts} "
                        f"accounts and {captured} of {logged} change_log rows are inserts of "
                        "accounts with origin 'migration'"
                    )
                    log(error)
                    return {"rows": rows, "inserted": inserted, "error": error}
    seconds = statistics.median(timings)
    return {
        "rows": copied,
        "inserted": inserted,
        "seconds": round(seconds, 3),
        "runs_seconds": [round(timing, 3) for timing in timings],
        "rows_per_second": round(copied / seconds),
        "megabytes_per_second": round(source.stat().st_size / seconds / 1e6, 1),
        "column_limits": limits,
        "complete": copied == rows,
        "change_log_checked": True,
        "statement": insert,
    }


def migrate_run(
    args: argparse.Namespace, source: Path, rows: int, *, dedup: bool, label: str
) -> dict[str, Any]:
    """``tongbu db upgrade`` and ``tongbu migrate run`` on a fresh database, the run measured."""
    report_file = OUT / f"migrate.{label}.report.json"
    report_file.unlink(missing_ok=True)
    tongbu = [sys.executable, "-m", "crm_core.cli"]
    figures: dict[str, Any] = {"rows": rows, "dedup": dedup}
    with fresh_database(args.pg_admin_url) as url:
        env = tongbu_env(url)
        upgraded = measure([*tongbu, "db", "upgrade"], env)
        if upgraded.returncode != 0:
            return {**figures, "error": upgraded.error("tongbu db upgrade")}
        command = [*tongbu, "migrate", "run", "--source", str(source), "--mapping", str(MAPPING)]
        command += ["--report", str(report_file)]
        if not dedup:
            command.append("--no-dedup")
        if args.chunk_size:
            command += ["--chunk-size", str(args.chunk_size)]
        checkpoint(args.pg_admin_url)
        log(f"tongbu migrate run, dedup {'on' if dedup else 'off'}, {rows:,} rows ({label})")
        measured = measure(command, env)
        figures.update(seconds=round(measured.seconds, 2), peak_mb=round(measured.peak_mb, 1))
        if measured.returncode != 0:
            return {**figures, "error": measured.error("tongbu migrate run")}
        figures["accounts"] = count_rows(url, "accounts")
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
        counts = {
            key: int(report.get(key, 0) if key == "unchanged" else report[key]) for key in COUNTS
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        return {**figures, "error": f"no usable report at {report_file}: {error!r}"}
    read = counts["read"]
    reasons = report.get("quarantine_reasons")
    return {
        **figures,
        **counts,
        "rows_per_second": round(read / measured.seconds) if measured.seconds else None,
        "adds_up": read == sum(counts[key] for key in COUNTS[1:]),
        "read_all": read == rows,
        "own_seconds": report.get("seconds"),
        "quarantine_reasons": [
            [reason.get("count"), str(reason.get("reason"))[:160]]
            for reason in (reasons if isinstance(reasons, list) else [])
            if isinstance(reason, dict)
        ],
        "report_file": str(report_file.relative_to(ROOT)),
    }


def dlt_load(args: argparse.Namespace, source: Path, rows: int) -> dict[str, Any]:
    """The same file through dlt (merge on ``id``), in a child process, for reference."""
    if importlib.util.find_spec("dlt") is None:
        log("dlt not installed: skipped")
        return {"skipped": "dlt not installed"}
    with fresh_database(args.pg_admin_url) as url, tempfile.TemporaryDirectory() as work:
        env = {
            **os.environ,
            "RUNTIME__DLTHUB_TELEMETRY": "false",  # no network here
            "DLT_DATA_DIR": work,
            "DLT_PROJECT_DIR": work,
        }
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "dlt"]
        command += ["--child-source", str(source), "--child-url", url, "--child-work", work]
        checkpoint(args.pg_admin_url)
        log(f"dlt pipeline (merge on id), {rows:,} rows")
        measured = measure(command, env)
        figures: dict[str, Any] = {
            "rows": rows,
            "seconds": round(measured.seconds, 2),
            "peak_mb": round(measured.peak_mb, 1),
        }
        if measured.returncode != 0:
            return {**figures, "error": measured.error("the dlt pipeline")}
        loaded = count_rows(url, "legacy.accounts")
    return {
        **figures,
        "loaded": loaded,
        "rows_per_second": round(rows / measured.seconds) if measured.seconds else None,
        "version": measured.stdout.strip().splitlines()[-1] if measured.stdout.strip() else "?",
    }


def child_dlt(source: Path, url: str, work: Path) -> None:
    """(In the child) load ``source`` into the database at ``url`` with dlt; print its version."""
    import dlt  # type: ignore[import-not-found, unused-ignore]

    def batches() -> Iterator[list[dict[str, str]]]:
        with source.open(encoding="utf-8", newline="") as stream:
            reader = csv.DictReader(stream)
            while batch := list(itertools.islice(reader, 10_000)):
                yield batch

    accounts = dlt.resource(
        batches(),
        name="accounts",
        write_disposition="merge",
        primary_key="id",
        columns={column: {"data_type": "text"} for column in COLUMNS},
    )
    scheme, _, rest = url.partition("://")
    user, at, host = rest.rpartition("@")
    if at and ":" not in user:  # dlt insists on a password; trust auth ignores it
        url = f"{scheme}://{user}:unused@{host}"
    pipeline = dlt.pipeline(
        pipeline_name="tongbu_bench_migrate",
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name="legacy",
        pipelines_dir=str(work / "pipelines"),
    )
    pipeline.run(accounts)
    print(dlt.__version__)


# --------------------------------------------------------------------------- report


def summarise(figures: dict[str, Any]) -> None:
    """The ratio and the targets, from the parts that ran."""
    raw, off, on = figures.get("raw"), figures.get("off"), figures.get("on")
    targets: dict[str, Any] = {}
    if raw and off and off.get("rows_per_second") and raw.get("rows_per_second"):
        ratio = off["rows_per_second"] / raw["rows_per_second"]
        targets["ratio"] = {"value": round(ratio, 3), "target": RATIO_TARGET}
        targets["ratio"]["met"] = ratio >= RATIO_TARGET
    if off and "peak_mb" in off and "error" not in off:
        targets["memory_mb"] = {"value": off["peak_mb"], "target": MEMORY_TARGET_MB}
        targets["memory_mb"]["met"] = off["peak_mb"] <= MEMORY_TARGET_MB
    quarter = figures.get("off_quarter")
    if off and quarter and "error" not in off and "error" not in quarter and quarter["peak_mb"]:
        growth = off["peak_mb"] / quarter["peak_mb"]
        targets["flat"] = {"value": round(growth, 3), "target": FLAT_TOLERANCE}
        targets["flat"]["met"] = growth <= FLAT_TOLERANCE
    if on and on.get("rows_per_second"):
        targets["dedup_on_rows_per_second"] = {
            "value": on["rows_per_second"],
            "target": DEDUP_ON_TARGET,
            "met": on["rows_per_second"] >= DEDUP_ON_TARGET,
        }
    figures["targets"] = targets
    figures["bounds"] = bounds(figures)


def bounds(figures: dict[str, Any]) -> dict[str, Any]:
    """What the floor says of the targets: the most any migration can reach of each, and how
    close dedup off comes to the floor."""
    raw, floor, off = figures.get("raw"), figures.get("floor"), figures.get("off")
    if not floor or "error" in floor:
        return {}
    found: dict[str, Any] = {
        "floor_rows_per_second": {
            "value": floor["rows_per_second"],
            "target": DEDUP_ON_TARGET,
            "reachable": floor["rows_per_second"] >= DEDUP_ON_TARGET,
        }
    }
    if raw and raw.get("rows_per_second"):
        ratio = floor["rows_per_second"] / raw["rows_per_second"]
        found["floor_over_raw"] = {
            "value": round(ratio, 3),
            "target": RATIO_TARGET,
            "reachable": ratio >= RATIO_TARGET,
        }
    if off and off.get("rows_per_second"):
        found["off_over_floor"] = {
            "value": round(off["rows_per_second"] / floor["rows_per_second"], 3)
        }
    return found


def report(figures: dict[str, Any]) -> None:
    """Print the figures."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    _report_table(console, figures)
    data = figures["data"]
    for key in ("off", "off_quarter", "on"):
        found = figures.get(key)
        if found and "error" not in found:
            console.print(
                f"{key}: read {found['read']:,} = created {found['created']:,} + updated "
                f"{found['updated']:,} + unchanged {found['unchanged']:,} + merged "
                f"{found['merged']:,} + quarantined {found['quarantined']:,}: "
                f"{'adds up' if found['adds_up'] else 'does NOT add up'}; accounts in the "
                f"database {found['accounts']}; the command's own time {found['own_seconds']} s"
            )
            reasons = "; ".join(f"{n} {reason}" for n, reason in found["quarantine_reasons"][:6])
            console.print(f"  quarantined for: {reasons}", markup=False)
    if any(figures.get(key) for key in ("off", "off_quarter", "on")):
        console.print(
            f"expected from the data ({data['rows']:,} rows): {data['invalid']:,} invalid rows "
            f"to quarantine; {data['valid_duplicates']:,} valid duplicates to merge with dedup "
            f"on, {data['shared_code_duplicates']:,} of them repeating a credit code (which "
            "the unique credit_code cannot take as new accounts with dedup off)"
        )
    floor = figures.get("floor")
    if floor and "error" not in floor:
        console.print(
            f"floor: {floor['rows']:,} rows of the file, {floor['inserted']:,} inserted into "
            f"accounts (the others do not fit the columns or repeat a credit code), each in "
            f"change_log; {floor['rows_per_second']:,} rows/s (median of "
            f"{', '.join(f'{t:.2f}' for t in floor['runs_seconds'])} s)"
            + (
                f"; floor / raw {figures['bounds']['floor_over_raw']['value']}"
                if "floor_over_raw" in figures["bounds"]
                else ""
            )
        )
    for key in ("floor", "off", "off_quarter", "on", "dlt"):
        found = figures.get(key)
        if found and "error" in found:
            console.print(f"{key}: {found['error']}", markup=False)
    if "skipped" in figures.get("dlt", {}):
        console.print("dlt not installed: skipped")
    labels = {
        "ratio": "dedup off rows/s / raw COPY rows/s",
        "memory_mb": "dedup off peak memory (MB)",
        "flat": "dedup off peak memory at N / at N/4",
        "dedup_on_rows_per_second": "dedup on rows/s",
    }
    for key, target in figures["targets"].items():
        comparison = ">=" if key in ("ratio", "dedup_on_rows_per_second") else "<="
        console.print(
            f"{labels[key]}: {target['value']:,} (target {comparison} {target['target']:,}: "
            f"{'met' if target['met'] else 'NOT met'})"
        )
    _report_bounds(console, figures["bounds"])


def _report_bounds(console: Any, found: dict[str, Any]) -> None:
    """The verdict of the floor on the targets."""

    def reach(bound: dict[str, Any]) -> str:
        if bound["reachable"]:
            return "within reach of the floor (not ruled out)"
        return "out of reach of ANY migration"

    if "floor_over_raw" in found:
        bound = found["floor_over_raw"]
        console.print(
            f"floor / raw: {bound['value']} (the most any migration can reach; target "
            f"{bound['target']}): {reach(bound)}"
        )
    if "floor_rows_per_second" in found:
        bound = found["floor_rows_per_second"]
        console.print(
            f"floor rows/s: {bound['value']:,} (dedup on target {bound['target']:,} rows/s "
            f"cannot exceed it): {reach(bound)}"
        )
    if "off_over_floor" in found:
        console.print(
            f"dedup off / floor: {found['off_over_floor']['value']} (how close the real "
            "migration is to the floor)"
        )


def _report_table(console: Any, figures: dict[str, Any]) -> None:
    """The data, and a table of the parts."""
    from rich.table import Table

    data = figures["data"]
    kinds = ", ".join(f"{kind} {n}" for kind, n in data["invalid_by_kind"].items())
    console.print(
        f"data: {data['rows']:,} rows, {data['bytes_per_row']} bytes a row, "
        f"{data['duplicates']:,} duplicates ({data['duplicate_share']:.2%}; "
        f"{data['valid_duplicates']:,} valid ones of an entity an earlier valid row holds, "
        f"{data['shared_code_duplicates']:,} of these repeating its credit code), "
        f"{data['invalid']:,} invalid ({data['invalid_share']:.2%}: {kinds})"
    )
    table = Table(title="Migration of legacy accounts into PostgreSQL")
    for column in ("part", "rows", "seconds", "rows/s", "peak MB", *COUNTS[1:], "adds up"):
        table.add_column(column)
    raw = figures.get("raw")
    if raw:
        table.add_row(
            "raw COPY",
            f"{raw['rows']:,}",
            f"{raw['seconds']:.1f}",
            f"{raw['rows_per_second']:,}",
            *[""] * 7,
        )
    floor = figures.get("floor")
    if floor and "error" in floor:
        table.add_row("floor (SQL)", f"{floor['rows']:,}", *[""] * 8, "failed")
    elif floor:
        table.add_row(
            "floor (SQL)",
            f"{floor['rows']:,}",
            f"{floor['seconds']:.1f}",
            f"{floor['rows_per_second']:,}",
            "",
            f"{floor['inserted']:,}",
            *[""] * 5,
        )
    for key, label in (("off", "dedup off"), ("off_quarter", "dedup off, 1/4"), ("on", "dedup on")):
        found = figures.get(key)
        if not found:
            continue
        if "error" in found:
            table.add_row(label, f"{found['rows']:,}", *[""] * 8, "failed")
            continue
        table.add_row(
            label,
            f"{found['read']:,}",
            f"{found['seconds']:.1f}",
            f"{found['rows_per_second']:,}",
            f"{found['peak_mb']:,.0f}",
            *(f"{found[count]:,}" for count in COUNTS[1:]),
            ("yes" if found["adds_up"] else "NO")
            + ("" if found["read_all"] else " (read != rows)"),
        )
    dlt = figures.get("dlt")
    if dlt and "skipped" not in dlt and "error" not in dlt:
        table.add_row(
            f"dlt {dlt['version']} (merge)",
            f"{dlt['rows']:,}",
            f"{dlt['seconds']:.1f}",
            f"{dlt['rows_per_second']:,}",
            f"{dlt['peak_mb']:,.0f}",
            f"{dlt['loaded']:,} loaded" if dlt["loaded"] is not None else "",
            *[""] * 5,
        )
    console.print(table)


# --------------------------------------------------------------------------- main


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    log("terminated; dropping the benchmark databases")
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts and report (or, with the hidden ``--child dlt``, the dlt load)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the legacy file")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="raw,floor,off,on,dlt (default all)"
    )
    parser.add_argument("--chunk-size", type=int, help="passed to tongbu migrate run")
    parser.add_argument(
        "--flat-check", action="store_true", help="also run dedup off on a quarter of the rows"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--child", choices=["dlt"], help=argparse.SUPPRESS)
    parser.add_argument("--child-source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "dlt":
        child_dlt(args.child_source, args.child_url, args.child_work)
        return 0
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    if args.rows < 4:
        parser.error("--rows must be at least 4")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    CACHE.mkdir(exist_ok=True)
    OUT.mkdir(exist_ok=True)
    source, data = legacy_file(args.rows, args.seed)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "postgresql": _server_version(args.pg_admin_url)},
        "data": {**data, "file": str(source.relative_to(ROOT))},
    }
    if "raw" in parts:
        figures["raw"] = raw_copy(args.pg_admin_url, source, args.rows)
    if "floor" in parts:
        figures["floor"] = floor_load(args.pg_admin_url, source, args.rows)
    if "off" in parts:
        figures["off"] = migrate_run(args, source, args.rows, dedup=False, label="off")
        if args.flat_check:
            quarter, _ = legacy_file(args.rows // 4, args.seed)
            figures["off_quarter"] = migrate_run(
                args, quarter, args.rows // 4, dedup=False, label="off-quarter"
            )
    if "on" in parts:
        figures["on"] = migrate_run(args, source, args.rows, dedup=True, label="on")
    if "dlt" in parts:
        figures["dlt"] = dlt_load(args, source, args.rows)
    summarise(figures)
    OUT_FILE.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    report(figures)
    failed = [key for key, found in figures.items() if isinstance(found, dict) and "error" in found]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
