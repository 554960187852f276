"""``tongbu migrate run`` as a user runs it: a legacy file (or workbook, or table) in, accounts,
merges and quarantined rows in the database, a JSON and an HTML report out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from tests.e2e.test_cli import assert_clear_error, tongbu
from tests.integration.migrate_helpers import COLUMNS, MAPPING, code, upgrade, write_csv

MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
HUAXIN = code("91330106MA2CF3K2X")
HAITIAN = code("91330206MA2AB1C3D")
BAD_CODE = HAITIAN[:-1] + ("A" if HAITIAN[-1] != "A" else "B")
COUNTS = ("read", "created", "updated", "unchanged", "merged", "quarantined")
TABLES = ("accounts", "xref", "merge_history", "quarantine", "sync_run", "migration_checkpoint")

ACCOUNTS = [
    COLUMNS,
    (
        "L1",
        "杭州华信电子科技有限公司",
        HUAXIN,
        "0571-88886666",
        "info@huaxin.com",
        "浙江省杭州市滨江区江南大道100号",
        "杭州",
        "张伟",
    ),
    ("L2", "杭州華信電子科技有限公司", "", "+86 571 8888 6666", "", "", "杭州", ""),
    ("L3", "华信电子科技(杭州)有限责任公司", HUAXIN, "", "sales@huaxin.com", "", "杭州市", "李娜"),
    ("L4", "宁波海天塑机有限公司", BAD_CODE, "0574-86181234", "", "", "宁波", "王芳"),
    ("L5", "", HAITIAN, "0574-86180000", "", "", "宁波", ""),
    ("L1", "杭州华信电子科技有限公司", "", "0571-88886666", "", "", "杭州", ""),
    ("L7", "苏州华信电子科技有限公司", "", "0512-66668888", "", "", "苏州", ""),
    ("L8", "上海明达贸易有限公司", "", "021-62345678", "mingda@163.com", "", "上海", "赵敏"),
]
"""L1-L3 are one company (L2 in traditional characters without its code, L3 another form of
the name with the code); L4 has a code whose check character is wrong, L5 no name, line 7
repeats L1's id; L7 is another company of the same brand in another city."""
EXPECTED = {
    "read": 8,
    "created": 3,
    "updated": 0,
    "unchanged": 0,
    "merged": 2,
    "quarantined": 3,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database with the Tongbu schema, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "tongbu.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def url(template: Path, tmp_path: Path) -> str:
    """A fresh database with the Tongbu schema."""
    return _copy(template, tmp_path / "tongbu.db")


def _copy(template: Path, path: Path) -> str:
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def migrate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return tongbu("migrate", "run", "--mapping", str(MAPPING), *args, url=url)


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def counts(report: dict[str, Any]) -> dict[str, int]:
    return {name: report[name] for name in COUNTS}


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def rows_in(url: str) -> dict[str, int]:
    """How many rows each table a migration writes holds."""
    return {table: query(url, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


def printed_counts(stdout: str, source: str) -> list[int]:
    """The numbers of the table row of ``source`` that the command printed."""
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│|┃]", line) if cell.strip()]
        if cells and cells[0] == source:
            return [int(cell.replace(",", "")) for cell in cells[1:]]
    raise AssertionError(f"no row for {source} in:\n{stdout}")


# --------------------------------------------------------------------------- out of the box


def test_the_shipped_mapping_loads_merges_and_quarantines_a_legacy_csv(
    url: str, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "accounts.csv", ACCOUNTS)
    report_path = tmp_path / "out" / "report.json"

    result = migrate(url, "--source", str(source), "--report", str(report_path))

    assert result.returncode == 0, result.stderr
    assert f"Report: {report_path} and {report_path.with_suffix('.html')}" in result.stdout
    assert "Traceback" not in result.stderr
    report = read_report(report_path)
    assert counts(report) == EXPECTED
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["dry_run"] is False
    assert [source["source"] for source in report["sources"]] == ["accounts.csv"]
    assert report["checksum"]["match"] is True
    assert report["checksum"]["source"] == report["checksum"]["loaded"]
    assert report["checksum"]["source"]["rows"] == 5  # the rows written: created and merged
    reasons = {
        example["position"]: (example["key"], entry["count"], example["reason"])
        for entry in report["quarantine_reasons"]
        for example in entry["examples"]
    }
    assert reasons == {
        "line 5": ("L4", 1, f"credit_code: credit code '{BAD_CODE}' fails its check character"),
        "line 6": ("L5", 1, "name: no value, and accounts.name needs one"),
        "line 7": ("L1", 1, "the key 'L1' was given to an earlier row too (line 2)"),
    }
    page = report_path.with_suffix(".html").read_text(encoding="utf-8")
    assert report["run_id"] in page
    assert "reconciled" in page
    assert "fails its check character" in page

    live = query(
        url,
        "SELECT id, name, credit_code, phone, email, address, city, source FROM accounts "
        "WHERE deleted_at IS NULL AND merged_into_id IS NULL",
    )
    assert len(live) == 3
    by_code = {row[2]: row for row in live}
    huaxin = by_code[HUAXIN]
    assert huaxin[1] in {"杭州华信电子科技有限公司", "华信电子科技(杭州)有限责任公司"}
    assert huaxin[3:] == (
        "+8657188886666",
        "info@huaxin.com",
        "浙江省杭州市滨江区江南大道100号",
        "杭州",
        "migration",
    )
    assert sorted(row[1] for row in live if row[2] is None) == [
        "上海明达贸易有限公司",
        "苏州华信电子科技有限公司",
    ]
    merged = query(
        url,
        "SELECT name, credit_code, merged_into_id, deleted_at FROM accounts "
        "WHERE merged_into_id IS NOT NULL",
    )
    assert sorted(row[0] for row in merged) == [
        "华信电子科技(杭州)有限责任公司",
        "杭州華信電子科技有限公司",
    ]
    assert all(row[1] is None and row[3] is not None for row in merged)  # code left to L1
    assert {row[2] for row in merged} == {huaxin[0]}
    links = dict(query(url, "SELECT external_id, record_id FROM xref WHERE system = 'legacy'"))
    assert set(links) == {"L1", "L2", "L3", "L7", "L8"}
    assert {links[key] for key in ("L1", "L2", "L3")} == {huaxin[0]}
    assert query(url, "SELECT count(*) FROM merge_history") == [(1,)]
    quarantined = query(url, "SELECT record_key, status FROM quarantine ORDER BY record_key")
    assert quarantined == [("L1", "open"), ("L4", "open"), ("L5", "open")]


# --------------------------------------------------------------------------- source kinds

SMALL = [
    COLUMNS,
    ("S1", "杭州华信电子科技有限公司", HUAXIN, "0571-88886666", "", "", "杭州", "张伟"),
    ("S2", "杭州華信電子科技有限公司", "", "0571-88886666", "", "", "杭州", ""),
    ("S3", "宁波海天塑机有限公司", "N/A", "", "", "", "宁波", ""),
    ("S4", "深圳远航科技有限公司", "", "0755-12345678", "", "", "深圳", "欧阳娜"),
]
SMALL_COUNTS = {
    "read": 4,
    "created": 2,
    "updated": 0,
    "unchanged": 0,
    "merged": 1,
    "quarantined": 1,
}
SMALL_LIVE = ["杭州华信电子科技有限公司", "深圳远航科技有限公司"]


def live_names(url: str) -> list[str]:
    return sorted(
        row[0]
        for row in query(
            url, "SELECT name FROM accounts WHERE deleted_at IS NULL AND merged_into_id IS NULL"
        )
    )


@pytest.mark.parametrize(
    ("encoding", "bom", "declared"),
    [
        ("utf-8", False, None),
        ("utf-8", True, None),
        ("gbk", False, None),
        ("gb18030", False, "gb18030"),
    ],
    ids=["utf-8", "utf-8-bom", "gbk-detected", "gb18030-declared"],
)
def test_csv_in_each_encoding(
    url: str, tmp_path: Path, encoding: str, bom: bool, declared: str | None
) -> None:
    rows = list(SMALL)
    if encoding == "gb18030":  # a character GBK lacks
        rows[4] = ("S4", "深圳𠮷野家餐饮有限公司", *SMALL[4][2:])
    source = write_csv(tmp_path / "legacy.csv", rows, encoding="utf-8-sig" if bom else encoding)
    report_path = tmp_path / "report.json"
    args = ["--source", str(source), "--report", str(report_path)]
    if declared:
        args += ["--encoding", declared]

    result = migrate(url, *args)

    assert result.returncode == 0, result.stderr
    assert counts(read_report(report_path)) == SMALL_COUNTS
    expected = [rows[1][1], rows[4][1]] if encoding == "gb18030" else SMALL_LIVE
    assert live_names(url) == sorted(expected)
    assert query(url, "SELECT external_id FROM xref ORDER BY external_id") == [
        ("S1",),
        ("S2",),
        ("S4",),
    ]  # the first column's name is `id`, without a BOM in front


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    customers = book.active
    assert customers is not None
    customers.title = "客户"
    for row in SMALL:
        customers.append([cell or None for cell in row])
    branches = book.create_sheet("分公司")
    branches.append(list(COLUMNS))
    branches.append(
        ["B1", "杭州华信电子科技有限公司", None, "+86 571 8888 6666", None, None, "杭州"]
    )
    branches.append(["B2", None, None, "021-1234", None, None, "上海", None])
    branches.append(
        [3, "成都蜀道机械制造有限公司", None, "028-87654321", None, None, "成都", "李雷"]
    )
    path = tmp_path / "legacy.xlsx"
    book.save(path)
    return path


def test_a_workbook_every_sheet_then_one_sheet(
    url: str, template: Path, tmp_path: Path, workbook: Path
) -> None:
    every = migrate(url, "--source", str(workbook), "--report", str(tmp_path / "every.json"))
    one_url = _copy(template, tmp_path / "one.db")
    one = migrate(
        one_url,
        "--source",
        str(workbook),
        "--sheet",
        "分公司",
        "--report",
        str(tmp_path / "one.json"),
    )

    assert every.returncode == 0, every.stderr
    report = read_report(tmp_path / "every.json")
    by_sheet = {source.pop("source"): source for source in report["sources"]}
    assert by_sheet == {
        "legacy.xlsx!客户": {"entity": "accounts", **SMALL_COUNTS},
        "legacy.xlsx!分公司": {
            "entity": "accounts",
            "read": 3,
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "merged": 1,
            "quarantined": 1,
        },
    }
    assert counts(report) == {
        "read": 7,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "merged": 2,
        "quarantined": 2,
    }
    assert printed_counts(every.stdout, "legacy.xlsx!分公司") == [3, 1, 0, 1, 1]
    assert printed_counts(every.stdout, "total") == [7, 3, 0, 2, 2]
    assert live_names(url) == sorted([*SMALL_LIVE, "成都蜀道机械制造有限公司"])
    assert (
        query(url, "SELECT record_key, payload FROM quarantine ORDER BY record_key")[0][0] == "B2"
    )

    assert one.returncode == 0, one.stderr
    report = read_report(tmp_path / "one.json")
    assert [source["source"] for source in report["sources"]] == ["legacy.xlsx!分公司"]
    assert counts(report) == {
        "read": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "merged": 0,
        "quarantined": 1,
    }
    assert live_names(one_url) == ["成都蜀道机械制造有限公司", "杭州华信电子科技有限公司"]
    assert sorted(row[0] for row in query(one_url, "SELECT external_id FROM xref")) == ["3", "B1"]


@pytest.fixture
def legacy_table() -> Iterator[str]:
    """The old CRM's customer table in MariaDB, dropped afterwards."""
    name = f"legacy_accounts_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(MARIADB_URL)
    columns = ", ".join(f"{column} VARCHAR(255)" for column in COLUMNS[1:])
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    f"CREATE TABLE {name} (id VARCHAR(20) PRIMARY KEY, {columns}) "
                    "DEFAULT CHARSET=utf8mb4"
                )
            )
            connection.execute(
                sa.text(f"INSERT INTO {name} VALUES ({', '.join(f':{c}' for c in COLUMNS)})"),
                [
                    dict(zip(COLUMNS, (cell or None for cell in row), strict=True))
                    for row in SMALL[1:]
                ],
            )
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def test_a_mariadb_table_and_a_query(
    url: str, template: Path, tmp_path: Path, legacy_table: str
) -> None:
    table = migrate(
        url,
        "--source",
        MARIADB_URL,
        "--table",
        legacy_table,
        "--report",
        str(tmp_path / "table.json"),
    )
    query_url = _copy(template, tmp_path / "query.db")
    selected = migrate(
        query_url,
        "--source",
        MARIADB_URL,
        "--query",
        f"SELECT * FROM {legacy_table} WHERE city <> '宁波' ORDER BY id",
        "--report",
        str(tmp_path / "query.json"),
    )

    assert table.returncode == 0, table.stderr
    report = read_report(tmp_path / "table.json")
    assert counts(report) == SMALL_COUNTS
    assert [source["source"] for source in report["sources"]] == [legacy_table]
    assert live_names(url) == SMALL_LIVE
    positions = [row[0] for row in query(url, "SELECT payload FROM quarantine")]
    assert [json.loads(payload)["position"] for payload in positions] == ["id=S3"]

    assert selected.returncode == 0, selected.stderr
    report = read_report(tmp_path / "query.json")
    assert counts(report) == {
        "read": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "merged": 1,
        "quarantined": 0,
    }
    assert report["source"].endswith("(query)")
    assert live_names(query_url) == SMALL_LIVE


# --------------------------------------------------------------------------- bad inputs

HEADER = ",".join(COLUMNS)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "accounts.tsv",
            HEADER.replace(",", ";") + "\nL1;华信;;;;;杭州;\n",
            "accounts.tsv line 1 has a single column with the delimiter tab, but it holds ';'",
        ),
        (
            "accounts.csv",
            HEADER.replace(",", ":") + "\nL1:华信::::::\n",
            "accounts.csv has no column 'id'",
        ),
        (
            "accounts.csv",
            HEADER + "\nL1;华信;;;;;杭州;\n",
            "accounts.csv line 2 has 1 cells but the header has 8 columns",
        ),
        (
            "accounts.csv",
            HEADER.removesuffix(",contact_name") + "\nL1,华信,,,,,杭州\n",
            "accounts.csv lacks the column(s) contact_name",
        ),
        (
            "accounts.csv",
            HEADER + '\nL1,华信,,,,,杭州,\nL2,"明达"贸易,,,,,上海,\nL3,远航,,,,,深圳,\n',
            "accounts.csv line 3: broken quoting",
        ),
        ("accounts.csv", b"", "accounts.csv is empty (0 bytes)"),
        (
            "accounts.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
            "accounts.csv is a binary file",
        ),
        ("accounts.xlsx", HEADER + "\n", "accounts.xlsx is not a readable .xlsx workbook"),
    ],
    ids=[
        "semicolons-in-tsv",
        "colon-delimiter",
        "semicolon-rows",
        "missing-column",
        "broken-quoting",
        "0-byte",
        "png",
        "not-a-workbook",
    ],
)
def test_a_bad_file_is_refused_in_one_sentence_and_nothing_is_written(
    url: str, tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    source = tmp_path / name
    source.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    result = migrate(url, "--source", str(source), "--report", str(tmp_path / "report.json"))

    assert_clear_error(result, message)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert name in errors[0]
    assert not (tmp_path / "report.json").exists()
    assert rows_in(url) == dict.fromkeys(TABLES, 0)


def test_broken_quoting_found_while_loading_writes_nothing_either(url: str, tmp_path: Path) -> None:
    """Without dedup the file is read once, while loading: the rows before the broken line
    must not be loaded either ("before anything is written", run_migration's contract)."""
    source = tmp_path / "accounts.csv"
    source.write_text(
        HEADER + '\nL1,华信,,,,,杭州,\nL2,"明达"贸易,,,,,上海,\nL3,远航,,,,,深圳,\n', "utf-8"
    )

    result = migrate(url, "--source", str(source), "--no-dedup", "--chunk-size", "1")

    assert_clear_error(result, "accounts.csv line 3: broken quoting")
    assert rows_in(url) == dict.fromkeys(TABLES, 0)


def test_a_file_with_only_its_header_reads_0_rows(url: str, tmp_path: Path) -> None:
    source = tmp_path / "accounts.csv"
    source.write_text(HEADER + "\n", "utf-8")

    result = migrate(url, "--source", str(source), "--report", str(tmp_path / "report.json"))

    assert result.returncode == 0, result.stderr
    report = read_report(tmp_path / "report.json")
    assert counts(report) == dict.fromkeys(COUNTS, 0)
    assert report["ok"] is True
    assert rows_in(url)["accounts"] == 0
    assert rows_in(url)["quarantine"] == 0


# --------------------------------------------------------------------------- runs


def test_a_dry_run_prints_the_counts_of_the_real_run_and_writes_nothing(
    url: str, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "accounts.csv", ACCOUNTS)

    dry = migrate(url, "--source", str(source), "--dry-run", "--report", str(tmp_path / "d.json"))

    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout
    assert counts(read_report(tmp_path / "d.json")) == EXPECTED
    assert read_report(tmp_path / "d.json")["run_id"] is None
    assert rows_in(url) == dict.fromkeys(TABLES, 0)
    assert query(url, "SELECT count(*) FROM change_log") == [(0,)]

    real = migrate(url, "--source", str(source), "--report", str(tmp_path / "r.json"))

    assert real.returncode == 0, real.stderr
    assert counts(read_report(tmp_path / "r.json")) == EXPECTED
    assert printed_counts(dry.stdout, "accounts.csv") == printed_counts(real.stdout, "accounts.csv")
    assert printed_counts(real.stdout, "accounts.csv") == [8, 3, 0, 2, 3]


def test_a_second_run_of_the_same_file_creates_nothing(url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "accounts.csv", ACCOUNTS)
    first = migrate(url, "--source", str(source), "--report", str(tmp_path / "first.json"))
    assert first.returncode == 0, first.stderr
    before = rows_in(url)

    second = migrate(url, "--source", str(source), "--report", str(tmp_path / "second.json"))

    assert second.returncode == 0, second.stderr
    report = read_report(tmp_path / "second.json")
    assert counts(report) == {
        "read": 8,
        "created": 0,
        "updated": 3,
        "unchanged": 3,
        "merged": 2,
        "quarantined": 3,
    }
    assert report["ok"] is True
    after = rows_in(url)
    for table in ("accounts", "xref", "merge_history"):
        assert after[table] == before[table], table
    names = query(
        url, "SELECT name FROM accounts WHERE deleted_at IS NULL AND merged_into_id IS NULL"
    )
    assert len(names) == len(set(names)) == 3
    open_quarantine = query(url, "SELECT count(*) FROM quarantine WHERE status = 'open'")
    assert open_quarantine == [(3,)]  # the second run's; the first run's are superseded


def test_resume_refuses_unknown_finished_and_other_runs(url: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "accounts.csv", ACCOUNTS)
    done = migrate(url, "--source", str(source), "--report", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    run_id = read_report(tmp_path / "r.json")["run_id"]
    unknown = str(uuid.UUID(int=uuid.UUID(run_id).int + 1))

    assert_clear_error(
        migrate(url, "--source", str(source), "--resume", unknown),
        f"no migration run {unknown}",
    )
    assert_clear_error(
        migrate(url, "--source", str(source), "--resume", "last-night"),
        "--resume takes the run id",
    )
    assert_clear_error(
        migrate(url, "--source", str(source), "--resume", run_id),
        f"migration run {run_id} is finished; there is nothing to resume",
    )

    _interrupt(url)  # as a run killed before its last chunk leaves it
    other = write_csv(tmp_path / "other.csv", ACCOUNTS[:4])
    assert_clear_error(
        migrate(url, "--source", str(other), "--resume", run_id),
        f"other.csv is not the one run {run_id} started on",
    )
    source.write_text(source.read_text("utf-8") + "L9,远航,,,,,深圳,\n", "utf-8")
    assert_clear_error(
        migrate(url, "--source", str(source), "--resume", run_id),
        "it changed or is another file",
    )
    assert rows_in(url)["accounts"] == 5  # what the first run wrote, nothing more


def _interrupt(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE migration_checkpoint SET phase = 'loading'"))
    finally:
        engine.dispose()
