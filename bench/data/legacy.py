"""A legacy system's accounts as a CSV file: the source of the migration benchmark.

The rows are the generated Chinese companies of :mod:`data.companies` (the same columns: ``id,
name, credit_code, phone, email, address, city, contact_name``), thinned and spoilt the way a
migration meets them:

* **Legacy ids.** Every row has a text key ``C`` + 7 digits (``C0000001``; more digits past ten
  million rows), unique except where a row repeats one on purpose (below).
* **About 10 % duplicates.** In ``companies`` a quarter of the entities have 2-5 records, so about
  30 % of its rows are another record of an entity already seen. Here the first row of each entity
  is always kept and each further one with probability 0.25 (:data:`KEEP_DUPLICATE`), so that
  about 10 % of the rows belong to an entity an earlier row already holds. Measured (seed 1):
  9.97 % at 1,000,000 rows, 9.69 % at 100,000, 9.21 % at 20,000 (the share of entities with
  several records grows a little with the count in ``companies``). The share is counted exactly
  as the file is written and returned in the summary.
* **About 1 % invalid** (0.97 % at 1,000,000 rows, 0.95 % at 20,000), in ways a migration must
  quarantine, counted by kind:

  - ``credit_code_check``: a credit code whose check character fails. These come from
    ``companies`` itself (4 % of its further records that have a code carry a mistyped one):
    0.56 % of the rows here. The mapping's ``credit_code`` transform refuses them;
  - and, drawn for 0.4 % of the other rows (:data:`INVALID_RATE`), so that the total is about
    1 %: an empty ``name`` (25 % of them); a malformed credit code, ``N/A`` or ``无`` (10 %) or
    a valid code cut to 17 characters (10 %); an over-long field (30 %): ``phone`` over its 64
    characters (several numbers with notes, as old systems kept them), ``email`` over 255 (a
    distribution list) or ``city`` over 64 (the whole address and a delivery note); a legacy
    ``id`` that one of the last thousand valid rows already has (25 %).

  Only valid rows are spoilt, so a row counts under one kind at most. Fields the generator leaves
  merely untidy (lower-case or full-width codes, phones written another way, traditional
  characters) are not counted as invalid: cleansing repairs them.
* **About 150 bytes a row** in UTF-8 (the name, address, city and contact are Chinese, three
  bytes a character; the line ends in ``\\n``): 155.6 bytes measured at 1,000,000 rows (seed 1),
  returned in the summary.

The stream is deterministic for a seed (but a shorter file is not the start of a longer one: the
company generator sizes some pools by the count) and flat in memory (about 200 MB, most of it the
company generator's): ``companies`` shuffles its records in a window of 5,000, so this generator
remembers only the last 100,000 entities it has seen; a record coming out that long after the
first of its entity is far rarer than one in a million. A million rows take about 70 s.

The summary that :func:`write_legacy_csv` returns also counts what a migration of the file should
report: ``invalid`` rows quarantined; ``valid_duplicates`` (valid rows of an entity that an
earlier valid row holds) merged with dedup on; and, of these, ``shared_code_duplicates`` (those
that repeat a valid credit code of an earlier row of their entity), which with dedup off the
unique ``credit_code`` of accounts cannot take as new accounts. ::

    .venv/bin/python bench/data/legacy.py --rows 1000000 -o accounts.csv

    from data.legacy import write_legacy_csv    # with bench/ on sys.path
    summary = write_legacy_csv(Path("accounts.csv"), 1_000_000, seed=1)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
import unicodedata
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ on the path, as the benchmarks have it
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_core.dedup import credit_code_check_char
from data import companies
from data.companies import COLUMNS

__all__ = ["COLUMNS", "INVALID_RATE", "KEEP_DUPLICATE", "legacy_rows", "main", "write_legacy_csv"]

KEEP_DUPLICATE = 0.25
"""The chance that a further record of an entity already written is kept."""
INVALID_RATE = 0.004
"""The share of otherwise valid rows spoilt on purpose (the mistyped codes of ``companies`` add
about 0.56 % of the rows)."""
_INVALID_KINDS = (
    ("empty_name", 25),
    ("credit_code_na", 10),
    ("credit_code_17", 10),
    ("long_phone", 10),
    ("long_email", 10),
    ("long_city", 10),
    ("repeated_id", 25),
)
_REMEMBERED_ENTITIES = 100_000
_RECENT_IDS = 1_000
_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CODE_CHARS = frozenset(_CODE_ALPHABET)
_PHONE_NOTES = ("(总机)", "(传真)", "(财务)", "(张经理)", "(仓库)", "转8001", "工作日9:00-17:30")
_CITY_NOTES = (
    "送货前请提前一天电话联系仓库，周末及法定节假日不收货，大件货物请走货梯",
    "开票地址与收货地址不同，发票请寄财务部，货物送至园区北门物流仓库签收",
)
_MAILBOXES = ("sales", "finance", "purchase", "service", "hr", "admin", "info", "market")


class _Stats:
    """What the stream has written so far, and what it remembers to count it."""

    def __init__(self) -> None:
        self.rows = 0
        self.entities = 0
        self.duplicates = 0
        self.valid_duplicates = 0
        self.shared_code_duplicates = 0
        self.invalid: Counter[str] = Counter()
        # the last entities seen: None while one has no valid row yet, else the valid credit
        # codes of its valid rows
        self.seen: OrderedDict[str, set[str] | None] = OrderedDict()
        self.recent_ids: deque[str] = deque(maxlen=_RECENT_IDS)
        """The ids of the last valid rows, for the repeated ids."""

    def add(self, row_id: str, entity: str, kind: str | None, code: str | None) -> None:
        """Count a row written: its id, its entity, its kind of invalid (None when valid) and its
        valid credit code."""
        seen = self.seen
        self.rows += 1
        if entity in seen:
            self.duplicates += 1
            seen.move_to_end(entity)
        else:
            self.entities += 1
            seen[entity] = None
            if len(seen) > _REMEMBERED_ENTITIES:
                seen.popitem(last=False)
        if kind is not None:
            self.invalid[kind] += 1
            return
        codes = seen[entity]
        if codes is None:
            seen[entity] = {code} if code else set()
        else:
            self.valid_duplicates += 1
            if code in codes:
                self.shared_code_duplicates += 1
            elif code:
                codes.add(code)
        self.recent_ids.append(row_id)

    def summary(self) -> dict[str, Any]:
        """The counts, and the shares of duplicates and invalid rows."""
        invalid = sum(self.invalid.values())
        rows = self.rows or 1
        return {
            "rows": self.rows,
            "entities": self.entities,
            "duplicates": self.duplicates,
            "duplicate_share": round(self.duplicates / rows, 5),
            "valid_duplicates": self.valid_duplicates,
            "shared_code_duplicates": self.shared_code_duplicates,
            "invalid": invalid,
            "invalid_share": round(invalid / rows, 5),
            "invalid_by_kind": dict(sorted(self.invalid.items())),
        }


def _code_key(code: str) -> str | None:
    """The credit code as cleansing leaves it (half width, upper case, no spaces), or None when
    it is empty or not a valid code."""
    compact = "".join(unicodedata.normalize("NFKC", code).split()).upper()
    if (
        len(compact) != 18
        or not _CODE_CHARS.issuperset(compact)
        or credit_code_check_char(compact[:17]) != compact[17]
    ):
        return None
    return compact


def legacy_rows(count: int, seed: int, stats: _Stats | None = None) -> Iterator[tuple[str, ...]]:
    """``count`` legacy account rows (the :data:`COLUMNS` values, ``id`` first), deterministic
    for ``seed``; ``stats`` (when given) counts what was written."""
    stats = stats if stats is not None else _Stats()
    rng = random.Random(seed * 7_919 + 104_729)
    kinds = [kind for kind, weight in _INVALID_KINDS for _ in range(weight)]
    width = max(7, len(str(count)))
    number = 0
    for record, entity in companies.generate(2 * count + 2 * companies.WINDOW, seed):
        if number == count:
            return
        if entity in stats.seen and rng.random() >= KEEP_DUPLICATE:
            continue
        number += 1
        row = [record[column] for column in COLUMNS]
        row[0] = f"C{number:0{width}d}"
        code = _code_key(row[2]) if row[2] else None
        kind = "credit_code_check" if row[2] and code is None else None
        if kind is None and rng.random() < INVALID_RATE:
            kind = rng.choice(kinds)
            if kind == "repeated_id" and not stats.recent_ids:
                kind = "empty_name"
            _spoil(row, kind, rng, stats.recent_ids)
        stats.add(row[0], entity, kind, code)
        yield tuple(row)
    if number < count:
        raise RuntimeError(f"the company stream ran out after {number} of {count} rows")


def _spoil(row: list[str], kind: str, rng: random.Random, recent_ids: deque[str]) -> None:
    """Make ``row`` invalid in the way ``kind`` says."""
    if kind == "empty_name":
        row[1] = ""
    elif kind == "credit_code_na":
        row[2] = rng.choice(("N/A", "无"))
    elif kind == "credit_code_17":
        code = _code_key(row[2]) if row[2] else None
        row[2] = code[:17] if code else "91" + "".join(rng.choices(_CODE_ALPHABET, k=15))
    elif kind == "long_phone":
        phones = [row[3] or "0571-87654321"]
        while len(" / ".join(phones)) <= 64:
            mobile = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            phones.append(mobile + rng.choice(_PHONE_NOTES))
        row[3] = " / ".join(phones)
    elif kind == "long_email":
        domain = row[4].partition("@")[2] or "example.com.cn"
        mailboxes = list(_MAILBOXES)
        rng.shuffle(mailboxes)
        addresses = [row[4]] if row[4] else []
        while len(";".join(addresses)) <= 255:
            box = mailboxes[len(addresses) % len(mailboxes)]
            addresses.append(f"{box}{len(addresses)}@{domain}")
        row[4] = ";".join(addresses)
    elif kind == "long_city":
        city = row[5] or row[6] or "杭州市"
        while len(city) <= 64:
            city += f"（{rng.choice(_CITY_NOTES)}）"
        row[6] = city
    elif kind == "repeated_id":
        row[0] = recent_ids[rng.randrange(len(recent_ids))]
    else:  # pragma: no cover - the kinds are fixed above
        raise ValueError(kind)


def write_legacy_csv(path: Path, rows: int, seed: int) -> dict[str, Any]:
    """Write ``rows`` legacy account rows (with a header) to ``path`` in UTF-8; return a
    summary: the counts of :class:`_Stats`, bytes a row and seconds."""
    started = time.perf_counter()
    stats = _Stats()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        header_bytes = stream.tell()
        writer.writerows(legacy_rows(rows, seed, stats))
        size = stream.tell()
    seconds = time.perf_counter() - started
    return {
        **stats.summary(),
        "seed": seed,
        "bytes": size,
        "bytes_per_row": round((size - header_bytes) / max(rows, 1), 1),
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Write a legacy accounts CSV and print its summary."""
    parser = argparse.ArgumentParser(
        description="Generate a legacy accounts CSV (Chinese companies, ~10% duplicates, ~1% "
        "invalid rows) for the migration benchmark."
    )
    parser.add_argument("--rows", type=int, required=True, help="how many rows")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the CSV to write")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    summary = write_legacy_csv(args.output, args.rows, args.seed)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
