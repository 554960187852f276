"""What the tests of ``tongbu migrate`` share: the shipped mapping, a generated legacy customer
list with known duplicates and known bad rows, and counts of what a database holds, taken
without the migration code."""

from __future__ import annotations

import csv
import sys
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import Engine, func, select

from crm_core import schema
from crm_core._credit_code import credit_code_check_char
from crm_core.db import create_engine, open_session
from crm_core.models import Account, MergeHistory, Quarantine, Xref
from tests.conftest import PG_ADMIN_URL

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # after the installed packages

from data.companies import generate

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "mappings" / "legacy" / "accounts_csv.yaml"
COLUMNS = ("id", "name", "credit_code", "phone", "email", "address", "city", "contact_name")

_ALPHABET = set("0123456789ABCDEFGHJKLMNPQRTUWXY")


def code(first17: str) -> str:
    """A valid credit code: ``first17`` and its check character."""
    return first17 + credit_code_check_char(first17)


def code_is_valid(text: str) -> bool:
    """Whether a legacy cell holds a credit code that passes its check (full-width, lower
    case and spaces allowed), checked here the long way."""
    compact = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    return (
        len(compact) == 18
        and set(compact) <= _ALPHABET
        and credit_code_check_char(compact[:17]) == compact[17]
    )


def write_csv(path: Path, rows: Sequence[Sequence[str | None]], encoding: str = "utf-8") -> Path:
    """Write ``rows`` (the first is the header) as CSV in ``encoding``."""
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream).writerows([[cell or "" for cell in row] for row in rows])
    return path


# --------------------------------------------------------------------------- generated data


@dataclass
class LegacyFile:
    """A generated legacy customer list, as written, and what a migration should make of it."""

    path: Path
    rows: list[dict[str, str]]
    """The data rows in file order (line ``index + 2``)."""
    entities: list[str]
    """The true customer of each row."""
    spoilt: dict[int, str] = field(default_factory=dict)
    """Rows made invalid on purpose, by index: what was done to them."""

    @property
    def invalid(self) -> dict[int, str]:
        """Every row a migration must quarantine, by index, with why: the spoilt rows and the
        generator's mistyped credit codes."""
        found = dict(self.spoilt)
        for index, row in enumerate(self.rows):
            if index not in found and row["credit_code"] and not code_is_valid(row["credit_code"]):
                found[index] = "credit code check"
        return found

    @property
    def loaded(self) -> list[int]:
        """The rows that are not quarantined."""
        invalid = self.invalid
        return [index for index in range(len(self.rows)) if index not in invalid]


def legacy_file(
    path: Path, count: int, seed: int, *, repeat_invalid_keys: bool = False
) -> LegacyFile:
    """``count`` generated accounts (``bench/data/companies.py``: about a third of them further
    records of a customer already written) with, in every 150 rows, an empty name, a malformed
    credit code, a city too long for its column and a legacy id repeating the one of a valid
    row 100 rows earlier. With ``repeat_invalid_keys`` a further row in every 150 repeats the id
    of the malformed-code row 56 rows before it, a row that was quarantined."""
    generated = list(generate(count, seed))
    rows = [dict(row) for row, _entity in generated]
    entities = [entity for _row, entity in generated]
    spoilt: dict[int, str] = {}
    for index, row in enumerate(rows):
        step = index % 150
        if step == 37:
            row["name"] = ""
            spoilt[index] = "empty name"
        elif step == 74:
            row["credit_code"] = "N/A"
            spoilt[index] = "malformed credit code"
        elif step == 140:
            row["city"] = (
                "浙江省杭州市滨江区江南大道一千八百号华信大厦十七楼前台代收请勿放门口周末不收件" * 2
            )
            spoilt[index] = "city too long"
        elif step == 111:
            earlier = rows[index - 100]
            if not earlier["credit_code"] or code_is_valid(earlier["credit_code"]):
                row["id"] = earlier["id"]
                spoilt[index] = "repeated id"
        elif step == 130 and repeat_invalid_keys:
            row["id"] = rows[index - 56]["id"]
    write_csv(path, [COLUMNS, *([row[c] for c in COLUMNS] for row in rows)])
    return LegacyFile(path, rows, entities, spoilt)


# --------------------------------------------------------------------------- the database


@dataclass(frozen=True)
class EndState:
    """What a migration left in a database, by content (ids differ from run to run)."""

    live: Counter[tuple[str, str | None]]
    """(name, credit_code) of the live accounts."""
    merged_records: int
    merges: int
    quarantined: int
    links: Counter[str]
    """The legacy keys linked in ``xref``, with how often each is."""


def end_state(engine: Engine) -> EndState:
    """Count what ``engine``'s database holds."""
    with open_session(engine) as session:
        live = Counter(
            (name, credit_code)
            for name, credit_code in session.execute(
                select(Account.name, Account.credit_code).where(
                    Account.deleted_at.is_(None), Account.merged_into_id.is_(None)
                )
            )
        )
        merged = session.scalar(
            select(func.count()).select_from(Account).where(Account.merged_into_id.is_not(None))
        )
        merges = session.scalar(select(func.count()).select_from(MergeHistory))
        quarantined = session.scalar(select(func.count()).select_from(Quarantine))
        links = Counter(
            session.scalars(
                select(Xref.external_id).where(
                    Xref.system == "legacy", Xref.external_entity == "accounts"
                )
            )
        )
    return EndState(live, merged or 0, merges or 0, quarantined or 0, links)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new PostgreSQL database with the Tongbu schema, dropped afterwards."""
    name = f"tongbu_migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def upgrade(url: str) -> None:
    """Give the database at ``url`` the Tongbu schema."""
    engine = create_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
