"""The records of one dedup run held as columns of normalised features, and the candidate pairs
as two arrays of row numbers.

Features are text (or None when missing). Exact comparisons and blocking work on integer codes:
each feature's distinct values numbered once (:meth:`FeatureTable.codes`), -1 for missing, so a
comparison of a million pairs is one numpy expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Codes", "FeatureTable", "Pairs"]

Codes = npt.NDArray[np.int32]
"""One integer per record: the number of its value of a feature, -1 when missing."""


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
            numbers: dict[str, int] = {}
            setdefault = numbers.setdefault
            found = np.fromiter(
                (
                    -1 if value is None else setdefault(value, len(numbers))
                    for value in self.columns[name]
                ),
                dtype=np.int32,
                count=len(self.ids),
            )
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
