"""``run_migration`` on SQLite and on PostgreSQL: its report agrees with counts taken
independently from the source and the database; merges made on the way in are undoable; rows of
a customer already in the core merge into it; every write is captured; quarantined rows keep
what is needed to fix them."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from crm_core import records
from crm_core.db import open_session
from crm_core.dedup._merge import undo_merge
from crm_core.mapping import load_mapping
from crm_core.migrate import CsvSource, MigrationOptions, MigrationReport, run_migration
from crm_core.models import Account, ChangeLog, MergeHistory, Quarantine, Xref
from tests.conftest import Database
from tests.integration.migrate_helpers import COLUMNS, MAPPING, code, legacy_file, write_csv

HUAXIN = code("91330106MA2CF3K2X")
MINGDA = code("91310101MA1FP0XX2")


def migrate(db: Database, path: Path, chunk_size: int = 100) -> MigrationReport:
    return run_migration(
        db.engine,
        CsvSource(path),
        load_mapping(MAPPING),
        options=MigrationOptions(chunk_size=chunk_size),
    )


def links(db: Database) -> dict[str, tuple[UUID, UUID | None]]:
    """Each legacy key: the record it is linked to, and the record merged away for it."""
    with open_session(db.engine) as session:
        rows = session.execute(
            select(Xref.external_id, Xref.record_id, Xref.merged_from_id).where(
                Xref.system == "legacy", Xref.external_entity == "accounts"
            )
        )
        return {key: (record, merged) for key, record, merged in rows}


def accounts(db: Database) -> dict[UUID, Account]:
    with open_session(db.engine) as session:
        return {account.id: account for account in session.scalars(select(Account))}


# --------------------------------------------------------------------------- counts


def test_the_report_counts_match_the_source_and_the_database(db: Database, tmp_path: Path) -> None:
    source = legacy_file(tmp_path / "legacy.csv", 600, seed=5)
    with source.path.open(encoding="utf-8", newline="") as stream:
        lines = list(csv.reader(stream))[1:]
    invalid = source.invalid
    loaded = source.loaded
    customers = {source.entities[index] for index in loaded}

    report = migrate(db, source.path)

    total = report.total
    assert total.read == len(lines) == 600
    assert total.read == total.created + total.updated + total.merged + total.quarantined
    assert total.updated == total.unchanged == 0
    assert total.quarantined == len(invalid) > 20
    assert total.created + total.merged == len(loaded)
    assert abs(total.created - len(customers)) <= max(2, len(customers) // 100), (
        f"{total.created} accounts for {len(customers)} customers"
    )
    assert report.to_json()["sources"] == [
        {"source": "legacy.csv", "entity": "accounts", **total.to_json()}
    ]
    stored = accounts(db).values()
    live = [a for a in stored if a.deleted_at is None and a.merged_into_id is None]
    merged = [a for a in stored if a.merged_into_id is not None]
    assert len(live) == total.created
    assert len(merged) == total.merged
    assert all(account.deleted_at is not None for account in merged)
    with open_session(db.engine) as session:
        positions = Counter(
            row.payload["position"]
            for row in session.scalars(
                select(Quarantine).where(Quarantine.run_id == UUID(str(report.run_id)))
            )
        )
        merges = session.scalar(select(func.count()).select_from(MergeHistory))
    assert positions == Counter(f"line {index + 2}" for index in invalid)
    assert merges == len({a.merged_into_id for a in merged})

    linked = links(db)
    assert sorted(linked) == sorted(source.rows[index]["id"] for index in loaded)
    entity_of = {source.rows[index]["id"]: source.entities[index] for index in loaded}
    own = {record: key for key, (record, merged_from) in linked.items() if merged_from is None}
    assert len(own) == total.created
    pairs = [
        (entity_of[key], entity_of[own[record]])
        for key, (record, merged_from) in linked.items()
        if merged_from is not None
    ]
    right = sum(loser == survivor for loser, survivor in pairs)
    assert right >= 0.97 * len(pairs), f"{len(pairs) - right} of {len(pairs)} merges are wrong"


# --------------------------------------------------------------------------- merges


def test_every_merge_of_the_run_can_be_undone(db: Database, tmp_path: Path) -> None:
    source = legacy_file(tmp_path / "legacy.csv", 300, seed=8)
    report = migrate(db, source.path)
    with open_session(db.engine) as session:
        merge_ids = list(session.scalars(select(MergeHistory.id)))
    assert len(merge_ids) > 20

    refused: list[str] = []
    for merge_id in merge_ids:
        try:
            with open_session(db.engine, origin="crm") as session:
                undo_merge(session, merge_id)
        except Exception as error:  # noqa: BLE001 - every refusal is listed
            refused.append(f"{merge_id}: {type(error).__name__}: {str(error)[:300]}")

    assert refused == [], (
        f"{len(refused)} of {len(merge_ids)} merges cannot be undone: {refused[:3]}"
    )
    stored = accounts(db)
    assert sum(a.deleted_at is None for a in stored.values()) == (
        report.total.created + report.total.merged
    )
    linked = links(db)
    assert all(merged_from is None for _record, merged_from in linked.values())
    assert len({record for record, _merged in linked.values()}) == len(linked)


def test_undoing_a_merge_gives_the_loser_back_its_credit_code_and_its_link(
    db: Database, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "accounts.csv",
        [
            COLUMNS,
            ("U1", "杭州华信电子科技有限公司", "", "0571-88886666", "", "", "杭州", "张伟"),
            (
                "U2",
                "杭州华信电子科技有限公司",
                HUAXIN,
                "0571-88886666",
                "info@huaxin.com",
                "",
                "杭州",
                "",
            ),
            ("U3", "上海明达贸易有限公司", MINGDA, "021-62345678", "", "", "上海", ""),
        ],
    )
    report = migrate(db, path)
    assert (report.total.created, report.total.merged) == (2, 1)
    before = links(db)
    survivor_id, loser_id = before["U2"]
    assert loser_id is not None
    assert before["U1"] == (survivor_id, None)
    survivor = accounts(db)[survivor_id]
    assert (survivor.credit_code, survivor.email) == (HUAXIN, "info@huaxin.com")  # filled
    with open_session(db.engine) as session:
        merge = session.scalars(select(MergeHistory)).one()
    assert merge.survivor_id == survivor_id
    assert merge.merged_ids == [str(loser_id)]

    with open_session(db.engine, origin="crm") as session:
        undo_merge(session, merge.id)

    stored = accounts(db)
    loser, survivor = stored[loser_id], stored[survivor_id]
    assert (loser.deleted_at, loser.merged_into_id) == (None, None)
    assert loser.credit_code == HUAXIN
    assert loser.email == "info@huaxin.com"
    assert (survivor.credit_code, survivor.email, survivor.deleted_at) == (None, None, None)
    after = links(db)
    assert after["U2"] == (loser_id, None)
    assert after["U1"] == (survivor_id, None)
    assert after["U3"] == before["U3"]


def test_rows_of_a_customer_already_in_the_core_merge_into_it(db: Database, tmp_path: Path) -> None:
    with open_session(db.engine, origin="crm") as session:
        core = records.create(
            session,
            Account,
            {"name": "杭州华信电子科技有限公司", "credit_code": HUAXIN, "city": "杭州"},
        )
        core_id, core_version = core.id, core.version
    path = write_csv(
        tmp_path / "accounts.csv",
        [
            COLUMNS,
            (
                "C1",
                "杭州华信电子科技有限公司",
                HUAXIN,
                "0571-88886666",
                "info@huaxin.com",
                "浙江省杭州市滨江区江南大道100号",
                "杭州",
                "张伟",
            ),
            ("C2", "上海明达贸易有限公司", MINGDA, "021-62345678", "", "", "上海", ""),
        ],
    )

    report = migrate(db, path)

    assert (report.total.created, report.total.merged, report.total.quarantined) == (1, 1, 0)
    stored = accounts(db)
    record = stored[core_id]
    assert (record.deleted_at, record.merged_into_id) == (None, None)
    assert (record.name, record.credit_code, record.city) == (
        "杭州华信电子科技有限公司",
        HUAXIN,
        "杭州",
    )
    assert (record.phone, record.email, record.address) == (
        "+8657188886666",
        "info@huaxin.com",
        "浙江省杭州市滨江区江南大道100号",
    )
    assert record.version > core_version
    linked = links(db)
    assert linked["C1"][0] == core_id
    row_record = stored[linked["C1"][1] or core_id]
    assert row_record.id != core_id
    assert (row_record.merged_into_id, row_record.credit_code) == (core_id, None)
    assert row_record.deleted_at is not None
    live = [a for a in stored.values() if a.deleted_at is None]
    assert sorted(a.name for a in live) == ["上海明达贸易有限公司", "杭州华信电子科技有限公司"]
    with open_session(db.engine) as session:
        merge = session.scalars(select(MergeHistory)).one()
        updates = list(
            session.scalars(
                select(ChangeLog.origin).where(
                    ChangeLog.record_id == core_id, ChangeLog.op == "update"
                )
            )
        )
    assert merge.survivor_id == core_id
    assert merge.merged_ids == [str(row_record.id)]
    assert updates == ["legacy"]


# --------------------------------------------------------------------------- change capture


def test_every_row_written_is_captured_with_the_origin_legacy(db: Database, tmp_path: Path) -> None:
    source = legacy_file(tmp_path / "legacy.csv", 200, seed=9)

    report = migrate(db, source.path, chunk_size=40)

    linked = links(db)
    created = {record for record, merged_from in linked.values() if merged_from is None}
    merged = {merged_from for _record, merged_from in linked.values() if merged_from is not None}
    assert len(created) == report.total.created
    assert len(merged) == report.total.merged
    with open_session(db.engine) as session:
        log = list(session.execute(select(ChangeLog.record_id, ChangeLog.op, ChangeLog.origin)))
    inserts = Counter(record for record, op, _origin in log if op == "insert")
    assert inserts == Counter(created | merged)  # one insert each, nothing else inserted
    assert {origin for _record, _op, origin in log} == {"legacy"}


# --------------------------------------------------------------------------- quarantine


def test_quarantined_rows_keep_the_row_its_position_and_the_reason(
    db: Database, tmp_path: Path
) -> None:
    long_city = "杭州市滨江区江南大道" * 10
    rows: list[tuple[str, ...]] = [
        COLUMNS,
        ("Q1", "杭州华信电子科技有限公司", HUAXIN, "0571-88886666", "", "", "杭州", "张伟"),
        ("Q2", "宁波海天塑机有限公司", "91330206MA2AB1C3D?", "", "", "", "宁波", ""),
        ("Q3", "", "", "0574-86180000", "", "", "宁波", "王芳"),
        ("Q1", "上海明达贸易有限公司", "", "021-62345678", "", "", "上海", ""),
        ("Q5", "深圳远航科技有限公司", "", "", "", "", long_city, ""),
    ]
    path = write_csv(tmp_path / "accounts.csv", rows)

    report = migrate(db, path)

    assert (report.total.created, report.total.quarantined) == (1, 4)
    with open_session(db.engine) as session:
        entries = {
            entry.payload["position"]: entry
            for entry in session.scalars(select(Quarantine).order_by(Quarantine.created_at))
        }
    assert sorted(entries) == ["line 3", "line 4", "line 5", "line 6"]
    for number, entry in entries.items():
        row = rows[int(number.removeprefix("line ")) - 1]
        assert entry.payload == {
            "position": number,
            "values": {column: value or None for column, value in zip(COLUMNS, row, strict=True)},
        }
        assert entry.run_id == UUID(str(report.run_id))
        assert (entry.source, entry.entity, entry.direction, entry.status) == (
            "accounts.csv",
            "accounts",
            "in",
            "open",
        )
        assert entry.pipeline is not None
        assert entry.pipeline.startswith("migrate:")
        assert entry.record_key == row[0]
    reasons: dict[str, tuple[str, str]] = {
        number: (entry.error_kind, entry.reason) for number, entry in entries.items()
    }
    assert reasons["line 3"][1].startswith("credit_code: '91330206MA2AB1C3D?' is not a credit")
    assert reasons["line 4"][1] == "name: no value, and accounts.name needs one"
    assert reasons["line 5"] == (
        "duplicate_key",
        "the key 'Q1' was given to an earlier row too (line 2)",
    )
    assert reasons["line 6"][1].startswith("city: ")
    assert "accounts.city holds at most 64" in reasons["line 6"][1]
    examples = {
        example["position"]: example["reason"]
        for entry in report.to_json()["quarantine_reasons"]
        for example in entry["examples"]
    }
    assert examples == {number: reason for number, (_kind, reason) in reasons.items()}


def test_rows_refused_for_the_same_fault_count_under_one_reason(
    db: Database, tmp_path: Path
) -> None:
    """The report's "most common reasons" groups rows whose reasons differ only in the value:
    three cities too long for their column are one reason, counted 3."""
    cities = ["杭州市滨江区江南大道" * 10, "宁波市北仑区" * 15, "苏州工业园区星湖街" * 12]
    rows: list[tuple[str, ...]] = [COLUMNS]
    for number, city in enumerate(cities, start=1):
        rows.append((f"T{number}", f"测试{number}号贸易有限公司", "", "", "", "", city, ""))
    for number, wrong in enumerate(("N/A", "无", "12345"), start=4):
        rows.append((f"T{number}", f"测试{number}号贸易有限公司", wrong, "", "", "", "", ""))
    path = write_csv(tmp_path / "accounts.csv", rows)

    report = migrate(db, path)

    assert report.total.quarantined == 6
    counted: dict[str, Any] = {
        entry["reason"]: entry["count"] for entry in report.to_json()["quarantine_reasons"]
    }
    assert sorted(counted.values()) == [3, 3], counted
