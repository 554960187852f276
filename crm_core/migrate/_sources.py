"""The sources of ``tongbu migrate``: CSV files, Excel workbooks and legacy SQL databases, each
read as a stream of :class:`SourceRow` without loading the whole file or table into memory.

A source checks what it can when it is opened (encoding, delimiter, header, sheet or table) and
raises :class:`~crm_core.errors.InvalidInput` with one sentence naming the file and line;
errors found later while streaming (a ragged row, broken quoting) are raised the same way.
"""

from __future__ import annotations

import abc
import codecs
import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from zipfile import BadZipFile

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from crm_core.errors import DatabaseError, InvalidInput

__all__ = [
    "CsvSource",
    "ExcelSource",
    "Source",
    "SourceRow",
    "SqlSource",
    "open_source",
]

_CHUNK = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_SQL_BATCH = 1000


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of a source: where it came from (``line 17``, ``Sheet1!row 5``, ``id=42``)
    and its values by column, None for an empty cell."""

    position: str
    values: dict[str, str | None]


class Source(abc.ABC):
    """A stream of rows with a fixed list of columns; iterate it (again) to read the rows.

    ``name`` is the file name, ``file!sheet`` or the table; every row's ``values`` has exactly
    the keys of ``columns``. Use it as a context manager, or call :meth:`close`, to release a
    database connection pool.
    """

    name: str
    columns: list[str]

    @abc.abstractmethod
    def __iter__(self) -> Iterator[SourceRow]:
        """The rows, in source order."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing between reads
        """Release what the source holds between reads."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _datetime_text(value: dt.datetime) -> str:
    if value.time() == dt.time() and value.tzinfo is None:
        return value.date().isoformat()
    return value.isoformat(sep=" ")


def _float_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# Checked in order: bool before int (a subclass), datetime before date (a subclass).
_TEXT_FORMS: tuple[tuple[type[Any], Any], ...] = (
    (bool, lambda value: "TRUE" if value else "FALSE"),
    (float, _float_text),
    (dt.datetime, _datetime_text),
    (dt.date, dt.date.isoformat),
    (dt.time, dt.time.isoformat),
    (bytes, lambda value: value.decode("utf-8", errors="replace")),
)


def to_text(value: object) -> str | None:
    """A cell or column value as a person sees it: ints without ``.0``, dates ``YYYY-MM-DD``,
    datetimes ``YYYY-MM-DD HH:MM:SS`` (a datetime at midnight is a date), decimals as written;
    None for NULL and empty text."""
    if value is None or value == "":
        return None
    for kind, form in _TEXT_FORMS:
        if isinstance(value, kind):
            text: str = form(value)
            return text
    return str(value)


def _check_header(cells: Sequence[str], where: str) -> list[str]:
    header = [cell.strip() for cell in cells]
    for index, cell in enumerate(header, start=1):
        if not cell:
            raise InvalidInput(f"{where}: column {index} of the header has no name.")
    seen: set[str] = set()
    for cell in header:
        if cell in seen:
            raise InvalidInput(f"{where}: the header names the column {cell!r} twice.")
        seen.add(cell)
    return header


# --- CSV ---------------------------------------------------------------------------------------


def _decode_error_line(path: Path, encoding: str) -> int | None:
    """The line where ``path`` stops being valid ``encoding``, or None when all of it is."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return lines + chunk[: max(error.start, 0)].count(b"\n")
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines
    return None


def _check_bytes(path: Path) -> None:
    """Refuse a missing, empty or binary file."""
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file.")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path.name} is empty (0 bytes).")
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            if b"\x00" in chunk:
                raise InvalidInput(f"{path.name} is a binary file (it holds NUL bytes), not CSV.")


def _detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file is UTF-8 (with or without BOM), else ``gb18030``."""
    if _decode_error_line(path, "utf-8-sig") is None:
        return "utf-8-sig"
    line = _decode_error_line(path, "gb18030")
    if line is None:
        return "gb18030"
    raise InvalidInput(
        f"{path.name} line {line} is neither UTF-8 nor GB18030; name its encoding with --encoding."
    )


def _count_outside_quotes(line: str, char: str) -> int:
    count = 0
    quoted = False
    for symbol in line:
        if symbol == '"':
            quoted = not quoted
        elif symbol == char and not quoted:
            count += 1
    return count


def _sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter that occurs most often in the header line (``,`` if none)."""
    counts = {char: _count_outside_quotes(header_line, char) for char in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda char: counts[char])
    return best if counts[best] else ","


def _show(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


_LOOKS_LIKE_DATA = re.compile(r"[-+]?\d[\d,.]*|[^@\s]+@[^@\s]+\.\w+")


class CsvSource(Source):
    """A CSV file in UTF-8 (with or without BOM) or GBK/GB18030, detected unless ``encoding``
    is given, its delimiter (``,`` ``;`` tab ``|``) sniffed from the header unless given.

    Rows are numbered by the physical line on which they start; empty cells are None, blank
    lines are skipped, and a row with more or fewer cells than the header is an error.
    """

    def __init__(
        self, path: str | Path, encoding: str | None = None, delimiter: str | None = None
    ) -> None:
        self.path = Path(path)
        self.name = self.path.name
        _check_bytes(self.path)
        self.encoding = encoding or _detect_encoding(self.path)
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise InvalidInput(f"{self.encoding!r} is not a known encoding.") from None
        header_line = self._first_line()
        self.delimiter = delimiter or _sniff_delimiter(header_line)
        self.columns = self._read_header(header_line)

    def _lines(self, file: IO[bytes]) -> Iterator[str]:
        """The decoded physical lines of ``file``; a line that does not decode is an error
        naming it (the line ends of UTF-8 and GB18030 are single ``\\n`` bytes)."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
        number = 0
        for number, raw in enumerate(file, start=1):
            try:
                yield decoder.decode(raw)
            except UnicodeDecodeError:
                raise self._decode_failed(number) from None
        try:
            yield decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise self._decode_failed(number) from None

    def _decode_failed(self, line: int) -> InvalidInput:
        return InvalidInput(
            f"{self.name} line {line} is not valid {self.encoding}; "
            "name the right encoding with --encoding."
        )

    def _first_line(self) -> str:
        with self.path.open("rb") as file:
            for line in self._lines(file):
                if line.strip():
                    return line
        raise InvalidInput(f"{self.name} has no header line (it holds only blank lines).")

    def _read_header(self, header_line: str) -> list[str]:
        cells = next(csv.reader([header_line], delimiter=self.delimiter), [])
        where = f"{self.name} line 1"
        if len(cells) == 1:
            self._check_single_column(header_line)
        header = _check_header(cells, where)
        for cell in header:
            if _LOOKS_LIKE_DATA.fullmatch(cell):
                raise InvalidInput(
                    f"{where} looks like data ({cell!r}), not a header; "
                    "add a header line naming the columns."
                )
        return header

    def _check_single_column(self, header_line: str) -> None:
        for other in _DELIMITERS:
            if other != self.delimiter and _count_outside_quotes(header_line, other):
                raise InvalidInput(
                    f"{self.name} line 1 has a single column with the delimiter "
                    f"{_show(self.delimiter)}, but it holds {_show(other)}: the delimiter "
                    f"seems to be {_show(other)}."
                )

    def __iter__(self) -> Iterator[SourceRow]:
        """The data rows, the header skipped."""
        with self.path.open("rb") as file:
            reader = csv.reader(self._lines(file), delimiter=self.delimiter, strict=True)
            yield from self._rows(reader)

    def _rows(self, reader: Any) -> Iterator[SourceRow]:
        start = 1
        header_seen = False
        width = len(self.columns)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InvalidInput(f"{self.name} line {start}: broken quoting ({error}).") from None
            line, start = start, reader.line_num + 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if not header_seen:
                header_seen = True
                continue
            if len(cells) != width:
                raise InvalidInput(
                    f"{self.name} line {line} has {len(cells)} cells but the header has "
                    f"{width} columns."
                )
            values = {
                column: cell or None for column, cell in zip(self.columns, cells, strict=True)
            }
            yield SourceRow(f"line {line}", values)


# --- Excel -------------------------------------------------------------------------------------


def _trim_trailing(cells: Sequence[object]) -> list[object]:
    end = len(cells)
    while end and to_text(cells[end - 1]) is None:
        end -= 1
    return list(cells[:end])


class ExcelSource(Source):
    """An ``.xlsx`` workbook read in read-only mode: every sheet in order, or the one named.

    In each sheet the first non-empty row is the header; fully empty rows are skipped. Rows
    are placed as ``Sheet1!row 5``; ``columns`` is the union of the sheets' headers in order,
    a column missing from one sheet being None in its rows.
    """

    def __init__(self, path: str | Path, sheet: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InvalidInput(f"{self.path} does not exist or is not a file.")
        self.name = self.path.name if sheet is None else f"{self.path.name}!{sheet}"
        workbook = self._load()
        try:
            names = list(workbook.sheetnames)
            if sheet is not None and sheet not in names:
                raise InvalidInput(
                    f"{self.path.name} has no sheet {sheet!r}; its sheets: {', '.join(names)}."
                )
            self.sheets = names if sheet is None else [sheet]
            self._headers = {
                name: self._header(name, workbook[name].iter_rows(values_only=True))
                for name in self.sheets
            }
        finally:
            workbook.close()
        self.columns = list(dict.fromkeys(c for cells in self._headers.values() for c, _ in cells))

    def _load(self) -> Any:
        import openpyxl  # noqa: PLC0415 - only Excel sources need it

        try:
            return openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except (BadZipFile, KeyError, OSError, ValueError) as error:
            raise InvalidInput(
                f"{self.path.name} is not a readable .xlsx workbook ({error})."
            ) from None

    def _header(self, sheet: str, rows: Iterable[Sequence[object]]) -> list[tuple[str, int]]:
        """The header of ``sheet`` as (column, cell index) pairs; empty for an empty sheet."""
        for number, cells in enumerate(rows, start=1):
            trimmed = _trim_trailing(cells)
            if trimmed:
                names = [to_text(cell) or "" for cell in trimmed]
                header = _check_header(names, f"{self.path.name}!{sheet} row {number}")
                return list(zip(header, range(len(header)), strict=True))
        return []

    def __iter__(self) -> Iterator[SourceRow]:
        """The data rows of each sheet in turn, headers and empty rows skipped."""
        workbook = self._load()
        try:
            for sheet in self.sheets:
                yield from self._sheet_rows(sheet, workbook[sheet].iter_rows(values_only=True))
        finally:
            workbook.close()

    def _sheet_rows(self, sheet: str, rows: Iterable[Sequence[object]]) -> Iterator[SourceRow]:
        header = self._headers[sheet]
        header_seen = False
        for number, cells in enumerate(rows, start=1):
            trimmed = _trim_trailing(cells)
            if not trimmed:
                continue
            if not header_seen:
                header_seen = True
                continue
            if len(trimmed) > len(header):
                raise InvalidInput(
                    f"{self.path.name}!{sheet} row {number} has a value in column "
                    f"{len(trimmed)}, beyond the {len(header)} columns of the header."
                )
            values: dict[str, str | None] = dict.fromkeys(self.columns)
            for column, index in header:
                values[column] = to_text(trimmed[index]) if index < len(trimmed) else None
            yield SourceRow(f"{sheet}!row {number}", values)


# --- SQL ---------------------------------------------------------------------------------------


class SqlSource(Source):
    """A table or a query of a SQL database given by a SQLAlchemy URL (MariaDB/MySQL through
    PyMySQL, PostgreSQL, SQLite), streamed with a server-side cursor.

    Rows are placed by ``key`` (``id=42``): the table's primary key unless ``key`` names a
    column; for a query without ``key``, by row number (``row 7``). Values are text as in
    :func:`to_text`.
    """

    def __init__(
        self,
        url: str,
        table: str | None = None,
        query: str | None = None,
        key: str | None = None,
    ) -> None:
        if (table is None) == (query is None):
            raise InvalidInput("Give a SQL source either a table or a query, not both or neither.")
        self.name = table or "query"
        self.engine = _create_engine(url)
        try:
            if table is not None:
                self._statement, self.keys = self._for_table(table, key)
            else:
                self._statement, self.keys = self._for_query(query or "", key)
        except SQLAlchemyError as error:
            self.engine.dispose()
            raise DatabaseError(f"The database refused to describe the source: {error}.") from None
        except InvalidInput:
            self.engine.dispose()
            raise

    def _for_table(self, table: str, key: str | None) -> tuple[sa.Executable, list[str]]:
        inspector = sa.inspect(self.engine)
        tables = inspector.get_table_names()
        if table not in tables:
            shown = ", ".join(sorted(tables)[:10]) or "none"
            more = " …" if len(tables) > 10 else ""
            raise InvalidInput(f"The database has no table {table!r}; its tables: {shown}{more}.")
        reflected = sa.Table(table, sa.MetaData(), autoload_with=self.engine)
        self.columns = [column.name for column in reflected.columns]
        keys = [key] if key else list(inspector.get_pk_constraint(table)["constrained_columns"])
        self._check_keys(keys)
        statement = sa.select(reflected).order_by(*(reflected.c[name] for name in keys))
        return statement, keys

    def _for_query(self, query: str, key: str | None) -> tuple[sa.Executable, list[str]]:
        body = query.strip().rstrip(";")
        probe = sa.text(f"SELECT * FROM ({body}) AS tongbu_probe WHERE 1 = 0")
        with self.engine.connect() as connection:
            self.columns = list(connection.execute(probe).keys())
        _check_header(self.columns, "The query")
        keys = [key] if key else []
        self._check_keys(keys)
        return sa.text(body), keys

    def _check_keys(self, keys: list[str]) -> None:
        for name in keys:
            if name not in self.columns:
                raise InvalidInput(
                    f"{self.name} has no column "
                    f"{name!r} to use as key; its columns: {', '.join(self.columns)}."
                )

    def _position(self, values: dict[str, str | None], number: int) -> str:
        if not self.keys:
            return f"row {number}"
        return ",".join(f"{name}={values[name]}" for name in self.keys)

    def __iter__(self) -> Iterator[SourceRow]:
        """The rows, streamed in batches through a server-side cursor."""
        try:
            with self.engine.connect().execution_options(
                stream_results=True, yield_per=_SQL_BATCH
            ) as connection:
                result = connection.execute(self._statement)
                for number, row in enumerate(result, start=1):
                    values = {
                        column: to_text(value)
                        for column, value in zip(self.columns, row, strict=True)
                    }
                    yield SourceRow(self._position(values, number), values)
        except SQLAlchemyError as error:
            raise DatabaseError(f"Reading {self.name} failed: {error}.") from None

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


def _create_engine(url: str) -> sa.Engine:
    try:
        return sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise InvalidInput(f"{url!r} is not a usable database URL ({error}).") from None


# --- opening by name ---------------------------------------------------------------------------

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}


def open_source(
    spec: str,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    table: str | None = None,
    query: str | None = None,
    key: str | None = None,
) -> Source:
    """The source ``spec`` names: a ``.csv``/``.txt``/``.tsv`` file, an ``.xlsx`` workbook, or a
    database URL (anything with ``://``) together with ``table`` or ``query``."""
    if "://" in spec:
        _refuse_options(spec, encoding=encoding, sheet=sheet)
        return SqlSource(spec, table=table, query=query, key=key)
    suffix = Path(spec).suffix.lower()
    if suffix in _CSV_SUFFIXES:
        _refuse_options(spec, sheet=sheet, table=table, query=query, key=key)
        return CsvSource(spec, encoding=encoding, delimiter="\t" if suffix == ".tsv" else None)
    if suffix == ".xlsx":
        _refuse_options(spec, encoding=encoding, table=table, query=query, key=key)
        return ExcelSource(spec, sheet=sheet)
    if suffix == ".xls":
        raise InvalidInput(f"{spec} is an old .xls workbook; save it as .xlsx or CSV first.")
    raise InvalidInput(
        f"{spec} is not a source Tongbu reads: give a .csv, .txt, .tsv or .xlsx file "
        "or a database URL such as mysql+pymysql://user@host/db."
    )


def _refuse_options(spec: str, **options: str | None) -> None:
    for option, value in options.items():
        if value is not None:
            raise InvalidInput(f"--{option} does not apply to the source {spec}.")
