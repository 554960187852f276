"""``tongbu merge`` as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

import pytest
from sqlalchemy import func, select

from crm_core import records
from crm_core.db import open_session
from crm_core.models import Account, AccountContact, ChangeLog, Contact, MergeHistory, Order
from tests.conftest import Database
from tests.e2e.test_cli import assert_clear_error, tongbu


@dataclass(frozen=True)
class Duplicates:
    """Two records of one company, and a third one's contact."""

    kept: UUID
    dup: UUID
    contact: UUID


@pytest.fixture
def dups(db: Database) -> Duplicates:
    with open_session(db.engine, origin="crm") as session:
        kept = records.create(session, Account, {"name": "杭州华信电子科技有限公司"}).id
        dup = records.create(
            session, Account, {"name": "华信电子", "phone": "0571-88888888", "city": "杭州"}
        ).id
        contact = records.create(session, Contact, {"first_name": "伟", "last_name": "张"}).id
        records.create(session, AccountContact, {"account_id": dup, "contact_id": contact})
        records.create(
            session, Order, {"number": "SO-1", "account_id": dup, "total_amount": Decimal(9)}
        )
    return Duplicates(kept, dup, contact)


def merges(db: Database) -> list[MergeHistory]:
    with open_session(db.engine) as session:
        return list(session.scalars(select(MergeHistory)))


def test_a_dry_run_prints_the_plan_and_writes_nothing(db: Database, dups: Duplicates) -> None:
    with open_session(db.engine) as session:
        logged = session.scalar(select(func.count()).select_from(ChangeLog))

    result = tongbu(
        "merge",
        "records",
        "--entity",
        "account",
        str(dups.kept),
        str(dups.dup),
        "--survivor",
        dups.kept.hex[-8:],
        "--dry-run",
        url=db.url,
    )

    assert result.returncode == 0, result.stderr
    for expected in (
        f"Merge 2 accounts into {dups.kept} 杭州华信电子科技有限公司 (chosen)",
        f"merged away: {dups.dup} 华信电子",
        "0571-88888888 *",
        "most_recent",
        "account_contacts",
        "Dry run: nothing was written.",
    ):
        assert expected in result.stdout
    assert merges(db) == []
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(ChangeLog)) == logged


def test_merge_list_show_and_undo(db: Database, dups: Duplicates) -> None:
    merged = tongbu(
        "merge",
        "records",
        "-e",
        "account",
        dups.kept.hex[:20],
        str(dups.dup),
        "--survivor",
        str(dups.kept),
        url=db.url,
    )
    assert merged.returncode == 0, merged.stderr
    [history] = merges(db)
    short = history.id.hex[-8:]
    assert f"Merged 1 account(s) into {dups.kept} (merge {short})" in merged.stdout

    listed = tongbu("merge", "list", "--entity", "account", url=db.url)
    assert listed.returncode == 0, listed.stderr
    assert short in listed.stdout
    assert "杭州华信电子科技有限公司" in listed.stdout
    assert "merged" in listed.stdout

    shown = tongbu("merge", "show", short, url=db.url)
    assert shown.returncode == 0, shown.stderr
    for expected in (
        f"survivor: {dups.kept} 杭州华信电子科技有限公司",
        f"merged:   {dups.dup} 华信电子",
        "0571-88888888 *",
        "orders",
        "account_contacts",
    ):
        assert expected in shown.stdout

    old = tongbu("accounts", "show", str(dups.dup), url=db.url)
    assert old.returncode == 0, old.stderr
    assert f"Account {dups.dup} was merged into {dups.kept}" in old.stdout
    assert "张伟" in old.stdout  # the contact moved to the survivor

    undone = tongbu("merge", "undo", short, url=db.url)
    assert undone.returncode == 0, undone.stderr
    assert f"Undid merge {short}: 1 account(s) restored" in undone.stdout
    assert "undone" in tongbu("merge", "list", url=db.url).stdout
    again = tongbu("merge", "undo", short, url=db.url)
    assert_clear_error(again, "was already undone")
    back = tongbu("accounts", "show", str(dups.dup), url=db.url)
    assert "was merged into" not in back.stdout
    assert "华信电子" in back.stdout


def test_unknown_and_malformed_ids_are_clear_errors(db: Database, dups: Duplicates) -> None:
    assert_clear_error(tongbu("merge", "show", "abcdef12", url=db.url), "no merge with an id")
    assert_clear_error(
        tongbu("merge", "undo", "01a213cf-0000-7000-8000-000000000000", url=db.url),
        "no merge with id",
    )
    assert_clear_error(tongbu("merge", "show", "xyz", url=db.url), "is not a valid merge id")
    missing = "01a213cf-0000-7000-8000-000000000000"
    assert_clear_error(
        tongbu("merge", "records", "-e", "account", str(dups.kept), missing, url=db.url),
        f"no account with id {missing}",
    )
    assert_clear_error(
        tongbu("merge", "records", "-e", "order", str(dups.kept), str(dups.dup), url=db.url),
        "'order' records cannot be merged",
    )
    assert_clear_error(
        tongbu("merge", "records", "-e", "account", str(dups.kept), url=db.url),
        "at least two different records",
    )
    assert merges(db) == []


def test_records_that_must_not_merge_are_refused(db: Database, dups: Duplicates) -> None:
    with open_session(db.engine, origin="crm") as session:
        branch = records.create(
            session, Account, {"name": "华信苏州分公司", "parent_id": dups.kept}
        )
    result = tongbu("merge", "records", "-e", "account", str(dups.kept), str(branch.id), url=db.url)
    assert_clear_error(result, f"is a branch of {dups.kept}")
