"""Matching at the door: a record arriving by sync or migration is compared with the existing
accounts or contacts that share one of its blocking keys, before it is created.

Every live record's blocking keys (the same keys the dedup run blocks on: credit code, name,
name sound, phone, e-mail...) sit in ``match_key``, indexed, as short digests; the table
follows the change feed like the search index does, so writes made anywhere are covered. A new
record's keys are looked up there (one indexed query for a whole batch), the candidates are
read and normalised, and the shipped match model scores each pair with the same comparisons
and guards as a dedup run. At or above the threshold the record is the existing customer;
between ``review_from`` and the threshold it is created and flagged for review
(``match_review``); below, it is new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import numpy as np
from sqlalchemy import Engine, delete, func, null, select
from sqlalchemy.orm import Session

from crm_core._follow import follow_feed, rebuild
from crm_core._values import among
from crm_core.bulk import insert_rows
from crm_core.db import analyze
from crm_core.dedup._compare import compare_all
from crm_core.dedup._core import contact_names, live_records
from crm_core.dedup._entities import ACCOUNT, CONTACT, EntitySpec
from crm_core.dedup._merge import entity_table
from crm_core.dedup._model import MatchModel, default_model, probability
from crm_core.dedup._table import FeatureTable, Pairs
from crm_core.models import MatchKey, MatchReview, table_of

__all__ = [
    "KEYED",
    "DoorMatch",
    "Matcher",
    "index_match_keys",
    "rebuild_match_keys",
    "refresh_match_keys",
]

CONSUMER = "dedup_keys"
KEYED: dict[str, EntitySpec] = {"accounts": ACCOUNT, "contacts": CONTACT}
"""The tables whose records are matched at the door, and how."""

_ANALYZE_AFTER = 10_000
_CANDIDATES = 12
"""Candidates scored per incoming record: those sharing the most keys with it."""

Decision = Literal["link", "review", "new"]


def key_digest(kind: str, value: str) -> str:
    """The stored form of one key value: 32 hex digits, whatever the value's length."""
    return hashlib.blake2b(f"{kind}\x1f{value}".encode(), digest_size=16).hexdigest()


def record_keys(
    spec: EntitySpec, features: Mapping[str, Sequence[str | None]], row: int
) -> list[tuple[str, str]]:
    """The (kind, digest) blocking keys of one normalised record."""
    keys = []
    for blocking in spec.blocking:
        values = [features[name][row] for name in blocking.features]
        if all(value is not None for value in values):
            joined = "\x1f".join(value for value in values if value is not None)
            keys.append((blocking.name, key_digest(blocking.name, joined)))
    return keys


def index_match_keys(session: Session, entity: str, ids: Sequence[UUID]) -> int:
    """Re-derive the keys of these records (deleted and merged ones leave the index)."""
    spec = KEYED[entity]
    keys = table_of(MatchKey)
    session.execute(
        delete(keys).where(keys.c.entity == entity, among(session, keys.c.record_id, list(ids)))
    )
    found, values = live_records(session, spec, ids)
    if not found:
        return 0
    features = spec.featurise([dict(zip(spec.columns, cells, strict=True)) for cells in values])
    rows = [
        {"entity": entity, "kind": kind, "key": digest, "record_id": record_id}
        for row, record_id in enumerate(found)
        for kind, digest in dict.fromkeys(record_keys(spec, features, row))
    ]
    insert_rows(session, keys, rows)
    return len(found)


def refresh_match_keys(engine: Engine, *, batch_size: int = 5000) -> int:
    """Bring ``match_key`` up to date with the change feed; return the records re-keyed."""

    def derive(session: Session, touched: dict[str, set[UUID]]) -> None:
        for entity, ids in touched.items():
            index_match_keys(session, entity, sorted(ids))

    done = follow_feed(engine, CONSUMER, KEYED, derive, batch_size=batch_size)
    if done >= _ANALYZE_AFTER:
        analyze(engine, "match_key")
    return done


def rebuild_match_keys(engine: Engine, *, batch_size: int = 20_000) -> int:
    """Derive every record's keys again from the entity tables; return the records read."""

    def derive(session: Session, touched: dict[str, set[UUID]]) -> None:
        for entity, ids in touched.items():
            index_match_keys(session, entity, sorted(ids))

    tables = {entity: entity_table(entity) for entity in KEYED}
    done = rebuild(
        engine,
        CONSUMER,
        tables,
        derive,
        derived=MatchKey,
        batch_size=batch_size,
    )
    analyze(engine, "match_key")
    return done


@dataclass(frozen=True)
class DoorMatch:
    """What matching one incoming record found."""

    decision: Decision
    record_id: UUID | None
    """The existing record it is (link) or resembles (review)."""
    probability: float
    evidence: list[tuple[str, str, float]] = field(default_factory=list)
    """Each comparison's level and weight for the best candidate."""


@dataclass
class Matcher:
    """Matches incoming records of one entity against the core (build one per run)."""

    entity: str
    model: MatchModel
    threshold: float = 0.9
    review_from: float = 0.5

    @classmethod
    def for_entity(cls, session: Session, entity: str, threshold: float = 0.9) -> Matcher:
        """A matcher with the shipped model, its prior scaled to the records stored."""
        spec = KEYED[entity]
        keys = table_of(MatchKey)
        stored = session.scalar(
            select(func.count(func.distinct(keys.c.record_id))).where(keys.c.entity == entity)
        )
        return cls(entity, default_model(spec).for_records(max(int(stored or 0), 2)), threshold)

    @property
    def spec(self) -> EntitySpec:
        """How records of the entity are normalised and compared."""
        return KEYED[self.entity]

    def match(self, session: Session, records: Sequence[Mapping[str, Any]]) -> list[DoorMatch]:
        """Match each record (a mapping of CRM field names to values) against the core."""
        spec = self.spec
        cells = [{name: _text(record.get(name)) for name in spec.columns} for record in records]
        if not cells:
            return []
        incoming = spec.featurise(cells)
        wanted: dict[str, list[int]] = {}
        for row in range(len(cells)):
            for _kind, digest in record_keys(spec, incoming, row):
                wanted.setdefault(digest, []).append(row)
        shared: list[dict[UUID, int]] = [{} for _ in cells]
        stored: dict[UUID, tuple[str | None, ...]] = {}
        for digest, record_id, values in self._candidates(session, list(wanted)):
            stored[record_id] = values
            for row in wanted[digest]:
                shared[row][record_id] = shared[row].get(record_id, 0) + 1
        # The candidates sharing the most keys with a record are the ones worth scoring.
        chosen = [_most_shared(counts) for counts in shared]
        return self._score(cells, incoming, chosen, stored)

    def _candidates(
        self, session: Session, digests: list[str]
    ) -> list[tuple[str, UUID, tuple[str | None, ...]]]:
        """(key digest, record id, the record's cells) of the live records holding the keys."""
        if not digests:
            return []
        spec = self.spec
        keys = table_of(MatchKey)
        table = entity_table(spec.name)
        columns = [table.c[name] if name in table.c else null() for name in spec.columns]
        query = (
            select(keys.c.key, table.c.id, *columns)
            .join(table, table.c.id == keys.c.record_id)
            .where(
                keys.c.entity == self.entity,
                among(session, keys.c.key, digests),
                table.c.deleted_at.is_(None),
                table.c.merged_into_id.is_(None),
            )
        )
        found = [
            (row[0], row[1], tuple(_text(v) for v in row[2:])) for row in session.execute(query)
        ]
        if "contact_name" in spec.columns and found:
            names = contact_names(session, list({record_id for _d, record_id, _v in found}))
            position = spec.columns.index("contact_name")
            found = [
                (digest, rid, (*values[:position], names.get(rid), *values[position + 1 :]))
                for digest, rid, values in found
            ]
        return found

    def _score(
        self,
        cells: list[dict[str, str | None]],
        incoming: dict[str, list[str | None]],
        chosen: list[list[UUID]],
        stored: Mapping[UUID, tuple[str | None, ...]],
    ) -> list[DoorMatch]:
        spec = self.spec
        results = [DoorMatch("new", None, 0.0) for _ in cells]
        every = sorted({record_id for ids in chosen for record_id in ids})
        if not every:
            return results
        candidates = spec.featurise(
            [dict(zip(spec.columns, stored[record_id], strict=True)) for record_id in every]
        )
        offset = len(cells)
        row_of = {record_id: offset + n for n, record_id in enumerate(every)}
        columns = {name: incoming[name] + candidates[name] for name in incoming}
        table = FeatureTable([str(n) for n in range(offset)] + [str(r) for r in every], columns)
        lefts = [row for row, ids in enumerate(chosen) for _ in ids]
        rights = [row_of[record_id] for ids in chosen for record_id in ids]
        pairs = Pairs(np.array(lefts, dtype=np.int64), np.array(rights, dtype=np.int64))
        levels = compare_all(table, pairs, spec.comparisons)
        scores = self.model.scores(levels)
        for guard in spec.guards:
            scores[guard.forbids(table, pairs, levels)] = -np.inf
        best: dict[int, int] = {}
        for index, row in enumerate(lefts):
            if row not in best or scores[index] > scores[best[row]]:
                best[row] = index
        for row, index in best.items():
            chance = probability(float(scores[index]))
            decision: Decision = "new"
            if chance >= self.threshold:
                decision = "link"
            elif chance >= self.review_from:
                decision = "review"
            record_id = every[rights[index] - offset] if decision != "new" else None
            evidence = self.model.explain(levels[index].tolist())
            results[row] = DoorMatch(decision, record_id, chance, evidence)
        return results


def _most_shared(counts: Mapping[UUID, int]) -> list[UUID]:
    """The candidates sharing the most keys (ties: smallest id), at most ``_CANDIDATES``."""
    return sorted(counts, key=lambda record_id: (-counts[record_id], record_id))[:_CANDIDATES]


def flag_for_review(
    session: Session,
    entity: str,
    record_id: UUID,
    match: DoorMatch,
    source: str | None,
) -> None:
    """Record that ``record_id`` was created resembling ``match.record_id``."""
    assert match.record_id is not None  # noqa: S101 - only reviews are flagged
    session.add(
        MatchReview(
            entity=entity,
            record_id=record_id,
            candidate_id=match.record_id,
            probability=round(match.probability, 6),
            evidence={"comparisons": [list(part) for part in match.evidence]},
            source=source,
        )
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
