"""The records of one dedup run held as columns of normalised features, and the candidate pairs
as two arrays of row numbers.

Features are text (or None when missing). Exact comparisons and blocking work on integer codes:
each value's 63-bit hash (:meth:`FeatureTable.codes`), -1 for missing, so a comparison of a
million pairs is one numpy expression. Codes are only compared within one run; Python's string
hash is the same in the worker processes of a run (they are forked), and two different values
share a code with a chance of about one in 10^19 per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Codes", "FeatureTable", "Pairs", "sorted_unique"]

Codes = npt.NDArray[np.int64]
"""One integer per record: the code of its value of a feature, -1 when missing."""

_MASK = (1 << 63) - 1
_NONE_HASH = hash(None)


@dataclass
class FeatureTable:
    """The ids of the records and their normalised features, column by column."""

    ids: list[str]
    columns: dict[str, list[str | None]]
    _codes: dict[str, Codes] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> list[str | None]:
        """The values of feature ``name``, one per record."""
        return self.columns[name]

    def codes(self, name: str) -> Codes:
        """The feature's values numbered (equal values, equal numbers; missing is -1)."""
        found = self._codes.get(name)
        if found is None:
            values = self.columns[name]
            # map(hash) runs its loop in C: a million values in a few 10 ms, no table to build.
            hashes = np.fromiter(map(hash, values), dtype=np.int64, count=len(values))
            found = hashes & _MASK
            found[hashes == _NONE_HASH] = -1
            self._codes[name] = found
        return found


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs: ``left[k]`` and ``right[k]`` are row numbers, ``left[k] < right[k]``."""

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.left)

    @staticmethod
    def of(rows: Sequence[tuple[int, int]]) -> Pairs:
        """Pairs from a list of (row, row) tuples (each put in order)."""
        array = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return Pairs(array.min(axis=1), array.max(axis=1))

    def take(self, mask: npt.NDArray[np.bool_]) -> Pairs:
        """The pairs where ``mask`` holds."""
        return Pairs(self.left[mask], self.right[mask])


def sorted_unique(
    values: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct values in order and how often each occurs (a sort: faster than the hash
    table ``np.unique`` uses for integers)."""
    if len(values) == 0:
        return values, np.empty(0, np.int64)
    ordered = np.sort(values)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    return ordered[starts], counts.astype(np.int64)
