"""Every write to a CRM entity lands in change_log, in the same transaction, with its origin."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from sqlalchemy import select

from crm_core import records
from crm_core.changes import Change, FeedPosition, read_changes
from crm_core.db import open_session
from crm_core.models import (
    Account,
    Opportunity,
    OpportunityStageHistory,
    Pipeline,
    Stage,
    User,
)
from tests.conftest import Database


def changes(db: Database) -> list[Change]:
    """The whole change feed, oldest first."""
    with open_session(db.engine) as session:
        found, _ = read_changes(session, FeedPosition(), limit=100_000)
    return found


@contextmanager
def outside(db: Database) -> Iterator[Any]:
    """A connection that bypasses the hub entirely, like psql or the sqlite3 shell."""
    if db.is_postgres:
        with psycopg.connect(db.url) as pg_connection:
            yield pg_connection
    else:
        connection = sqlite3.connect(db.url.removeprefix("sqlite:///"))
        try:
            yield connection
            connection.commit()
        finally:
            connection.close()


def key(db: Database, record_id: UUID) -> str:
    """How an id is written in raw SQL on this database."""
    return str(record_id) if db.is_postgres else record_id.hex


def new_account(db: Database, origin: str = "crm", **values: Any) -> Account:
    with open_session(db.engine, origin=origin) as session:
        return records.create(session, Account, {"name": "杭州华信电子科技有限公司", **values})


def test_orm_insert_is_logged_once_with_origin_crm(db: Database) -> None:
    account = new_account(db, phone="13800138000")

    [change] = changes(db)
    assert (change.entity, change.record_id, change.op) == ("accounts", account.id, "insert")
    assert change.origin == "crm"
    assert change.version == 1
    assert change.changed is None  # an insert: every column is new


def test_update_lists_only_the_changed_columns_with_their_new_values(db: Database) -> None:
    account = new_account(db, phone="13800138000", city="杭州")
    with open_session(db.engine, origin="kingdee") as session:
        records.update(
            session,
            Account,
            account.id,
            {"phone": "+86 138 0013 8000", "city": "杭州", "custom": {"tier": "A"}},
            expected_version=1,
        )

    update = changes(db)[-1]
    assert update.op == "update"
    assert update.origin == "kingdee"
    assert update.version == 2
    # city was "set" to its old value: not a change.
    assert update.changed == {"phone": "+86 138 0013 8000", "custom": {"tier": "A"}}


def test_changed_values_decode_to_python_values_on_both_databases(db: Database) -> None:
    account = new_account(db)
    when = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    with open_session(db.engine, origin="crm") as session:
        owner = records.create(session, User, {"name": "王磊"})
        records.update(
            session,
            Account,
            account.id,
            {"owner_id": owner.id, "deleted_at": when},
            expected_version=1,
        )

    update = changes(db)[-1]
    assert update.changed == {"owner_id": owner.id, "deleted_at": when}


def test_soft_delete_and_restore_are_their_own_operations(db: Database) -> None:
    account = new_account(db)
    with open_session(db.engine, origin="crm") as session:
        records.soft_delete(session, Account, account.id, expected_version=1)
    with open_session(db.engine, origin="crm") as session:
        records.restore(session, Account, account.id, expected_version=2)

    soft_delete, restore = changes(db)[1:]
    assert (soft_delete.op, soft_delete.version) == ("soft_delete", 2)
    assert set(soft_delete.changed or {}) == {"deleted_at"}
    assert (restore.op, restore.version) == ("restore", 3)
    assert restore.changed == {"deleted_at": None}


def test_hard_delete_is_logged_with_the_next_version(db: Database) -> None:
    account = new_account(db)
    with open_session(db.engine, origin="crm") as session:
        records.delete(session, Account, account.id, expected_version=1)

    delete = changes(db)[-1]
    assert (delete.op, delete.record_id, delete.version, delete.changed) == (
        "delete",
        account.id,
        2,
        None,
    )


def test_a_rolled_back_transaction_leaves_no_change(db: Database) -> None:
    def write_then_fail() -> None:
        with open_session(db.engine, origin="crm") as session:
            records.create(session, Account, {"name": "never committed"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert changes(db) == []
    with open_session(db.engine) as session:
        assert session.scalars(select(Account)).all() == []


def test_raw_sql_from_outside_the_hub_is_captured_as_external(db: Database) -> None:
    account = new_account(db, phone="13800138000")

    with outside(db) as connection:
        connection.execute(
            "UPDATE accounts SET name = '华信电子（杭州）', phone = phone WHERE id = "
            f"'{key(db, account.id)}'"
        )

    update = changes(db)[-1]
    assert (update.op, update.origin) == ("update", "external")
    assert update.changed == {"name": "华信电子（杭州）"}
    assert update.version == 2
    with open_session(db.engine) as session:
        stored = session.get(Account, account.id)
        assert stored is not None
        assert stored.version == 2  # the database bumped the version for the outside writer
        assert stored.updated_at > account.updated_at


def test_raw_insert_and_delete_from_outside_are_captured(db: Database) -> None:
    with outside(db) as connection:
        connection.execute("INSERT INTO accounts (name, status) VALUES ('外部新增', 'active')")
    with open_session(db.engine) as session:
        created = session.scalars(select(Account)).one()
        assert created.version == 1
    with outside(db) as connection:
        connection.execute(f"DELETE FROM accounts WHERE id = '{key(db, created.id)}'")

    insert, delete = changes(db)
    assert (insert.op, insert.origin, insert.record_id) == ("insert", "external", created.id)
    assert (delete.op, delete.origin, delete.record_id) == ("delete", "external", created.id)


def test_an_update_that_changes_nothing_is_not_a_change(db: Database) -> None:
    account = new_account(db, city="杭州")

    with outside(db) as connection:
        connection.execute(f"UPDATE accounts SET city = '杭州' WHERE id = '{key(db, account.id)}'")

    assert [change.op for change in changes(db)] == ["insert"]
    with open_session(db.engine) as session:
        assert session.scalars(select(Account.version)).one() == 1


def test_the_id_of_a_record_cannot_change(db: Database) -> None:
    account = new_account(db)
    other = UUID("01a213cf-0000-7000-8000-000000000000")

    with pytest.raises(Exception, match="id of a accounts row cannot change"), outside(db) as c:
        c.execute(f"UPDATE accounts SET id = '{key(db, other)}' WHERE id = '{key(db, account.id)}'")


def test_the_actor_is_recorded(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        user = records.create(session, User, {"name": "陈静"})
    with open_session(db.engine, origin="crm", actor_id=user.id) as session:
        account = records.create(session, Account, {"name": "x"}, actor_id=user.id)

    change = changes(db)[-1]
    assert (change.record_id, change.actor_id) == (account.id, user.id)
    assert account.created_by == user.id


def test_cascades_are_captured_too(db: Database) -> None:
    account = new_account(db)
    with open_session(db.engine, origin="crm") as session:
        deal = records.create(session, Opportunity, {"name": "deal", "account_id": account.id})
    with open_session(db.engine, origin="crm") as session:
        records.delete(session, Account, account.id, expected_version=1)

    logged = {(c.entity, c.op): c for c in changes(db)}
    cascade = logged[("opportunities", "update")]
    assert cascade.record_id == deal.id
    assert cascade.changed == {"account_id": None}
    assert cascade.origin == "crm"


def test_stage_changes_write_the_stage_history(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        pipeline = records.create(session, Pipeline, {"name": "标准销售流程"})
        first = records.create(
            session, Stage, {"pipeline_id": pipeline.id, "name": "初步接洽", "position": 1}
        )
        second = records.create(
            session, Stage, {"pipeline_id": pipeline.id, "name": "方案报价", "position": 2}
        )
        deal = records.create(
            session, Opportunity, {"name": "deal", "stage_id": first.id, "amount": Decimal("5.5")}
        )
    with outside(db) as connection:
        connection.execute(
            f"UPDATE opportunities SET stage_id = '{key(db, second.id)}' "
            f"WHERE id = '{key(db, deal.id)}'"
        )

    with open_session(db.engine) as session:
        history = session.scalars(
            select(OpportunityStageHistory).order_by(OpportunityStageHistory.entered_at)
        ).all()
    assert [(h.from_stage_id, h.to_stage_id) for h in history] == [
        (None, first.id),
        (first.id, second.id),
    ]
    assert all(h.opportunity_id == deal.id for h in history)
