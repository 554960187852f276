"""Bulk upsert: creates, updates, leaves unchanged rows alone, rejects bad rows with a reason,
and keeps change capture on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_core import bulk, records
from crm_core.db import open_session
from crm_core.errors import InvalidInput
from crm_core.models import Account, ChangeLog, Invoice, User, new_id
from tests.conftest import Database


def accounts(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for number in range(start, start + count):
        yield {
            "name": f"杭州华信电子科技有限公司{number}",
            "credit_code": f"91330108MA2{number:07d}",
            "phone": f"138{number:08d}",
            "custom": {"legacy_id": number},
        }


def log_counts(db: Database) -> Counter[tuple[str, str]]:
    with open_session(db.engine) as session:
        rows = session.execute(
            select(ChangeLog.op, ChangeLog.origin, func.count()).group_by(
                ChangeLog.op, ChangeLog.origin
            )
        ).all()
    return Counter({(op, origin): count for op, origin, count in rows})


def test_load_creates_then_updates_only_what_changed(db: Database) -> None:
    first = bulk.load(
        db.engine, Account, accounts(1200), origin="migration", key="credit_code", batch_size=500
    )
    assert (first.created, first.updated, first.unchanged, first.rejected) == (1200, 0, 0, [])

    again = list(accounts(1200))
    again[10]["name"] = "华信电子（杭州）"
    again[900]["phone"] = "+86 139 0000 0000"
    second = bulk.load(
        db.engine, Account, again, origin="kingdee", key="credit_code", batch_size=500
    )
    assert (second.created, second.updated, second.unchanged) == (0, 2, 1198)

    assert log_counts(db) == {("insert", "migration"): 1200, ("update", "kingdee"): 2}
    with open_session(db.engine) as session:
        changed = session.scalars(
            select(ChangeLog.changed).where(ChangeLog.op == "update").order_by(ChangeLog.id)
        ).all()
        assert changed == [{"name": "华信电子（杭州）"}, {"phone": "+86 139 0000 0000"}]
        renamed = session.scalars(
            select(Account).where(Account.credit_code == "91330108MA20000010")
        ).one()
        assert (renamed.name, renamed.version, renamed.custom) == (
            "华信电子（杭州）",
            2,
            {"legacy_id": 10},
        )


def test_bad_rows_are_rejected_with_a_reason_and_the_rest_is_written(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        owner = records.create(session, User, {"name": "王磊"})
    rows: list[dict[str, Any]] = [
        {"name": "ok", "credit_code": "A1", "owner_id": owner.id},
        {"name": None, "credit_code": "A2", "owner_id": None},
        {"name": "x" * 10, "credit_code": None, "owner_id": None},
        {"name": 42, "credit_code": "A3", "owner_id": None},
        {"name": "ghost owner", "credit_code": "A4", "owner_id": new_id()},
        {"name": "too long code", "credit_code": "C" * 40, "owner_id": None},
    ]
    with open_session(db.engine, origin="migration") as session:
        result = bulk.bulk_upsert(session, Account, rows, key="credit_code")

    assert result.created == 1
    reasons = {r.index: r.reason for r in result.rejected}
    assert reasons[1] == "name is required"
    assert reasons[2] == "credit_code is missing"
    assert reasons[3] == "name: expected text, got int"
    assert "owner_id" in reasons[4]
    assert "does not exist in users" in reasons[4]
    assert reasons[5] == "credit_code: longer than 32 characters"
    assert result.rejected[0].row is rows[1]
    assert log_counts(db) == {("insert", "crm"): 1, ("insert", "migration"): 1}


def test_a_unique_value_held_by_another_record_is_rejected(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        holder = records.create(session, Account, {"name": "holder", "credit_code": "CODE-1"})
    rows = [
        {"id": new_id(), "name": "claims the code", "credit_code": "CODE-1"},
        {"id": new_id(), "name": "first with CODE-2", "credit_code": "CODE-2"},
        {"id": new_id(), "name": "second with CODE-2", "credit_code": "CODE-2"},
    ]
    with open_session(db.engine, origin="migration") as session:
        result = bulk.bulk_upsert(session, Account, rows)

    assert result.created == 1
    reasons = {r.index: r.reason for r in result.rejected}
    assert reasons[0] == f"credit_code 'CODE-1' already belongs to accounts {holder.id}"
    assert reasons[2] == "credit_code 'CODE-2' is also given to an earlier row of the batch"
    assert result.ids == [None, rows[1]["id"], None]


def test_the_last_row_of_a_key_wins_within_a_batch(db: Database) -> None:
    rows = [
        {"name": "first", "credit_code": "SAME"},
        {"name": "second", "credit_code": "SAME"},
    ]
    with open_session(db.engine, origin="migration") as session:
        result = bulk.bulk_upsert(session, Account, rows, key="credit_code")
    assert (result.created, result.superseded) == (1, 1)
    assert result.ids[0] == result.ids[1]
    with open_session(db.engine) as session:
        assert session.scalars(select(Account.name)).all() == ["second"]


def test_ids_can_be_given_and_updates_match_on_them(db: Database) -> None:
    record_id = new_id()
    with open_session(db.engine, origin="migration") as session:
        bulk.bulk_upsert(session, Account, [{"id": record_id, "name": "v1"}])
    with open_session(db.engine, origin="migration") as session:
        result = bulk.bulk_upsert(session, Account, [{"id": str(record_id), "name": "v2"}])
    assert (result.created, result.updated, result.ids) == (0, 1, [record_id])
    with open_session(db.engine) as session:
        assert records.get(session, Account, record_id).name == "v2"


def test_money_dates_and_defaults_survive_the_bulk_path(db: Database) -> None:
    rows = [
        {
            "number": "INV-1",
            "currency": "CNY",
            "net_amount": "1234567890123456.7891",
            "total_amount": Decimal("10.50"),
            "issue_date": "2026-11-25",
        }
    ]
    with open_session(db.engine, origin="migration") as session:
        result = bulk.bulk_upsert(session, Invoice, rows, key="number")
    assert result.created == 1
    with open_session(db.engine) as session:
        invoice = session.scalars(select(Invoice)).one()
        assert invoice.net_amount == Decimal("1234567890123456.7891")
        assert invoice.total_amount == Decimal("10.50")
        assert str(invoice.issue_date) == "2026-11-25"
        assert (invoice.status.value, invoice.tax_amount, invoice.version) == (
            "draft",
            Decimal(0),
            1,
        )


def test_a_batch_must_name_known_fields(db: Database) -> None:
    with open_session(db.engine, origin="migration") as session:
        with pytest.raises(InvalidInput, match="accounts has no field 'colour'"):
            bulk.bulk_upsert(session, Account, [{"name": "x", "colour": "red"}])
        with pytest.raises(InvalidInput, match="'website' is not a unique field"):
            bulk.bulk_upsert(session, Account, [{"name": "x", "website": "w"}], key="website")
        with pytest.raises(InvalidInput, match="need the field"):
            bulk.bulk_upsert(session, Account, [{"credit_code": "x"}], key="credit_code")
