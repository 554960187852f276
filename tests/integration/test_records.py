"""Records: optimistic concurrency, exact money, timestamps in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm_core import records
from crm_core.db import open_session
from crm_core.errors import InvalidInput, NotFound, StaleVersionError
from crm_core.models import Account, ChangeLog, Invoice, new_id
from tests.conftest import Database


def test_a_stale_version_fails_clearly_and_changes_nothing(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        account = records.create(session, Account, {"name": "苏州恒达物流有限公司"})
    with open_session(db.engine, origin="crm") as session:
        records.update(session, Account, account.id, {"city": "苏州"}, expected_version=1)

    with (
        pytest.raises(StaleVersionError, match="expected version 1 but it is now at version 2"),
        open_session(db.engine, origin="crm") as session,
    ):
        records.update(session, Account, account.id, {"city": "上海"}, expected_version=1)

    with open_session(db.engine) as session:
        stored = records.get(session, Account, account.id)
        assert (stored.city, stored.version) == ("苏州", 2)
        assert session.scalar(select(func.count()).select_from(ChangeLog)) == 2


def test_an_edit_based_on_a_stale_read_is_refused(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        account = records.create(session, Account, {"name": "race"})
    with open_session(db.engine) as reader:  # a second user opens the record (version 1)
        seen = records.get(reader, Account, account.id)
    with open_session(db.engine, origin="crm") as first:  # the first user saves an edit
        records.update(first, Account, account.id, {"city": "杭州"}, expected_version=1)

    def save_stale_edit() -> None:
        with open_session(db.engine, origin="crm") as second:
            second.add(seen)
            seen.city = "苏州"

    with pytest.raises(StaleVersionError):
        save_stale_edit()

    with open_session(db.engine) as session:
        stored = records.get(session, Account, account.id)
        assert (stored.city, stored.version) == ("杭州", 2)


def test_updating_a_missing_record_is_not_found(db: Database) -> None:
    with (
        pytest.raises(NotFound, match="no account with id"),
        open_session(db.engine, origin="crm") as session,
    ):
        records.update(session, Account, new_id(), {"city": "x"}, expected_version=1)


def test_fields_are_checked(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        with pytest.raises(InvalidInput, match="has no field 'colour'"):
            records.create(session, Account, {"name": "x", "colour": "red"})
        with pytest.raises(InvalidInput, match="kept by the hub"):
            records.create(session, Account, {"name": "x", "version": 7})


def test_soft_deleted_records_are_hidden_unless_asked_for(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        account = records.create(session, Account, {"name": "gone"})
        records.soft_delete(session, Account, account.id, expected_version=1)
    with open_session(db.engine) as session:
        with pytest.raises(NotFound):
            records.get(session, Account, account.id)
        assert records.get(session, Account, account.id, include_deleted=True).is_deleted


def test_money_is_exact_and_times_come_back_in_utc(db: Database) -> None:
    beijing = timezone(timedelta(hours=8))
    issued = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=beijing)
    amount = Decimal("1234567890123456.7891")  # more digits than a float can hold
    with open_session(db.engine, origin="crm") as session:
        invoice = records.create(
            session,
            Invoice,
            {
                "number": "INV-2026-0001",
                "currency": "CNY",
                "net_amount": amount,
                "total_amount": amount,
                "deleted_at": None,
                "custom": {"paid_via": "支付宝"},
            },
        )
        session.flush()
        records.update(
            session, Invoice, invoice.id, {"due_date": issued.date()}, expected_version=1
        )
        records.update(session, Invoice, invoice.id, {"deleted_at": issued}, expected_version=2)
    with open_session(db.engine) as session:
        stored = records.get(session, Invoice, invoice.id, include_deleted=True)
        assert stored.total_amount == amount
        assert str(stored.total_amount) == "1234567890123456.7891"
        assert stored.deleted_at == issued
        assert stored.deleted_at is not None
        assert stored.deleted_at.tzinfo == UTC
        assert stored.custom == {"paid_via": "支付宝"}


def test_naive_datetimes_and_floats_are_refused(db: Database) -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with (
        pytest.raises(Exception, match="naive datetime"),
        open_session(db.engine, origin="crm") as s,
    ):
        records.create(s, Account, {"name": "x", "deleted_at": naive})
    with pytest.raises(Exception, match="not exact"), open_session(db.engine, origin="crm") as s:
        records.create(
            s, Invoice, {"number": "1", "currency": "CNY", "net_amount": 0.1, "total_amount": 0.1}
        )
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(ChangeLog)) == 0
