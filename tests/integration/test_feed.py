"""The change feed is read in commit order: every change exactly once, a late commit never
skipped, and a long transaction never holding the others back."""

from __future__ import annotations

import threading

import psycopg

from crm_core import records
from crm_core.changes import FeedPosition, current_position, read_change_keys, read_changes
from crm_core.db import open_session
from crm_core.models import Account, Contact
from tests.conftest import Database


def follow(db: Database, position: FeedPosition) -> tuple[list[int], FeedPosition]:
    """Read everything there is after ``position`` (change ids), as a consumer would."""
    seen: list[int] = []
    while True:
        with open_session(db.engine) as session:
            page, position = read_changes(session, position, limit=7)
        seen.extend(change.id for change in page)
        if not page:
            return seen, position


def test_reading_in_pages_and_by_entity(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        for number in range(5):
            records.create(session, Account, {"name": f"account {number}"})
            records.create(session, Contact, {"last_name": f"contact {number}"})

    pages, position = [], FeedPosition()
    with open_session(db.engine) as session:
        while True:
            page, position = read_changes(session, position, limit=3)
            if not page:
                break
            pages.append(page)
        contacts, _ = read_change_keys(session, FeedPosition(), entities={"contacts"}, limit=100)
        again, _ = read_changes(session, position, limit=3)
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    ids = [change.id for page in pages for change in page]
    assert ids == sorted(ids)
    assert [entity for entity, _record in contacts] == ["contacts"] * 5
    assert again == []


def test_positions_survive_a_round_trip_through_json(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        records.create(session, Account, {"name": "x"})
    with open_session(db.engine) as session:
        _, position = read_changes(session, FeedPosition(), limit=1)
        assert FeedPosition.from_json(position.to_json()) == position
        assert read_changes(session, FeedPosition.from_json(position.to_json()))[0] == []
        assert read_changes(session, current_position(session))[0] == []


def test_a_late_commit_is_read_later_and_an_open_transaction_holds_nothing_back(
    pg: Database,
) -> None:
    """On PostgreSQL ids are taken before commit: the slower writer has the smaller id."""
    slow = psycopg.connect(pg.url)
    slow.execute("INSERT INTO accounts (name) VALUES ('slow writer, smaller id')")
    with psycopg.connect(pg.url, autocommit=True) as fast:
        fast.execute("INSERT INTO accounts (name) VALUES ('fast writer, larger id')")

    first, position = follow(pg, FeedPosition())
    assert len(first) == 1  # the fast commit, though the slower transaction is still open

    slow.commit()
    slow.close()
    second, position = follow(pg, position)
    assert len(second) == 1
    assert second[0] < first[0]  # the smaller id, read late but read
    assert follow(pg, position)[0] == []


def test_concurrent_writers_lose_nothing_and_repeat_nothing(db: Database) -> None:
    """Eight threads write while a reader follows the feed: every change is read exactly once."""
    writes_per_thread = 25

    def write(thread: int) -> None:
        for number in range(writes_per_thread):
            with open_session(db.engine, origin="crm") as session:
                records.create(session, Account, {"name": f"{thread}-{number}"})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    position = FeedPosition()
    while any(thread.is_alive() for thread in threads):
        page, position = follow(db, position)
        seen.extend(page)
    for thread in threads:
        thread.join()
    page, position = follow(db, position)
    seen.extend(page)
    assert len(seen) == 8 * writes_per_thread
    assert len(set(seen)) == len(seen)
