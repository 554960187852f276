"""Benchmark of the funnel report (``crm_core.rules.funnel.funnel_report``) over a million
opportunities on PostgreSQL.

1. **Fill** -- a fresh database ``tongbu_bench_funnel`` on the server of ``--pg-url`` (env
   ``TONGBU_BENCH_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``; dropped
   first if it exists), migrated with ``crm_core.schema.upgrade``, then filled set-wise with
   ``INSERT ... SELECT`` over ``generate_series``: 3 teams, 20 owners (owner *i* in team
   *i* mod 3), one default pipeline of 6 stages (Lead, Qualified, Proposal, Negotiation, Won,
   Lost) and ``--rows`` opportunities (default 1,000,000) created over 18 months. Each goes as
   far as Lead (40 %), Qualified (25 %), Proposal (15 %) or Negotiation (20 %), then is won
   (30 %), lost (40 %) or still open (30 %); its stage history holds one row per stage it
   entered, days apart. As in a CRM that has run for a while, the ids are time-ordered (the
   creation time in the first 48 bits, as Tongbu's UUIDv7 ids), the opportunities are stored
   in creation order and the history rows in the order they were entered. The fill runs with
   ``session_replication_role = replica``, which skips every trigger -- change capture
   (``change_log``) and the stage-history trigger alike (the history is written by the fill
   itself, with controlled times) -- and the foreign-key checks; the data is consistent by
   construction. Then ``VACUUM (ANALYZE)`` of the two big tables (autovacuum may be off on
   the server: without it the planner has no statistics, and the first scan would pay for
   setting the hint bits).
2. **Report** -- ``funnel_report`` for ``group_by`` none, owner and team, each ``--repeat``
   times (default 3) in a fresh session: the first run's and the median wall time, and the
   opportunities per second of the median. Each result is checked: the opportunities add up
   to ``--rows``, the first stage reached by all, won and lost as the fill made them.

Figures go to the terminal and to ``bench/out/funnel.json``. Run it::

    python bench/funnel.py [--rows N] [--repeat R] [--pg-url URL] [--keep]

``--rows 20000`` is a quick check. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from crm_core import schema  # noqa: E402
from crm_core.db import create_engine, open_session  # noqa: E402
from crm_core.rules.funnel import FunnelReport, GroupBy, funnel_report  # noqa: E402

OUT_FILE = BENCH / "out" / "funnel.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "tongbu_bench_funnel"
GROUPINGS: tuple[GroupBy, ...] = ("none", "owner", "team")
OPEN_STAGES = ("Lead", "Qualified", "Proposal", "Negotiation")


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _url_of(admin_url: str, database: str) -> str:
    return f"{admin_url.rpartition('/')[0]}/{database}"


def recreate(admin_url: str, database: str = DATABASE) -> str:
    """Drop and create the bench database; its URL."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    return _url_of(admin_url, database)


def drop(admin_url: str, database: str = DATABASE) -> None:
    """Drop the bench database."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


_PLAN = """
CREATE TEMP TABLE plan AS
SELECT encode(overlay(uuid_send(gen_random_uuid()) PLACING
         substring(int8send(floor(extract(epoch FROM created_at) * 1000)::bigint) FROM 3)
         FROM 1 FOR 6), 'hex')::uuid AS id,
       *
FROM (
  SELECT g,
         g % 20 AS owner_no,
         CASE WHEN r1 < 0.40 THEN 1 WHEN r1 < 0.65 THEN 2 WHEN r1 < 0.80 THEN 3 ELSE 4 END
           AS furthest,
         CASE WHEN r2 < 0.30 THEN 5 WHEN r2 < 0.70 THEN 6 ELSE 0 END AS closed,
         timestamptz '2025-01-01 00:00+00' + random() * interval '540 days' AS created_at,
         3 + g % 9 AS gap_days,
         round((1000 + random() * 999000)::numeric, 2) AS amount
  FROM (SELECT g, random() AS r1, random() AS r2 FROM generate_series(1, {rows}) AS g) AS s
) AS t
"""

_OPPORTUNITIES = """
INSERT INTO opportunities (id, name, owner_id, team_id, pipeline_id, stage_id, amount, currency,
                           created_at, updated_at, closed_at)
SELECT p.id, 'deal ' || p.g, (%(users)s::uuid[])[p.owner_no + 1],
       (%(teams)s::uuid[])[p.owner_no %% 3 + 1], %(pipeline)s,
       (%(stages)s::uuid[])[CASE WHEN p.closed > 0 THEN p.closed ELSE p.furthest END],
       p.amount, 'CNY', p.created_at, p.created_at,
       CASE WHEN p.closed > 0 THEN p.created_at + p.furthest * p.gap_days * interval '1 day' END
FROM plan AS p
ORDER BY p.created_at
"""

_HISTORY = """
INSERT INTO opportunity_stage_history (id, opportunity_id, from_stage_id, to_stage_id,
                                       entered_at, owner_id, team_id, created_at, updated_at)
SELECT gen_random_uuid(), p.id,
       CASE WHEN k.k = 1 THEN NULL
            WHEN k.k > p.furthest THEN (%(stages)s::uuid[])[p.furthest]
            ELSE (%(stages)s::uuid[])[k.k - 1] END,
       (%(stages)s::uuid[])[CASE WHEN k.k > p.furthest THEN p.closed ELSE k.k END],
       p.created_at + (k.k - 1) * p.gap_days * interval '1 day',
       (%(users)s::uuid[])[p.owner_no + 1], (%(teams)s::uuid[])[p.owner_no %% 3 + 1],
       now(), now()
FROM plan AS p
CROSS JOIN LATERAL generate_series(1, p.furthest + CASE WHEN p.closed > 0 THEN 1 ELSE 0 END)
  AS k(k)
ORDER BY 5
"""


def fill(url: str, rows: int) -> dict[str, Any]:
    """The people, the pipeline and ``rows`` opportunities with their history; what was made."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        teams = [
            conn.execute(
                "INSERT INTO teams (name) VALUES (%s) RETURNING id", (f"Team {n}",)
            ).fetchone()[0]  # type: ignore[index]
            for n in range(1, 4)
        ]
        users = [
            conn.execute(
                "INSERT INTO users (name, email, team_id) VALUES (%s, %s, %s) RETURNING id",
                (f"Owner {n:02d}", f"owner{n:02d}@example.com", teams[(n - 1) % 3]),
            ).fetchone()[0]  # type: ignore[index]
            for n in range(1, 21)
        ]
        pipeline = conn.execute(
            "INSERT INTO pipelines (name, is_default) VALUES ('Sales', true) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        stages = [
            conn.execute(
                "INSERT INTO stages (pipeline_id, name, position, is_won, is_lost) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (pipeline, name, position, name == "Won", name == "Lost"),
            ).fetchone()[0]  # type: ignore[index]
            for position, name in enumerate([*OPEN_STAGES, "Won", "Lost"], start=1)
        ]
        params = {"users": users, "teams": teams, "pipeline": pipeline, "stages": stages}
        conn.execute("SELECT setseed(0.42)")
        conn.execute(_PLAN.format(rows=int(rows)))
        opportunities = conn.execute(_OPPORTUNITIES, params).rowcount
        history = conn.execute(_HISTORY, params).rowcount
        expected = conn.execute(
            "SELECT count(*) FILTER (WHERE closed = 5), count(*) FILTER (WHERE closed = 6) "
            "FROM plan"
        ).fetchone()
        conn.commit()
    fill_seconds = time.perf_counter() - started
    log(f"filled {opportunities:,} opportunities, {history:,} history rows in {fill_seconds:.1f} s")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) opportunities, opportunity_stage_history")
    vacuum_seconds = time.perf_counter() - started
    log(f"VACUUM (ANALYZE) in {vacuum_seconds:.1f} s")
    won, lost = expected or (0, 0)
    return {
        "opportunities": opportunities,
        "history_rows": history,
        "won": won,
        "lost": lost,
        "fill_s": round(fill_seconds, 2),
        "vacuum_analyze_s": round(vacuum_seconds, 2),
    }


def check(report: FunnelReport, made: dict[str, Any]) -> None:
    """The report adds up to what the fill made."""
    total = sum(group.opportunities for group in report.groups)
    first = sum(group.stages[0].reached for group in report.groups)
    won = sum(group.won for group in report.groups)
    lost = sum(group.stages[-1].current for group in report.groups)
    found = (total, first, won, lost)
    wanted = (made["opportunities"], made["opportunities"], made["won"], made["lost"])
    if found != wanted:
        raise SystemExit(f"{report.group_by}: the report says {found}, the fill made {wanted}")


def time_reports(url: str, made: dict[str, Any], repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    figures: dict[str, Any] = {}
    try:
        for grouping in GROUPINGS:
            seconds = []
            for _ in range(repeat):
                with open_session(engine) as session:
                    started = time.perf_counter()
                    report = funnel_report(session, group_by=grouping)
                    seconds.append(time.perf_counter() - started)
                check(report, made)
            median = statistics.median(seconds)
            figures[grouping] = {
                "groups": len(report.groups),
                "first_s": round(seconds[0], 3),
                "median_s": round(median, 3),
                "opportunities_per_s": round(made["opportunities"] / median),
            }
            log(f"group by {grouping}: {figures[grouping]}")
    finally:
        engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="opportunities to make")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each report")
    parser.add_argument("--pg-url", default=os.environ.get("TONGBU_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    url = recreate(args.pg_url)
    try:
        engine = create_engine(url)
        try:
            schema.upgrade(engine)
        finally:
            engine.dispose()
        made = fill(url, args.rows)
        timings = time_reports(url, made, args.repeat)
    finally:
        if not args.keep:
            drop(args.pg_url)
    with psycopg.connect(args.pg_url) as conn:
        server = conn.execute("SHOW server_version").fetchone()
    figures = {
        "machine": {"cpus": os.cpu_count(), "postgresql": server[0] if server else None},
        "data": made,
        "report": timings,
    }
    OUT_FILE.parent.mkdir(exist_ok=True)
    OUT_FILE.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    version = figures["machine"]["postgresql"]
    print(
        f"Funnel report over {made['opportunities']:,} opportunities "
        f"({made['history_rows']:,} stage-history rows), PostgreSQL {version}:"
    )
    for grouping, found in timings.items():
        print(
            f"  group by {grouping:<5}  {found['groups']:>3} group(s)"
            f"  first {found['first_s']:6.2f} s  median {found['median_s']:6.2f} s"
            f"  {found['opportunities_per_s']:>10,} opportunities/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
