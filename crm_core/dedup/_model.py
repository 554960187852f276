"""The match model (Fellegi-Sunter): how much each comparison level says for or against a match.

For every level of every comparison the model holds ``m``, the probability of the level when the
two records are the same customer, and ``u``, its probability when they are not. The level's
weight is ``log2(m / u)``: positive weights argue for a match, negative ones against, missing
values weigh nothing. A pair's match weight is the prior's log-odds plus the weights of its
levels; its match probability follows from that.

``u`` is estimated from random pairs of records (almost all of which are not matches), ``m`` and
the prior by expectation maximisation over the candidate pairs, with ``u`` held fixed. Weights
are made monotone: a stronger level of agreement never weighs less than a weaker one. The
parameters can also be written to and read from a YAML file, to set them by hand or reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import yaml

from crm_core.dedup._compare import MISSING, Comparison, compare_all
from crm_core.dedup._table import FeatureTable, Pairs, sorted_unique

if TYPE_CHECKING:
    from crm_core.dedup._entities import EntitySpec
from crm_core.errors import InvalidInput

__all__ = [
    "FieldParams",
    "MatchModel",
    "TrainingRound",
    "default_model",
    "estimate_u",
    "load_model",
    "probability",
    "train",
]

_FLOOR = 1e-7
_ITERATIONS = 40


@dataclass
class FieldParams:
    """The parameters of one comparison: per level, ``m`` and ``u`` (level 0, missing, unused)."""

    name: str
    labels: list[str]
    m: list[float]
    u: list[float]

    def weights(self) -> list[float]:
        """log2(m/u) per level, 0 for missing, never decreasing with the level of agreement."""
        weights = [0.0] + [
            math.log2(max(m, _FLOOR) / max(u, _FLOOR))
            for m, u in zip(self.m[1:], self.u[1:], strict=True)
        ]
        for level in range(2, len(weights)):
            weights[level] = max(weights[level], weights[level - 1])
        return weights


@dataclass
class MatchModel:
    """The parameters of every comparison and the prior probability of a match among pairs."""

    fields: list[FieldParams]
    prior: float
    trained_on: dict[str, Any] = field(default_factory=dict)
    _weights: Any = field(default=None, repr=False, compare=False)

    def weight_table(self) -> npt.NDArray[np.float64]:
        """Weights as an array: one row per comparison, one column per level (padded)."""
        key = tuple((tuple(p.m), tuple(p.u)) for p in self.fields)
        cached = self._weights
        if cached is not None and cached[0] == key:
            stored: npt.NDArray[np.float64] = cached[1]
            return stored
        table = self._weight_table()
        self._weights = (key, table)
        return table

    def _weight_table(self) -> npt.NDArray[np.float64]:
        width = max(len(params.labels) for params in self.fields)
        table = np.zeros((len(self.fields), width))
        for row, params in enumerate(self.fields):
            weights = params.weights()
            table[row, : len(weights)] = weights
        return table

    @property
    def prior_weight(self) -> float:
        """The prior's log2-odds."""
        prior = min(max(self.prior, _FLOOR), 1 - _FLOOR)
        return math.log2(prior / (1 - prior))

    def scores(self, levels: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
        """The match weight (log2-odds) of each pair from its levels (one row per pair)."""
        table = self.weight_table()
        total = np.full(len(levels), self.prior_weight)
        for column in range(levels.shape[1]):
            total += table[column][levels[:, column]]
        return total

    def explain(self, levels: Sequence[int]) -> list[tuple[str, str, float]]:
        """(comparison, level, weight) for one pair's levels."""
        return [
            (params.name, params.labels[level], params.weights()[level])
            for params, level in zip(self.fields, levels, strict=True)
        ]

    def for_records(self, count: int) -> MatchModel:
        """The model with its prior scaled to ``count`` records: the expected number of
        duplicates grows with the records, the number of pairs with their square.

        Scaled down only, never up: fewer records than the model was trained on keep its prior.
        Scaled up, the training set's density of duplicates (the shipped model's: two matching
        pairs per record) would make two records of a handful a coin toss before any evidence,
        so a similar name and the same city would link two different companies.
        """
        trained = int(self.trained_on.get("records", 0))
        if trained < 2 or count <= trained:
            return self
        prior = self.prior * (trained - 1) / (count - 1)
        return MatchModel(self.fields, prior, {**self.trained_on, "rescaled_to": count})

    def save(self, path: Path) -> None:
        """Write the parameters as YAML."""
        document = {
            "prior": float(self.prior),
            "trained_on": self.trained_on,
            "fields": [
                {
                    "name": params.name,
                    "levels": [
                        {"level": label, "m": round(float(m), 8), "u": round(float(u), 10)}
                        for label, m, u in zip(params.labels, params.m, params.u, strict=True)
                    ][1:],
                }
                for params in self.fields
            ],
        }
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")


def probability(score: float) -> float:
    """The match probability of a match weight."""
    return 1.0 / (1.0 + 2.0 ** (-score)) if score > -60 else 0.0


def load_model(path: Path, comparisons: Sequence[Comparison]) -> MatchModel:
    """Read parameters written by :meth:`MatchModel.save` (or by hand) for ``comparisons``."""
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
        by_name = {item["name"]: item for item in document["fields"]}
        fields = []
        for comparison in comparisons:
            levels = by_name[comparison.name]["levels"]
            if [level["level"] for level in levels] != comparison.labels[1:]:
                raise InvalidInput(
                    f"{path}: the levels of {comparison.name} are {comparison.labels[1:]}"
                )
            fields.append(
                FieldParams(
                    comparison.name,
                    comparison.labels,
                    [1.0] + [float(level["m"]) for level in levels],
                    [1.0] + [float(level["u"]) for level in levels],
                )
            )
        return MatchModel(fields, float(document["prior"]), document.get("trained_on", {}))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"cannot read the match model {path}: {error}") from error


_DEFAULTS = Path(__file__).with_name("models")


def default_model(spec: EntitySpec) -> MatchModel:
    """The parameters shipped for ``spec`` (trained on the benchmark data sets), used when the
    records at hand are too few to train on and for matching single records at the door."""
    return load_model(_DEFAULTS / f"{spec.name}.yaml", spec.comparisons)


def estimate_u(
    table: FeatureTable,
    comparisons: Sequence[Comparison],
    *,
    samples: int = 1_000_000,
    seed: int = 1,
) -> list[list[float]]:
    """Per comparison, the probability of each level among random pairs of records."""
    count = len(table)
    rng = np.random.default_rng(seed)
    left = rng.integers(0, count, size=samples, dtype=np.int64)
    right = rng.integers(0, count, size=samples, dtype=np.int64)
    keep = left != right
    pairs = Pairs(left[keep], right[keep])
    levels = compare_all(table, pairs, comparisons)
    result = []
    for column, comparison in enumerate(comparisons):
        counts = np.bincount(levels[:, column], minlength=comparison.level_count).astype(float)
        known = counts[1:].sum()
        # A level never seen among random pairs is rare, not impossible.
        u = [(c + 0.5) / (known + 0.5 * len(counts[1:])) for c in counts[1:]]
        result.append([1.0, *u])
    return result


@dataclass(frozen=True)
class TrainingRound:
    """The candidate pairs one blocking key found, and the comparisons that key makes agree
    (they say nothing in this round: the key chose the pairs for agreeing on them)."""

    key: str
    mask: npt.NDArray[np.bool_]
    blocked: frozenset[int]


def train(
    levels: npt.NDArray[np.int8],
    u: Sequence[Sequence[float]],
    comparisons: Sequence[Comparison],
    rounds: Sequence[TrainingRound],
    record_count: int,
) -> MatchModel:
    """Estimate ``m`` by EM, ``u`` held fixed, one round per blocking key (as Splink does):
    each comparison's ``m`` is the average over the rounds in which its key did not choose the
    pairs. Then the share of matches among all candidate pairs gives the prior probability that
    two records drawn at random are the same customer."""
    sums = [np.zeros(c.level_count) for c in comparisons]
    counts = np.zeros(len(comparisons))
    used = []
    for training in rounds:
        if int(training.mask.sum()) < _MIN_ROUND_PAIRS:
            continue
        sample = levels[training.mask].copy()
        if training.blocked:
            sample[:, sorted(training.blocked)] = MISSING
        m, _share = _expectation_maximisation(sample, u, comparisons)
        used.append(training.key)
        for column in range(len(comparisons)):
            if column not in training.blocked:
                sums[column] += np.asarray(m[column])
                counts[column] += 1
    m_final = [
        [float(x) for x in sums[column] / counts[column]]
        if counts[column]
        else _initial_m(c.level_count)
        for column, c in enumerate(comparisons)
    ]
    for row in m_final:
        row[0] = 1.0
    matches = _expected_matches(levels, m_final, u)
    all_pairs = max(record_count * (record_count - 1) / 2, 1.0)
    prior = min(max(matches / all_pairs, 1e-9), 0.5)
    fields = [
        FieldParams(comparison.name, comparison.labels, list(m_row), list(u_row))
        for comparison, m_row, u_row in zip(comparisons, m_final, u, strict=True)
    ]
    trained_on = {
        "records": record_count,
        "candidate_pairs": len(levels),
        "expected_matches": round(matches, 1),
        "rounds": used,
    }
    return MatchModel(fields, prior, trained_on)


_MIN_ROUND_PAIRS = 20


def _expectation_maximisation(
    levels: npt.NDArray[np.int8],
    u: Sequence[Sequence[float]],
    comparisons: Sequence[Comparison],
) -> tuple[list[list[float]], float]:
    """``m`` and the share of matches among ``levels``' pairs, ``u`` held fixed."""
    patterns, counts = _patterns(levels)
    weight_of = counts.astype(np.float64)
    m = [_initial_m(comparison.level_count) for comparison in comparisons]
    prior = 0.5
    log_u = _log_table(u)
    for _ in range(_ITERATIONS):
        share = _posterior(patterns, _log_table(m), log_u, prior)
        expected = share * weight_of
        prior = float(min(max(expected.sum() / weight_of.sum(), 1e-6), 1 - 1e-6))
        new_m = []
        for column, comparison in enumerate(comparisons):
            sums = np.bincount(
                patterns[:, column], weights=expected, minlength=comparison.level_count
            )
            known = sums[1:].sum()
            if known <= 0:
                new_m.append(m[column])
                continue
            new_m.append([1.0, *[max(s / known, _FLOOR) for s in sums[1:]]])
        m = new_m
    return m, prior


def _posterior(
    patterns: npt.NDArray[np.int8],
    log_m: npt.NDArray[np.float64],
    log_u: npt.NDArray[np.float64],
    prior: float,
) -> npt.NDArray[np.float64]:
    match = np.log(prior) + _sum_over(patterns, log_m)
    other = np.log(1 - prior) + _sum_over(patterns, log_u)
    result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(np.clip(other - match, -700, 700)))
    return result


def _expected_matches(
    levels: npt.NDArray[np.int8], m: Sequence[Sequence[float]], u: Sequence[Sequence[float]]
) -> float:
    """How many of the candidate pairs are matches, by EM over the prior alone."""
    patterns, counts = _patterns(levels)
    if len(patterns) == 0:
        return 0.0
    log_m, log_u = _log_table(m), _log_table(u)
    prior = 0.5
    for _ in range(_ITERATIONS):
        prior = float(
            min(
                max(
                    (_posterior(patterns, log_m, log_u, prior) * counts).sum() / counts.sum(), 1e-9
                ),
                1 - 1e-9,
            )
        )
    return prior * float(counts.sum())


def _patterns(
    levels: npt.NDArray[np.int8],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    """The distinct rows of ``levels`` and how often each occurs (EM works on those).

    Each row is packed into one integer (four bits a level) so that finding the distinct rows
    is a sort of integers rather than of rows.
    """
    if len(levels) == 0:
        return levels, np.empty(0, np.int64)
    width = levels.shape[1]
    if width > 15 or int(levels.max()) > 15:
        patterns, counts = np.unique(levels, axis=0, return_counts=True)
        return patterns, counts.astype(np.int64)
    shifts = np.arange(width, dtype=np.int64) * 4
    packed = (levels.astype(np.int64) << shifts).sum(axis=1)
    unique, counts = sorted_unique(packed)
    patterns = ((unique[:, None] >> shifts) & 0xF).astype(np.int8)
    return patterns, counts.astype(np.int64)


def _initial_m(level_count: int) -> list[float]:
    """A starting guess: matches mostly agree, more on stronger levels."""
    raw = [0.05] + [float(2**level) for level in range(level_count - 2)]
    total = sum(raw)
    return [1.0, *(value / total for value in raw)]


def _log_table(rows: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    width = max(len(row) for row in rows)
    table = np.zeros((len(rows), width))
    for index, row in enumerate(rows):
        table[index, 1 : len(row)] = np.log(np.maximum(row[1:], _FLOOR))
    return table


def _sum_over(
    patterns: npt.NDArray[np.int8], log_table: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    total = np.zeros(len(patterns))
    for column in range(patterns.shape[1]):
        level = patterns[:, column]
        total += np.where(level == MISSING, 0.0, log_table[column][level])
    return total
