"""One batch on its way in: checked column by column, reduced to the last row of each key, and
compared with what the database holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import eq, itemgetter, methodcaller
from typing import Any
from uuid import UUID

from sqlalchemy import Column, select
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.bulk._plan import Plan
from crm_core.models import new_id

__all__ = ["Batch", "Rejected"]


@dataclass(frozen=True)
class Rejected:
    """A row that was not written, and why."""

    index: int
    """Position of the row in its batch (in the whole stream, for :func:`load`)."""
    row: Mapping[str, Any]
    reason: str


@dataclass
class Batch:
    """The rows of one batch, held as columns of checked values."""

    plan: Plan
    rows: Sequence[Mapping[str, Any]]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    """The checked values of each field, one per input row."""
    latest: dict[Any, int] = field(default_factory=dict)
    """For each key, the position of its last row: the one that is written."""
    repeats: dict[Any, list[int]] = field(default_factory=dict)
    """For each key given to more than one row, the positions of all its rows."""
    rejected: list[Rejected] = field(default_factory=list)

    def check(self) -> None:
        """Check every value; reject rows that do not fit; find each row's key."""
        plan, rows = self.plan, self.rows
        errors = self._odd_rows()
        for name, check in zip(plan.fields, plan.checks, strict=True):
            values = (
                [row.get(name) for row in rows] if errors else list(map(itemgetter(name), rows))
            )
            for i, reason in check(values).items():
                errors.setdefault(i, reason)
            self.columns[name] = values
        if plan.key in self.columns:
            keys = self.columns[plan.key]
        else:
            keys = self.columns["id"] = [new_id() for _ in rows]
        self._index(keys, errors)
        self.rejected.extend(Rejected(i, rows[i], reason) for i, reason in sorted(errors.items()))

    def _odd_rows(self) -> dict[int, str]:
        """The rows whose fields are not the plan's (one pass in C when all are)."""
        wanted = set(self.plan.fields)
        if all(map(eq, map(methodcaller("keys"), self.rows), repeat(wanted))):
            return {}
        return {
            i: "the row's fields differ from the first row's"
            for i, row in enumerate(self.rows)
            if row.keys() != wanted
        }

    def _index(self, keys: list[Any], errors: dict[int, str]) -> None:
        """Find the row of each key (adding to ``errors`` the rows without one)."""
        if any(key is None for key in keys):
            for i, key in enumerate(keys):
                if key is None and i not in errors:
                    if self.plan.key != "id":
                        errors[i] = f"{self.plan.key} is missing"
                    else:
                        keys[i] = new_id()
        positions: Sequence[int] = range(len(keys))
        if errors:
            positions = [i for i in positions if i not in errors]
        self.latest = {keys[i]: i for i in positions}  # a repeated key: its last row wins
        if len(self.latest) < len(positions):
            every: dict[Any, list[int]] = {}
            for i in positions:
                every.setdefault(keys[i], []).append(i)
            self.repeats = {key: rows for key, rows in every.items() if len(rows) > 1}

    def positions(self, key: Any) -> list[int]:
        """The positions of every row of ``key``."""
        return self.repeats.get(key) or [self.latest[key]]

    def value(self, name: str, key: Any) -> Any:
        """The value of field ``name`` in the row written for ``key``."""
        return self.columns[name][self.latest[key]]

    def given_id(self, key: Any) -> UUID | None:
        """The id the row of ``key`` carries, if any."""
        ids = self.columns.get("id")
        return ids[self.latest[key]] if ids is not None else None

    def reject(self, key: Any, reason: str) -> None:
        """Reject every row of one key."""
        positions = self.positions(key)
        del self.latest[key]
        self.repeats.pop(key, None)
        self.rejected.extend(Rejected(i, self.rows[i], reason) for i in positions)

    def reject_dangling_references(self, session: Session) -> None:
        """Reject rows that point at records that do not exist (an owner, an account...)."""
        for name, referred in self.plan.references:
            wanted = {self.value(name, key) for key in self.latest} - {None}
            found = holders(session, referred, wanted)
            for key in list(self.latest):
                value = self.value(name, key)
                if value is not None and value not in found:
                    self.reject(key, f"{name} {value} does not exist in {referred.table.name}")

    def stored(self, session: Session) -> dict[Any, dict[str, Any]]:
        """The stored id, version and fields of the records the keys already name."""
        if self.plan.new_only or not self.latest:
            return {}
        table = self.plan.table
        wanted = sorted({"id", "version", self.plan.key, *self.plan.fields})
        key_column = table.c[self.plan.key]
        query = select(*(table.c[name] for name in wanted)).where(
            among(session, key_column, list(self.latest))
        )
        return {row[self.plan.key]: dict(row) for row in session.execute(query).mappings()}

    def reject_unique_clashes(self, session: Session, stored: dict[Any, dict[str, Any]]) -> None:
        """Reject rows whose unique values (other than the key) belong to another record."""
        table = self.plan.table
        for name in self.plan.unique:
            claimants: dict[Any, list[Any]] = {}
            for key in self.latest:
                value = self.value(name, key)
                if value is not None:
                    claimants.setdefault(value, []).append(key)
            owners = holders(session, table.c[name], set(claimants))
            for value, keys in claimants.items():
                holder = owners.get(value)
                for position, key in enumerate(keys):
                    target = stored[key]["id"] if key in stored else self.given_id(key)
                    if holder is not None and holder != target:
                        reason = f"{name} {value!r} already belongs to {table.name} {holder}"
                    elif position > 0:
                        reason = f"{name} {value!r} is also given to an earlier row of the batch"
                    else:
                        continue
                    self.reject(key, reason)


def holders(session: Session, column: Column[Any], values: Iterable[Any]) -> dict[Any, Any]:
    """For each of ``values`` stored in ``column``, the id of the record that holds it."""
    wanted = list(values)
    if not wanted:
        return {}
    id_column = column.table.c.id
    query = select(column, id_column).where(among(session, column, wanted))
    return {row[0]: row[1] for row in session.execute(query)}
