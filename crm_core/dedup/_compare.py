"""Comparisons: how two records agree on one field, as a small number of levels.

A comparison is a ladder of steps, strongest first ("the same normalised name", "the same name
pinyin", "Jaro-Winkler at least 0.92"...). A pair's level is the first step it satisfies.
Level 0 means the field is missing on either side (it says nothing), level 1 that the values
differ, and levels 2 and up the steps from the weakest to the strongest, so a higher level is
always stronger agreement.

Every step works on all pairs at once: exact steps compare integer codes with numpy, similarity
steps score only the pairs still undecided, in C, with rapidfuzz's ``cpdist``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from crm_core.dedup._table import FeatureTable, Pairs

__all__ = [
    "Comparison",
    "Exact",
    "Levels",
    "Similar",
    "Step",
    "WithinEdits",
    "compare_all",
]

Levels = npt.NDArray[np.int8]
"""One level per pair."""

MISSING = 0
DIFFERENT = 1
_THREADED_FROM = 5_000


@dataclass(frozen=True)
class Exact:
    """Both records have the same value of ``feature``."""

    feature: str
    label: str = ""

    def describe(self) -> str:
        """The level's name in explanations."""
        return self.label or f"same {self.feature}"

    def holds(self, table: FeatureTable, left: Any, right: Any) -> npt.NDArray[np.bool_]:
        """Which of the pairs (row arrays ``left``, ``right``) satisfy the step."""
        codes = table.codes(self.feature)
        a, b = codes[left], codes[right]
        result: npt.NDArray[np.bool_] = (a == b) & (a >= 0)
        return result


@dataclass(frozen=True)
class Similar:
    """Jaro-Winkler similarity of ``feature`` at least ``threshold``."""

    feature: str
    threshold: float
    label: str = ""

    def describe(self) -> str:
        """The level's name in explanations."""
        return self.label or f"{self.feature} similar ≥ {self.threshold:g}"

    def holds(self, table: FeatureTable, left: Any, right: Any) -> npt.NDArray[np.bool_]:
        """Which of the pairs satisfy the step."""
        scores = _scored(table, self.feature, left, right, JaroWinkler.normalized_similarity)
        result: npt.NDArray[np.bool_] = scores >= self.threshold
        return result


@dataclass(frozen=True)
class WithinEdits:
    """``feature`` differs by at most ``edits`` characters (a typo in a date or an id)."""

    feature: str
    edits: int = 1
    label: str = ""

    def describe(self) -> str:
        """The level's name in explanations."""
        return self.label or f"{self.feature} within {self.edits} edit(s)"

    def holds(self, table: FeatureTable, left: Any, right: Any) -> npt.NDArray[np.bool_]:
        """Which of the pairs satisfy the step."""
        distances = _scored(table, self.feature, left, right, Levenshtein.distance, missing=99)
        result: npt.NDArray[np.bool_] = distances <= self.edits
        return result


Step = Exact | Similar | WithinEdits


def _scored(
    table: FeatureTable,
    feature: str,
    left: Any,
    right: Any,
    scorer: Callable[..., Any],
    *,
    missing: float = 0.0,
) -> npt.NDArray[np.float64]:
    """``scorer`` of the feature's values of each pair; ``missing`` where one is missing."""
    values = table.column(feature)
    codes = table.codes(feature)
    present = (codes[left] >= 0) & (codes[right] >= 0)
    scores = np.full(len(left), missing, dtype=np.float64)
    if present.any():
        # Threads pay off on many pairs; matching one record at the door has a handful.
        workers = -1 if int(present.sum()) > _THREADED_FROM else 1
        scores[present] = cpdist(
            _pick(values, left[present]),
            _pick(values, right[present]),
            scorer=scorer,
            workers=workers,
        )
    return scores


def _pick(values: list[str | None], rows: npt.NDArray[np.int64]) -> list[str | None]:
    """``values`` at ``rows`` (itemgetter does the loop in C)."""
    if len(rows) == 1:
        return [values[int(rows[0])]]
    return list(itemgetter(*rows.tolist())(values))


@dataclass(frozen=True)
class Comparison:
    """One field of the model: its ladder of steps and the feature whose absence means missing.

    ``present`` names the feature that must be there on both sides for the comparison to say
    anything (several names: any of them).
    """

    name: str
    present: tuple[str, ...]
    steps: tuple[Step, ...]
    """Strongest first."""

    @property
    def features(self) -> frozenset[str]:
        """Every feature the comparison reads."""
        return frozenset(self.present) | {step.feature for step in self.steps}

    @property
    def labels(self) -> list[str]:
        """The name of each level, by level number."""
        return ["missing", "different", *(step.describe() for step in reversed(self.steps))]

    @property
    def level_count(self) -> int:
        """How many levels there are."""
        return len(self.steps) + 2

    def levels(self, table: FeatureTable, pairs: Pairs) -> Levels:
        """The level of every pair."""
        left, right = pairs.left, pairs.right
        present = np.zeros(len(pairs), dtype=np.bool_)
        for feature in self.present:
            codes = table.codes(feature)
            present |= (codes[left] >= 0) & (codes[right] >= 0)
        levels = np.where(present, DIFFERENT, MISSING).astype(np.int8)
        undecided = present.copy()
        top = self.level_count - 1
        similarity: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]] = {}
        for rank, step in enumerate(self.steps):
            if not undecided.any():
                break
            where = np.flatnonzero(undecided)
            if isinstance(step, Similar):
                # Steps on one feature at several thresholds share one scoring of the pairs.
                if step.feature not in similarity:
                    scores = _scored(
                        table,
                        step.feature,
                        left[where],
                        right[where],
                        JaroWinkler.normalized_similarity,
                    )
                    similarity[step.feature] = (where, scores)
                first, scores = similarity[step.feature]
                hit = scores[np.searchsorted(first, where)] >= step.threshold
            else:
                hit = step.holds(table, left[where], right[where])
            levels[where[hit]] = top - rank
            undecided[where[hit]] = False
        return levels


def compare_all(
    table: FeatureTable, pairs: Pairs, comparisons: Sequence[Comparison]
) -> npt.NDArray[np.int8]:
    """The levels of every pair in every comparison: one column per comparison."""
    matrix = np.empty((len(pairs), len(comparisons)), dtype=np.int8)
    for column, comparison in enumerate(comparisons):
        matrix[:, column] = comparison.levels(table, pairs)
    return matrix
