"""Blocking: only records that share a key (a credit code, a phone, a name's pinyin...) become
candidate pairs, so a million records never means a trillion comparisons.

Each key groups the records that have the same value of one or more features. A group of up
to ``max_block`` records yields all its pairs; a larger one (a switchboard number shared by a
whole company, a common surname) yields only the pairs of records at most ``window`` apart in
it (a sorted neighbourhood), so a key never costs more than ``max_block`` pairs per record.
The pairs of all keys are united and each pair is kept once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crm_core.dedup._table import FeatureTable, Pairs, sorted_unique

__all__ = ["BlockingKey", "candidate_pairs", "key_codes"]


@dataclass(frozen=True)
class BlockingKey:
    """Records with equal values of all of ``features`` (each present) are candidates."""

    features: tuple[str, ...]

    @property
    def name(self) -> str:
        """The key as people read it: ``last_name+postcode``."""
        return "+".join(self.features)


def key_codes(table: FeatureTable, key: BlockingKey) -> npt.NDArray[np.int64]:
    """One number per record for its value of the key; -1 when a feature is missing."""
    first = table.codes(key.features[0])
    if len(key.features) == 1:
        return first
    missing = first < 0
    combined = first.astype(np.uint64)
    for feature in key.features[1:]:
        codes = table.codes(feature)
        missing |= codes < 0
        combined = combined * _MIX ^ codes.astype(np.uint64)
    result = (combined & _MASK).astype(np.int64)
    result[missing] = -1
    return result


_MIX = np.uint64(0x9E3779B97F4A7C15)
_MASK = np.uint64((1 << 63) - 1)


def candidate_pairs(
    table: FeatureTable,
    keys: Sequence[BlockingKey],
    *,
    max_block: int = 60,
    window: int = 12,
) -> Pairs:
    """The distinct pairs of records that share at least one key."""
    count = len(table)
    found: list[npt.NDArray[np.int64]] = []
    for key in keys:
        left, right = _pairs_of(key_codes(table, key), max_block, window)
        found.append(np.minimum(left, right) * count + np.maximum(left, right))
    if not found:
        return Pairs(np.empty(0, np.int64), np.empty(0, np.int64))
    unique, _counts = sorted_unique(np.concatenate(found))
    return Pairs(unique // count, unique % count)


def _pairs_of(
    codes: npt.NDArray[np.int64], max_block: int, window: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The pairs of records with equal codes, within the limits of large groups."""
    rows = np.flatnonzero(codes >= 0)
    order = rows[np.argsort(codes[rows], kind="stable")]
    ordered = codes[order]
    if len(order) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(starts) - 1
    sizes = np.bincount(group)
    size = sizes[group]
    largest = int(sizes.max())
    lefts: list[npt.NDArray[np.int64]] = []
    rights: list[npt.NDArray[np.int64]] = []
    for distance in range(1, min(largest, max_block)):
        same = group[:-distance] == group[distance:]
        if distance > window:
            same &= size[:-distance] <= max_block
        if not same.any():
            continue
        lefts.append(order[:-distance][same])
        rights.append(order[distance:][same])
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)
