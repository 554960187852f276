"""One dedup run over a set of records: normalise, block, compare, train or load the model,
score, apply the guards, cluster.

Normalising is the costly step (text work per record in Python), so above a few tens of
thousands of records it runs in worker processes, one per core, chunk by chunk; everything after
it works on whole columns with numpy.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from time import perf_counter
from typing import Protocol

import numpy as np
import numpy.typing as npt

from crm_core.dedup._blocking import candidate_pairs, key_codes
from crm_core.dedup._cluster import Clustering, Review, cluster
from crm_core.dedup._compare import compare_all
from crm_core.dedup._entities import ENTITIES, EntitySpec
from crm_core.dedup._model import (
    MatchModel,
    TrainingRound,
    default_model,
    estimate_u,
    probability,
    train,
)
from crm_core.dedup._table import FeatureTable, Pairs
from crm_core.errors import InvalidInput

__all__ = [
    "DEFAULT_THRESHOLD",
    "DedupResult",
    "PairExplanation",
    "Progress",
    "dedup_records",
    "dedup_table",
    "explain_pair",
    "featurise",
]

DEFAULT_THRESHOLD = 0.9
"""Pairs at or above this match probability are the same customer."""

_PARALLEL_FROM = 20_000
_TRAIN_FROM_PAIRS = 2_000
"""Fewer candidate pairs than this are too few to train on: the shipped model scores them."""
_CHUNK = 25_000


class Progress(Protocol):
    """What a long run reports: the phase it is in and how far it is through it."""

    def phase(self, name: str, total: int | None = None) -> None:
        """A new phase starts (with ``total`` steps, when it counts them)."""

    def advance(self, steps: int) -> None:
        """``steps`` more steps of the current phase are done."""


class _Silent:
    def phase(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass


@dataclass
class DedupResult:
    """The outcome of a run: a cluster id per record, what was held back, and the evidence."""

    spec: EntitySpec
    ids: list[str]
    cluster_ids: list[str]
    reviews: list[Review]
    model: MatchModel
    table: FeatureTable
    pairs: Pairs
    levels: npt.NDArray[np.int8]
    scores: npt.NDArray[np.float64]
    """Per candidate pair, its match weight (-inf where a guard forbids the match)."""
    forbidden_by: npt.NDArray[np.int8]
    """Per candidate pair, the number of the guard that forbids it plus one (0: none)."""
    threshold: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def matched(self) -> int:
        """Candidate pairs at or above the threshold."""
        return int((self.scores >= _weight_of(self.threshold)).sum())

    @property
    def clusters(self) -> int:
        """The number of customers found (records alone count as one each)."""
        return len(set(self.cluster_ids))


def featurise(
    spec: EntitySpec,
    names: Sequence[str],
    values: Sequence[Sequence[str | None]] | Iterable[Sequence[Sequence[str | None]]],
    progress: Progress | None = None,
    *,
    chunked: bool = False,
) -> dict[str, list[str | None]]:
    """The normalised features of the records ``values`` (cells in the order of ``names``).

    With ``chunked``, ``values`` is a stream of chunks of records (as
    :meth:`~crm_core.dedup.RecordReader.chunks` reads them): each chunk goes to a worker
    process as soon as it is read, so reading and normalising overlap. Without, ``values``
    holds the records, normalised in worker processes when there are many.
    """
    progress = progress or _Silent()
    names = tuple(names)
    if chunked:
        chunks: Iterable[Sequence[Sequence[str | None]]] = values  # type: ignore[assignment]
        progress.phase("normalising")
        parallel = True
    else:
        records: Sequence[Sequence[str | None]] = values  # type: ignore[assignment]
        chunks = [records[start : start + _CHUNK] for start in range(0, len(records), _CHUNK)]
        progress.phase("normalising", len(records))
        parallel = len(records) >= _PARALLEL_FROM
    workers = min(os.cpu_count() or 1, 8)
    columns: dict[str, list[str | None]] = {name: [] for name in spec.featurise([])}
    if not parallel or workers < 2:
        for chunk in chunks:
            _extend(columns, _featurise_chunk(spec.name, names, chunk))
            progress.advance(len(chunk))
        return columns
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[int, Future[dict[str, list[str | None]]]]] = deque()
        for chunk in chunks:
            pending.append((len(chunk), pool.submit(_featurise_chunk, spec.name, names, chunk)))
            # Collect finished chunks in order as we go: a bounded queue, flat memory.
            while pending and (pending[0][1].done() or len(pending) > 2 * workers):
                size, future = pending.popleft()
                _extend(columns, future.result())
                progress.advance(size)
        while pending:
            size, future = pending.popleft()
            _extend(columns, future.result())
            progress.advance(size)
    return columns


def _featurise_chunk(
    entity: str, names: tuple[str, ...], values: Sequence[Sequence[str | None]]
) -> dict[str, list[str | None]]:
    return ENTITIES[entity].featurise([dict(zip(names, row, strict=True)) for row in values])


def _extend(columns: dict[str, list[str | None]], part: Mapping[str, list[str | None]]) -> None:
    for name, values in part.items():
        columns.setdefault(name, []).extend(values)


def _weight_of(threshold: float) -> float:
    """The match weight at which the probability reaches ``threshold``."""
    threshold = min(max(threshold, 1e-9), 1 - 1e-9)
    return math.log2(threshold / (1 - threshold))


def dedup_records(
    spec: EntitySpec,
    ids: Sequence[str],
    names: Sequence[str],
    values: Sequence[Sequence[str | None]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    model: MatchModel | None = None,
    cannot_link: Iterable[tuple[str, str]] = (),
    progress: Progress | None = None,
) -> DedupResult:
    """Find the records that are the same customer: record ``k`` has id ``ids[k]`` and the cells
    ``values[k]``, in the order of the column ``names``."""
    started = perf_counter()
    table = FeatureTable(list(ids), featurise(spec, names, values, progress))
    return dedup_table(
        spec,
        table,
        threshold=threshold,
        model=model,
        cannot_link=cannot_link,
        progress=progress,
        normalised_in=perf_counter() - started,
    )


def dedup_table(
    spec: EntitySpec,
    table: FeatureTable,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    model: MatchModel | None = None,
    cannot_link: Iterable[tuple[str, str]] = (),
    progress: Progress | None = None,
    normalised_in: float = 0.0,
) -> DedupResult:
    """:func:`dedup_records` on records already normalised (see :func:`featurise`)."""
    progress = progress or _Silent()
    ids = table.ids
    timings: dict[str, float] = {"normalise": normalised_in}
    started = perf_counter() - normalised_in

    progress.phase("blocking")
    mark = perf_counter()
    pairs = candidate_pairs(table, spec.blocking)
    timings["block"] = perf_counter() - mark

    progress.phase(f"comparing {len(pairs):,} candidate pairs")
    mark = perf_counter()
    levels = compare_all(table, pairs, spec.comparisons)
    timings["compare"] = perf_counter() - mark

    mark = perf_counter()
    if model is None:
        if len(pairs) >= _TRAIN_FROM_PAIRS:
            progress.phase("training the match model")
            samples = min(500_000, max(len(ids) * 20, 50_000))
            u = estimate_u(table, spec.comparisons, samples=samples)
            model = train(levels, u, spec.comparisons, _rounds(spec, table, pairs), len(ids))
        else:
            model = default_model(spec).for_records(len(ids))
    timings["train"] = perf_counter() - mark

    progress.phase("scoring and clustering")
    mark = perf_counter()
    scores = model.scores(levels)
    forbidden_by = np.zeros(len(pairs), dtype=np.int8)
    for number, guard in enumerate(spec.guards, start=1):
        forbids = guard.forbids(table, pairs, levels) & (forbidden_by == 0)
        forbidden_by[forbids] = number
    scores[forbidden_by > 0] = -np.inf
    matched = scores >= _weight_of(threshold)
    apart = list(cannot_link)
    clustering = cluster(
        len(ids),
        pairs.left[matched],
        pairs.right[matched],
        scores[matched],
        table.ids,
        conflict=_conflicts(spec, table, apart),
        pairs_need_checks=bool(apart),
    )
    timings["cluster"] = perf_counter() - mark
    timings["total"] = perf_counter() - started
    return DedupResult(
        spec=spec,
        ids=table.ids,
        cluster_ids=_cluster_ids(table.ids, clustering),
        reviews=clustering.reviews,
        model=model,
        table=table,
        pairs=pairs,
        levels=levels,
        scores=scores,
        forbidden_by=forbidden_by,
        threshold=threshold,
        timings=timings,
    )


def _rounds(spec: EntitySpec, table: FeatureTable, pairs: Pairs) -> list[TrainingRound]:
    """One training round per blocking key: the pairs it found, the comparisons it fixes."""
    rounds = []
    for key in spec.blocking:
        codes = key_codes(table, key)
        a, b = codes[pairs.left], codes[pairs.right]
        blocked = frozenset(
            column
            for column, comparison in enumerate(spec.comparisons)
            if set(key.features) & comparison.features
        )
        rounds.append(TrainingRound(key.name, (a == b) & (a >= 0), blocked))
    return rounds


def _cluster_ids(ids: list[str], clustering: Clustering) -> list[str]:
    return [ids[root] for root in clustering.root.tolist()]


def _conflicts(
    spec: EntitySpec, table: FeatureTable, cannot_link: Iterable[tuple[str, str]]
) -> Callable[[Sequence[int]], str | None]:
    """Why rows cannot be one customer, even though each of their matches is allowed."""
    exclusive = [(name, table.codes(name)) for name in spec.exclusive]
    regions = table.columns.get("region")
    pairs = list(cannot_link)
    row_of = {record_id: row for row, record_id in enumerate(table.ids)} if pairs else {}
    apart: dict[int, set[int]] = {}
    for a, b in pairs:
        if a in row_of and b in row_of:
            apart.setdefault(row_of[a], set()).add(row_of[b])
            apart.setdefault(row_of[b], set()).add(row_of[a])

    def conflict(rows: Sequence[int]) -> str | None:
        for name, codes in exclusive:
            if len({int(codes[row]) for row in rows} - {-1}) > 1:
                return f"the records hold different values of {name}"
        if regions is not None:
            paths = sorted({path for row in rows if (path := regions[row])}, key=len)
            for shorter, longer in itertools.pairwise(paths):
                if not longer.startswith(shorter + "/"):
                    return f"the records lie in different regions ({shorter}, {longer})"
        members = set(rows)
        for row in rows:
            if apart.get(row, set()) & members:
                return "a person un-merged two of these records"
        return None

    return conflict


@dataclass(frozen=True)
class PairExplanation:
    """Why two records are, or are not, one customer."""

    parts: list[tuple[str, str, float]]
    """Per comparison: its name, the pair's level, the level's weight."""
    prior: float
    """The prior's log2-odds."""
    score: float
    """The match weight: the prior plus every part."""
    probability: float
    guard: str | None
    """The guard that forbids the match, if one does."""
    candidate: bool
    """Whether blocking made the two a candidate pair (else they were never compared)."""
    same_cluster: bool


def explain_pair(result: DedupResult, left_id: str, right_id: str) -> PairExplanation:
    """Each comparison's level and weight for two records of a run, the guard, the total."""
    row_of = {record_id: row for row, record_id in enumerate(result.ids)}
    unknown = [record_id for record_id in (left_id, right_id) if record_id not in row_of]
    if unknown:
        raise InvalidInput(f"no record has the id {unknown[0]!r}")
    a, b = sorted((row_of[left_id], row_of[right_id]))
    one = Pairs(np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    levels = compare_all(result.table, one, result.spec.comparisons)
    guard = next(
        (g.reason for g in result.spec.guards if bool(g.forbids(result.table, one, levels)[0])),
        None,
    )
    candidate = bool(((result.pairs.left == a) & (result.pairs.right == b)).any())
    parts = result.model.explain(levels[0].tolist())
    score = result.model.prior_weight + sum(weight for _name, _level, weight in parts)
    return PairExplanation(
        parts=parts,
        prior=result.model.prior_weight,
        score=score,
        probability=0.0 if guard else probability(score),
        guard=guard,
        candidate=candidate,
        same_cluster=result.cluster_ids[a] == result.cluster_ids[b],
    )
