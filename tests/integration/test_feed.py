"""The change feed is read in commit-safe order: a late commit is never skipped."""

from __future__ import annotations

import threading

import psycopg

from crm_core import records
from crm_core.changes import FeedPosition, feed_horizon, read_changes
from crm_core.db import open_session
from crm_core.models import Account, Contact
from tests.conftest import Database


def _read_all(db: Database, after: FeedPosition) -> tuple[list[str], FeedPosition]:
    with open_session(db.engine) as session:
        horizon = feed_horizon(session)
        if horizon is None or horizon <= after:
            return [], after
        found = read_changes(session, after, until=horizon, limit=1000)
    return [f"{c.entity}:{c.op}" for c in found], horizon


def test_reading_in_pages_and_by_entity(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        for number in range(5):
            records.create(session, Account, {"name": f"account {number}"})
            records.create(session, Contact, {"last_name": f"contact {number}"})

    with open_session(db.engine) as session:
        horizon = feed_horizon(session)
        assert horizon is not None
        pages, position = [], FeedPosition()
        while page := read_changes(session, position, until=horizon, limit=3):
            pages.append(page)
            position = page[-1].position
        contacts = read_changes(
            session, FeedPosition(), until=horizon, entities={"contacts"}, limit=100
        )
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    ids = [change.id for page in pages for change in page]
    assert ids == sorted(ids)
    assert [c.entity for c in contacts] == ["contacts"] * 5


def test_a_transaction_that_commits_late_is_not_skipped(pg: Database) -> None:
    """On PostgreSQL ids are taken before commit: a reader must wait for the slower writer.

    (SQLite has one writer at a time, so its ids always commit in order.)
    """
    db, url = pg, pg.url
    slow = psycopg.connect(url)
    slow.execute("INSERT INTO accounts (name) VALUES ('slow writer, smaller id')")
    with psycopg.connect(url, autocommit=True) as fast:
        fast.execute("INSERT INTO accounts (name) VALUES ('fast writer, larger id')")

    seen, position = _read_all(db, FeedPosition())
    assert seen == []  # the fast commit waits behind the open slower transaction

    slow.commit()
    slow.close()
    seen, position = _read_all(db, position)
    assert seen == ["accounts:insert", "accounts:insert"]


def test_concurrent_writers_lose_nothing(db: Database) -> None:
    """Eight threads write while a reader follows the feed: every change is read exactly once."""
    writes_per_thread = 25

    def write(thread: int) -> None:
        for number in range(writes_per_thread):
            with open_session(db.engine, origin="crm") as session:
                records.create(session, Account, {"name": f"{thread}-{number}"})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    position = FeedPosition()
    while any(thread.is_alive() for thread in threads):
        page, position = _read_all(db, position)
        seen.extend(page)
    for thread in threads:
        thread.join()
    page, position = _read_all(db, position)
    seen.extend(page)
    assert len(seen) == 8 * writes_per_thread
