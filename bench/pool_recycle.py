"""Benchmark of the nightly recycle of a public pool (``crm_core.rules.pool.recycle``) over a
million accounts on PostgreSQL, 5 % of them due.

1. **Fill** -- a fresh database ``tongbu_bench_recycle`` on the server of ``--pg-url`` (env
   ``TONGBU_BENCH_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``), migrated,
   then filled set-wise (``INSERT ... SELECT`` over ``generate_series``, with
   ``session_replication_role = replica`` so the fill itself skips change capture): 50
   salespeople and ``--rows`` accounts (default 1,000,000) of the pool ``east``, all held:

   * 5 % got 40 days ago and were never followed up: **due** (30 days without follow-up);
   * 2 % got 28.5 days ago, no follow-up: due in 1.5 days, so **warned** (3 days ahead);
   * 43 % got 100 days ago, with a call by their owner 5 days ago (one activity each);
   * 47 % got 10 days ago;
   * 3 % got 100 days ago but are **locked**.

   The pool also recycles accounts without a won deal for 365 days, so that criterion's query
   runs too (no account is due by it). Then ``VACUUM (ANALYZE)``.
2. **Recycle** -- a dry run (counts only), then the real run: one session (origin ``crm``)
   whose statements record each recycle in ``ownership_history``, clear the owners (change
   capture writes ``change_log`` set-wise), record the warnings and queue one notification per
   owner. The figures: wall time of each, accounts per second, and the counts, checked
   against the fill.

Figures go to the terminal and to ``bench/out/pool_recycle.json``. Run it::

    python bench/pool_recycle.py [--rows N] [--pg-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(BENCH))

from funnel import drop, log, recreate  # noqa: E402

from crm_core import schema  # noqa: E402
from crm_core.db import create_engine, open_session  # noqa: E402
from crm_core.models import Account, ChangeLog, Notification, OwnershipHistory  # noqa: E402
from crm_core.rules.pool import recycle  # noqa: E402
from crm_core.rules.settings import RulesSettings  # noqa: E402

OUT_FILE = BENCH / "out" / "pool_recycle.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "tongbu_bench_recycle"
NOW = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)  # 02:00 in Shanghai: the nightly run
USERS = 50

SETTINGS = RulesSettings.model_validate(
    {
        "pools": [
            {
                "name": "east",
                "entity": "accounts",
                "recycle": {"no_followup_days": 30, "no_won_deal_days": 365, "warn_days": 3},
                "channel": "sales",
            }
        ],
        "notifications": {"channels": {"sales": {"kind": "wecom", "webhook_env": "UNSET"}}},
    }
)

_USERS = """
INSERT INTO users (id, name, email)
SELECT gen_random_uuid(), 'sales ' || g, 'sales' || g || '@bench.example'
FROM generate_series(1, {users}) AS g
"""

_ACCOUNTS = """
INSERT INTO accounts (id, name, pool, owner_id, owned_since, pool_locked, created_at, updated_at)
SELECT gen_random_uuid(), '客户 ' || g, 'east', u.ids[1 + (g / 100) %% {users}],
       %(now)s - CASE WHEN g %% 100 < 5 THEN interval '40 days'
                      WHEN g %% 100 < 7 THEN interval '28 days 12 hours'
                      WHEN g %% 100 < 50 THEN interval '100 days'
                      WHEN g %% 100 < 97 THEN interval '10 days'
                      ELSE interval '100 days' END,
       g %% 100 >= 97, %(now)s - interval '400 days', %(now)s - interval '400 days'
FROM generate_series(1, {rows}) AS g,
     (SELECT array_agg(id ORDER BY email) AS ids FROM users) AS u
"""

_ACTIVITIES = """
INSERT INTO activities (id, type, subject, occurred_at, account_id, related_type, related_id,
                        owner_id, created_at, updated_at)
SELECT gen_random_uuid(), 'call', '回访', %(now)s - interval '5 days', a.id, 'accounts', a.id,
       a.owner_id, %(now)s, %(now)s
FROM accounts AS a
WHERE a.owned_since = %(now)s - interval '100 days' AND NOT a.pool_locked
"""


def fill(url: str, rows: int) -> dict[str, Any]:
    """The salespeople and ``rows`` held accounts; what was made."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(_USERS.format(users=USERS))
        conn.execute(_ACCOUNTS.format(users=USERS, rows=rows), {"now": NOW})
        conn.execute(_ACTIVITIES, {"now": NOW})
        activities = conn.execute("SELECT count(*) FROM activities").fetchone()
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) accounts, activities, users")
    made = {
        "accounts": rows,
        "activities": activities[0] if activities else 0,
        "due": sum(1 for g in range(1, rows + 1) if g % 100 < 5),
        "warned": sum(1 for g in range(1, rows + 1) if 5 <= g % 100 < 7),
        "fill_s": round(time.perf_counter() - started, 1),
    }
    log(f"filled {rows:,} accounts, {made['activities']:,} activities in {made['fill_s']} s")
    return made


def run(url: str, made: dict[str, Any]) -> dict[str, Any]:
    """The dry run and the real run, timed and checked."""
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        with open_session(engine, origin="crm") as session:
            planned = recycle(session, SETTINGS, now=NOW, dry_run=True)
        dry_s = time.perf_counter() - started
        log(f"dry run: {planned.recycled['east']:,} due, {planned.warned['east']:,} to warn")
        started = time.perf_counter()
        with open_session(engine, origin="crm") as session:
            done = recycle(session, SETTINGS, now=NOW)
        real_s = time.perf_counter() - started
        log(f"recycled {done.recycled['east']:,}, warned {done.warned['east']:,}")
        with open_session(engine) as session:
            owners_cleared = session.scalar(
                select(func.count()).select_from(Account).where(Account.owner_id.is_(None))
            )
            logged = session.scalar(
                select(func.count()).where(ChangeLog.entity == "accounts", ChangeLog.op == "update")
            )
            history = dict(
                session.execute(
                    select(OwnershipHistory.action, func.count()).group_by(OwnershipHistory.action)
                ).all()
            )
            notifications = session.scalar(select(func.count()).select_from(Notification))
    finally:
        engine.dispose()
    checks = {
        "due in the dry run": (planned.recycled["east"], made["due"]),
        "to warn in the dry run": (planned.warned["east"], made["warned"]),
        "recycled": (done.recycled["east"], made["due"]),
        "warned": (done.warned["east"], made["warned"]),
        "accounts without an owner": (owners_cleared, made["due"]),
        "owner changes in change_log": (logged, made["due"]),
        "recycles in ownership_history": (history.get("recycle"), made["due"]),
        "warnings in ownership_history": (history.get("warn"), made["warned"]),
        "notifications (one per owner)": (notifications, USERS),
    }
    for name, (found, expected) in checks.items():
        if found != expected:
            raise SystemExit(f"{name}: {found}, where the fill makes it {expected}")
    return {
        "dry_run_s": round(dry_s, 2),
        "recycle_s": round(real_s, 2),
        "accounts_per_s": round(made["accounts"] / real_s),
        "recycled": done.recycled["east"],
        "warned": done.warned["east"],
        "notifications": notifications,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="accounts to make")
    parser.add_argument("--pg-url", default=os.environ.get("TONGBU_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    url = recreate(args.pg_url, DATABASE)
    try:
        engine = create_engine(url)
        try:
            schema.upgrade(engine)
        finally:
            engine.dispose()
        made = fill(url, args.rows)
        timings = run(url, made)
    finally:
        if not args.keep:
            drop(args.pg_url, DATABASE)
    figures = {"machine": {"cpus": os.cpu_count()}, "data": made, "recycle": timings}
    OUT_FILE.parent.mkdir(exist_ok=True)
    OUT_FILE.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(
        f"Nightly recycle over {made['accounts']:,} accounts on PostgreSQL "
        f"({made['due']:,} due, {made['warned']:,} to warn):"
    )
    print(f"  dry run    {timings['dry_run_s']:7.2f} s")
    print(
        f"  recycle    {timings['recycle_s']:7.2f} s  ({timings['accounts_per_s']:,} accounts/s; "
        f"{timings['recycled']:,} recycled, {timings['warned']:,} warned, "
        f"{timings['notifications']} notifications)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
