"""The sources of ``tongbu migrate``: CSV in each encoding and delimiter, Excel workbooks, and a
legacy customer table on the real MariaDB server; every refused input gives a clear error."""

from __future__ import annotations

import datetime as dt
import tracemalloc
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from crm_core.errors import InvalidInput
from crm_core.migrate import CsvSource, ExcelSource, SourceRow, SqlSource, open_source

MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"

CUSTOMERS = "id,name,phone\n1,杭州华信电子科技有限公司,13800138000\n2,上海明达贸易,\n"


def _write(tmp_path: Path, content: str | bytes, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _rows(source: CsvSource | ExcelSource | SqlSource) -> list[SourceRow]:
    return list(source)


# --- CSV: encodings and delimiters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (CUSTOMERS.encode("utf-8"), "utf-8-sig"),
        (b"\xef\xbb\xbf" + CUSTOMERS.encode("utf-8"), "utf-8-sig"),
        (CUSTOMERS.encode("gbk"), "gb18030"),
        (CUSTOMERS.encode("gb18030"), "gb18030"),
    ],
    ids=["utf-8", "utf-8-bom", "gbk", "gb18030"],
)
def test_csv_encodings_are_detected(tmp_path: Path, encoded: bytes, encoding: str) -> None:
    source = CsvSource(_write(tmp_path, encoded))
    assert source.encoding == encoding
    assert source.columns == ["id", "name", "phone"]  # no BOM left on the first column
    assert _rows(source) == [
        SourceRow(
            "line 2", {"id": "1", "name": "杭州华信电子科技有限公司", "phone": "13800138000"}
        ),
        SourceRow("line 3", {"id": "2", "name": "上海明达贸易", "phone": None}),
    ]


def test_csv_declared_encoding(tmp_path: Path) -> None:
    source = CsvSource(_write(tmp_path, CUSTOMERS.encode("gbk")), encoding="gbk")
    assert [row.values["name"] for row in source] == ["杭州华信电子科技有限公司", "上海明达贸易"]


def test_csv_declared_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    source = CsvSource(_write(tmp_path, CUSTOMERS.encode("gbk")), encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"customers\.csv line 2 is not valid utf-8"):
        _rows(source)


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_csv_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    text = CUSTOMERS.replace(",", delimiter).replace("杭州华信电子科技有限公司", '"华信, 杭州"')
    source = CsvSource(_write(tmp_path, text))
    assert source.delimiter == delimiter
    assert source.columns == ["id", "name", "phone"]
    assert [row.values["name"] for row in source] == ["华信, 杭州", "上海明达贸易"]


def test_csv_header_trimmed_quoted_multiline_and_line_numbers(tmp_path: Path) -> None:
    text = ' id , name ,note\n1,"华信\n第二行",x\n\n2,明达,"a ""quoted"" word"\n'
    source = CsvSource(_write(tmp_path, text))
    assert source.columns == ["id", "name", "note"]
    assert _rows(source) == [
        SourceRow("line 2", {"id": "1", "name": "华信\n第二行", "note": "x"}),
        SourceRow("line 5", {"id": "2", "name": "明达", "note": 'a "quoted" word'}),
    ]


def test_csv_with_only_a_header_has_no_rows(tmp_path: Path) -> None:
    source = CsvSource(_write(tmp_path, "id,name\n"))
    assert source.columns == ["id", "name"]
    assert _rows(source) == []


def test_open_source_by_suffix(tmp_path: Path) -> None:
    assert isinstance(open_source(str(_write(tmp_path, CUSTOMERS, "a.txt"))), CsvSource)
    tsv = open_source(str(_write(tmp_path, CUSTOMERS.replace(",", "\t"), "a.tsv")))
    assert isinstance(tsv, CsvSource)
    assert tsv.columns == ["id", "name", "phone"]
    with pytest.raises(InvalidInput, match="not a source Tongbu reads"):
        open_source(str(tmp_path / "a.json"))
    with pytest.raises(InvalidInput, match=r"old \.xls"):
        open_source(str(tmp_path / "a.xls"))
    with pytest.raises(InvalidInput, match="--sheet does not apply"):
        open_source(str(tmp_path / "a.csv"), sheet="Sheet1")


# --- CSV: refused inputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"customers\.csv is empty \(0 bytes\)"),
        (b"\n\n  \n", r"customers\.csv has no header line"),
        (b"PK\x03\x04\x00\x00binary", r"customers\.csv is a binary file"),
        (
            "id,name\n1,华信\n".encode() + b"\xff\xfe\x80\x81\n",
            r"line 3 is neither UTF-8 nor GB18030",
        ),
        (b"1,Hua Xin,13800138000\n2,Ming Da,\n", r"line 1 looks like data .*add a header line"),
        (b"id,name,id\n1,a,b\n", r"line 1: the header names the column 'id' twice"),
        (b"id,,phone\n1,a,b\n", r"line 1: column 2 of the header has no name"),
    ],
    ids=["0-byte", "blank", "binary", "undecodable", "no-header", "duplicate", "empty-name"],
)
def test_csv_refused_when_opened(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        CsvSource(_write(tmp_path, content))


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        open_source(str(tmp_path / "missing.csv"))


def test_csv_wrong_declared_delimiter_names_the_right_one(tmp_path: Path) -> None:
    path = _write(tmp_path, CUSTOMERS.replace(",", ";"))
    with pytest.raises(InvalidInput, match=r"line 1 has a single column .* seems to be ';'"):
        CsvSource(path, delimiter=",")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('id,name\n1,ok\n2,"broken"x\n3,ok\n', r"customers\.csv line 3: broken quoting"),
        ('id,name\n1,ok\n2,"never closed\n3,ok\n', r"customers\.csv line 3: broken quoting"),
        ("id,name,phone\n1,a,b\n2,a\n", r"customers\.csv line 3 has 2 cells but the header has 3"),
        ("id,name\n1,a\n2,a,b\n", r"line 3 has 3 cells but the header has 2 columns"),
    ],
    ids=["quote-then-text", "unclosed-quote", "short-row", "long-row"],
)
def test_csv_refused_while_reading(tmp_path: Path, content: str, message: str) -> None:
    source = CsvSource(_write(tmp_path, content))
    rows = iter(source)
    assert next(rows).position == "line 2"  # the rows before the bad one are read
    with pytest.raises(InvalidInput, match=message):
        list(rows)


def test_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write("id,name,phone,email,city\n")
        for number in range(200_000):
            file.write(
                f"{number},杭州华信电子科技有限公司{number},138{number:08d},a{number}@hz.cn,杭州\n"
            )
    tracemalloc.start()
    try:
        count = sum(1 for _ in CsvSource(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --- Excel ---------------------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "客户"
    first.append(["编号", " 名称 ", "成立日期", "金额"])
    first.append([1, "杭州华信", dt.datetime(2024, 3, 5), 1234.5])  # noqa: DTZ001
    first.append([])
    first.append([2.0, "明达", dt.date(2023, 1, 2), Decimal("99.90")])
    second = book.create_sheet("Sheet2")
    second.append([])
    second.append(["编号", "名称", "备注"])
    second.append([3, "远航", dt.datetime(2024, 3, 5, 14, 30)])  # noqa: DTZ001
    path = tmp_path / "legacy.xlsx"
    book.save(path)
    return path


def test_excel_every_sheet(workbook: Path) -> None:
    source = open_source(str(workbook))
    assert isinstance(source, ExcelSource)
    assert source.columns == ["编号", "名称", "成立日期", "金额", "备注"]
    assert _rows(source) == [
        SourceRow(
            "客户!row 2",
            {
                "编号": "1",
                "名称": "杭州华信",
                "成立日期": "2024-03-05",
                "金额": "1234.5",
                "备注": None,
            },
        ),
        SourceRow(
            "客户!row 4",
            {"编号": "2", "名称": "明达", "成立日期": "2023-01-02", "金额": "99.9", "备注": None},
        ),
        SourceRow(
            "Sheet2!row 3",
            {
                "编号": "3",
                "名称": "远航",
                "成立日期": None,
                "金额": None,
                "备注": "2024-03-05 14:30:00",
            },
        ),
    ]


def test_excel_one_sheet(workbook: Path) -> None:
    source = ExcelSource(workbook, sheet="Sheet2")
    assert source.name == "legacy.xlsx!Sheet2"
    assert source.columns == ["编号", "名称", "备注"]
    assert [row.position for row in source] == ["Sheet2!row 3"]


def test_excel_unknown_sheet_lists_the_sheets(workbook: Path) -> None:
    with pytest.raises(InvalidInput, match=r"has no sheet 'Sheet9'; its sheets: 客户, Sheet2\."):
        open_source(str(workbook), sheet="Sheet9")


def test_excel_not_a_workbook(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"bad\.xlsx is not a readable \.xlsx workbook"):
        ExcelSource(_write(tmp_path, CUSTOMERS, "bad.xlsx"))


# --- SQL (the real MariaDB server) ----------------------------------------------------------------


@pytest.fixture
def legacy_table() -> Iterator[str]:
    """An old CRM's customer table in MariaDB's ``test`` database, dropped afterwards."""
    name = f"legacy_customer_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(MARIADB_URL)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
                    "created DATE, amount DECIMAL(12, 2)) DEFAULT CHARSET=utf8mb4"
                )
            )
            connection.execute(
                sa.text(f"INSERT INTO {name} VALUES (:id, :name, :created, :amount)"),
                [
                    {
                        "id": 42,
                        "name": "杭州华信电子科技有限公司",
                        "created": dt.date(2019, 6, 1),
                        "amount": Decimal("1234.50"),
                    },
                    {"id": 7, "name": "上海明达贸易", "created": None, "amount": Decimal("0.00")},
                    {
                        "id": 100,
                        "name": "远航（深圳）",
                        "created": dt.date(2024, 3, 5),
                        "amount": None,
                    },
                ],
            )
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


EXPECTED_SQL_ROWS = [
    ("id=7", {"id": "7", "name": "上海明达贸易", "created": None, "amount": "0.00"}),
    (
        "id=42",
        {
            "id": "42",
            "name": "杭州华信电子科技有限公司",
            "created": "2019-06-01",
            "amount": "1234.50",
        },
    ),
    ("id=100", {"id": "100", "name": "远航（深圳）", "created": "2024-03-05", "amount": None}),
]


def test_mariadb_table(legacy_table: str) -> None:
    with open_source(MARIADB_URL, table=legacy_table) as source:
        assert isinstance(source, SqlSource)
        assert source.name == legacy_table
        assert source.columns == ["id", "name", "created", "amount"]
        assert [(row.position, row.values) for row in source] == EXPECTED_SQL_ROWS


def test_mariadb_query_with_and_without_key(legacy_table: str) -> None:
    query = f"SELECT id, name, amount FROM {legacy_table} WHERE amount IS NOT NULL ORDER BY id;"
    with SqlSource(MARIADB_URL, query=query, key="id") as source:
        assert source.columns == ["id", "name", "amount"]
        assert [row.position for row in source] == ["id=7", "id=42"]
    with SqlSource(MARIADB_URL, query=query) as source:
        rows = _rows(source)
        assert [row.position for row in rows] == ["row 1", "row 2"]
        assert rows[1].values == {
            "id": "42",
            "name": "杭州华信电子科技有限公司",
            "amount": "1234.50",
        }


def test_mariadb_unknown_table_and_key(legacy_table: str) -> None:
    with pytest.raises(InvalidInput, match=r"has no table 'no_such_table'; its tables: .*"):
        SqlSource(MARIADB_URL, table="no_such_table")
    with pytest.raises(InvalidInput, match=r"has no column 'code' to use as key"):
        SqlSource(MARIADB_URL, table=legacy_table, key="code")


def test_sqlite_table_streams(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE kh (code TEXT PRIMARY KEY, mc TEXT)"))
        connection.execute(
            sa.text("INSERT INTO kh VALUES (:code, :mc)"),
            [{"code": f"C{n:05d}", "mc": f"客户{n}"} for n in range(2500)],
        )
    engine.dispose()
    with SqlSource(url, table="kh") as source:
        rows = _rows(source)
    assert len(rows) == 2500
    assert rows[0] == SourceRow("code=C00000", {"code": "C00000", "mc": "客户0"})


def test_sql_refused_specs() -> None:
    with pytest.raises(InvalidInput, match="either a table or a query"):
        SqlSource("sqlite://", table="a", query="SELECT 1")
    with pytest.raises(InvalidInput, match="not a usable database URL"):
        open_source("nosuchdb://x/y", table="a")
