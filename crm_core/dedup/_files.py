"""Reading the records of ``tongbu dedup csv`` from a CSV file and writing the clusters back.

The file's columns are named as the CRM fields; ``id`` is required and unique, other columns
the entity does not know are ignored, missing ones are allowed, and an empty cell is a missing
value. The encoding is UTF-8 (with or without a byte-order mark) or GB18030 (which covers GBK
and GB2312), found by trying them in that order unless one is named.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from crm_core.dedup._entities import EntitySpec
from crm_core.errors import InvalidInput

__all__ = ["InputRecords", "RecordReader", "read_records", "write_clusters"]

_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class InputRecords:
    """The records of a file: their ids, the columns used, and each record's cells."""

    ids: list[str]
    names: tuple[str, ...]
    values: list[tuple[str | None, ...]]
    encoding: str
    ignored: tuple[str, ...]
    """Columns of the file that the entity does not use."""


def read_records(path: Path, spec: EntitySpec, encoding: str | None = None) -> InputRecords:
    """The records of ``path``; a clear error for a file that cannot be deduplicated."""
    with RecordReader(path, spec, encoding) as reader:
        values = [cells for chunk in reader.chunks() for cells in chunk]
        reader.finish()
        return InputRecords(reader.ids, reader.names, values, reader.encoding, reader.ignored)


class RecordReader:
    """Reads a file's records chunk by chunk (so normalising can start before reading ends).

    The header is checked on opening; every record's cells are checked as they are read; the
    ids are collected, and :meth:`finish` refuses the file if an id came twice.
    """

    def __init__(self, path: Path, spec: EntitySpec, encoding: str | None = None) -> None:
        self.path = path
        self.encoding = _encoding_of(path, encoding)
        self._stream = path.open(encoding=self.encoding, newline="")
        self._reader = csv.reader(self._stream)
        try:
            header = _header(path, self._reader)
        except BaseException:
            self._stream.close()
            raise
        self._header = header
        self.names = tuple(name for name in header if name in spec.columns)
        """The columns read, in the order of each record's cells."""
        self.ignored = tuple(name for name in header if name != "id" and name not in spec.columns)
        self.ids: list[str] = []

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()

    def chunks(self, size: int = 25_000) -> Iterator[list[tuple[str | None, ...]]]:
        """The records' cells, ``size`` records at a time (their ids go to :attr:`ids`)."""
        header, path = self._header, self.path
        positions = [header.index(name) for name in self.names]
        id_position = header.index("id")
        width = len(header)
        chunk: list[tuple[str | None, ...]] = []
        for line, cells in enumerate(self._reader, start=2):
            if not cells:
                continue
            if len(cells) != width:
                raise InvalidInput(
                    f"{path}, line {line}: {len(cells)} cells where the header has {width}"
                )
            record_id = cells[id_position].strip()
            if not record_id:
                raise InvalidInput(f"{path}, line {line}: the id is empty")
            self.ids.append(record_id)
            chunk.append(tuple(_cell(cells[p]) for p in positions))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def finish(self) -> None:
        """Refuse the file if an id came twice (call after reading every chunk)."""
        _refuse_duplicate_ids(self.path, self.ids)


def _header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    header = next(reader, None)
    if header is None:
        raise InvalidInput(f"{path} is empty: it needs a header line with an id column")
    header = [name.strip() for name in header]
    if "id" not in header:
        raise InvalidInput(f"{path} has no id column (its columns: {', '.join(header)})")
    return header


def _cell(text: str) -> str | None:
    value = text.strip()
    return value or None


def _encoding_of(path: Path, encoding: str | None) -> str:
    """The first encoding in which the whole file decodes (checked piece by piece, so a large
    file is never held twice)."""
    for candidate in (encoding,) if encoding else _ENCODINGS:
        try:
            _check(path, candidate)
        except UnicodeDecodeError as error:
            failure = error
        except LookupError as error:
            raise InvalidInput(f"unknown encoding {encoding!r}") from error
        else:
            return candidate
    if encoding:
        raise InvalidInput(
            f"{path} is not valid {encoding} (byte {failure.start}): name the right one with "
            "--encoding"
        )
    raise InvalidInput(
        f"{path} is neither UTF-8 nor GB18030/GBK (byte {failure.start}): name its encoding "
        "with --encoding"
    )


def _check(path: Path, encoding: str) -> None:
    """Decode the whole file in pieces; raise UnicodeDecodeError where it does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    position = 0
    try:
        with path.open("rb") as stream:
            while piece := stream.read(1 << 22):
                try:
                    decoder.decode(piece)
                except UnicodeDecodeError as error:
                    raise UnicodeDecodeError(
                        encoding, piece, error.start + position, error.end + position, error.reason
                    ) from None
                position += len(piece)
            decoder.decode(b"", final=True)
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from error


def _refuse_duplicate_ids(path: Path, ids: Sequence[str]) -> None:
    if len(set(ids)) == len(ids):
        return
    seen: set[str] = set()
    repeated: list[str] = []
    for record_id in ids:
        if record_id in seen and record_id not in repeated:
            repeated.append(record_id)
        seen.add(record_id)
    shown = ", ".join(repeated[:5]) + (" ..." if len(repeated) > 5 else "")
    raise InvalidInput(f"{path} has {len(repeated)} duplicate id(s): {shown}")


def write_clusters(path: Path, ids: Sequence[str], cluster_ids: Sequence[str]) -> None:
    """Write ``id,cluster_id``, one line per record, in the input's order."""
    try:
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(("id", "cluster_id"))
            writer.writerows(zip(ids, cluster_ids, strict=True))
    except OSError as error:
        raise InvalidInput(f"cannot write {path}: {error.strerror or error}") from error
