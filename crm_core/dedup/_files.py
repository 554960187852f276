"""Reading the records of ``tongbu dedup csv`` from a CSV file and writing the clusters back.

The file's columns are named as the CRM fields; ``id`` is required and unique, other columns
the entity does not know are ignored, missing ones are allowed, and an empty cell is a missing
value. The encoding is UTF-8 (with or without a byte-order mark) or GB18030 (which covers GBK
and GB2312), found by trying them in that order unless one is named.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crm_core.dedup._entities import EntitySpec
from crm_core.errors import InvalidInput

__all__ = ["InputRecords", "read_records", "write_clusters"]

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
    text, used = _decode(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise InvalidInput(f"{path} is empty: it needs a header line with an id column")
    header = [name.strip() for name in header]
    if "id" not in header:
        raise InvalidInput(f"{path} has no id column (its columns: {', '.join(header)})")
    known = [name for name in header if name in spec.columns]
    positions = [header.index(name) for name in known]
    id_position = header.index("id")
    ids: list[str] = []
    values: list[tuple[str | None, ...]] = []
    width = len(header)
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != width:
            raise InvalidInput(
                f"{path}, line {line}: {len(cells)} cells where the header has {width}"
            )
        record_id = cells[id_position].strip()
        if not record_id:
            raise InvalidInput(f"{path}, line {line}: the id is empty")
        ids.append(record_id)
        values.append(tuple(_cell(cells[p]) for p in positions))
    _refuse_duplicate_ids(path, ids)
    ignored = tuple(name for name in header if name != "id" and name not in spec.columns)
    return InputRecords(ids, tuple(known), values, used, ignored)


def _cell(text: str) -> str | None:
    value = text.strip()
    return value or None


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from error
    for candidate in (encoding,) if encoding else _ENCODINGS:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError as error:
            failure = error
        except LookupError as error:
            raise InvalidInput(f"unknown encoding {encoding!r}") from error
    if encoding:
        raise InvalidInput(
            f"{path} is not valid {encoding} (byte {failure.start}): name the right one with "
            "--encoding"
        )
    raise InvalidInput(
        f"{path} is neither UTF-8 nor GB18030/GBK (byte {failure.start}): name its encoding "
        "with --encoding"
    )


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
