"""Clustering matched pairs into customers, without blind transitivity.

Connected components of the match graph chain different companies together through one shared
phone or one sloppy record. So a component is accepted as one customer only when it is small
(at most ``max_size`` records), dense (at least ``min_density`` of its possible pairs matched),
and consistent: no two members hold different exclusive identifiers (two valid credit codes)
and no two members are a cannot-link pair (an un-merge a person made). Any other component is
split by dropping its weakest matches, tier by tier, and its parts are judged again. A component
that cannot be split that way (all its matches equally strong) goes to the review list and its
records stay on their own.

A cluster's id is the smallest record id among its members, so ids are stable from run to run
as long as that record stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Clustering", "Review", "cluster"]


@dataclass(frozen=True)
class Review:
    """Records that match but could not be clustered safely, and why."""

    rows: list[int]
    reason: str


@dataclass
class Clustering:
    """The cluster (its representative row) of every record, and the components held back."""

    root: npt.NDArray[np.int64]
    """Per row, the row whose id names its cluster (itself for a record alone)."""
    reviews: list[Review] = field(default_factory=list)

    def groups(self) -> list[list[int]]:
        """The clusters of two or more records, as lists of rows."""
        members: dict[int, list[int]] = {}
        for row, root in enumerate(self.root.tolist()):
            if row != root:
                members.setdefault(root, [root]).append(row)
        return list(members.values())


Conflict = Callable[[Sequence[int]], str | None]
"""Why these rows cannot be one customer (None when they can)."""


def cluster(
    count: int,
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    order_key: Sequence[str],
    *,
    conflict: Conflict | None = None,
    pairs_need_checks: bool = True,
    max_size: int = 30,
    min_density: float = 0.5,
) -> Clustering:
    """Cluster ``count`` records given matched pairs (``left``, ``right``) and their scores.

    ``order_key`` gives each row's id, to name each cluster by its smallest id. When
    ``pairs_need_checks`` is false, a component of two records (most of them) is accepted
    without calling ``conflict``: the pair's own guards already said it may match.
    """
    settler = _Settler(left, right, scores, order_key, conflict, max_size, min_density)
    settler.root = np.arange(count, dtype=np.int64)
    for rows, edges in _components(count, left, right, settler, pairs_need_checks):
        settler.settle(rows, edges)
    return Clustering(settler.root, settler.reviews)


@dataclass
class _Settler:
    """Judges components, splits the bad ones, and records the outcome."""

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    order_key: Sequence[str]
    conflict: Conflict | None
    max_size: int
    min_density: float
    root: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    reviews: list[Review] = field(default_factory=list)

    def settle(self, rows: list[int], edges: list[int]) -> None:
        """Accept one component, or split it by its weakest edges and settle the parts."""
        problem = self._problem(rows, edges)
        if problem is None:
            self.root[rows] = min(rows, key=self.order_key.__getitem__)
            return
        weakest = min(float(self.scores[edge]) for edge in edges)
        stronger = [edge for edge in edges if self.scores[edge] > weakest]
        if not stronger:
            self.reviews.append(Review(sorted(rows, key=self.order_key.__getitem__), problem))
            return
        for part_rows, part_edges in _split(rows, stronger, self.left, self.right):
            if len(part_rows) > 1:
                self.settle(part_rows, part_edges)

    def _problem(self, rows: list[int], edges: list[int]) -> str | None:
        size = len(rows)
        density = len(edges) / (size * (size - 1) / 2)
        if size > self.max_size:
            return f"{size} records match each other (more than {self.max_size})"
        if density < self.min_density:
            return f"only {density:.0%} of the pairs among {size} records match"
        return self.conflict(rows) if self.conflict is not None else None


def _components(
    count: int,
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    settler: _Settler,
    pairs_need_checks: bool,
) -> list[tuple[list[int], list[int]]]:
    """The connected components (rows, edge numbers) with two or more rows; pairs that need
    no checks are settled here, in one pass, and not returned.

    Labels spread along the edges (each row takes the smallest label among its neighbours,
    then the label of its label) until nothing changes: a few numpy passes for a million rows.
    """
    if len(left) == 0:
        return []
    label = np.arange(count, dtype=np.int64)
    while True:
        before = label.copy()
        np.minimum.at(label, left, label[right])
        np.minimum.at(label, right, label[left])
        label = label[label]
        if np.array_equal(label, before):
            break
    rows = np.unique(np.concatenate((left, right)))
    row_order = rows[np.argsort(label[rows], kind="stable")]
    row_labels = label[row_order]
    row_starts = np.flatnonzero(np.concatenate(([True], row_labels[1:] != row_labels[:-1])))
    edge_labels = label[left]
    edge_order = np.argsort(edge_labels, kind="stable")
    sorted_edges = edge_labels[edge_order]
    edge_starts = np.searchsorted(sorted_edges, row_labels[row_starts])
    edge_ends = np.searchsorted(sorted_edges, row_labels[row_starts], side="right")
    row_ends = np.append(row_starts[1:], len(row_order))
    if not pairs_need_checks:
        two = (row_ends - row_starts) == 2
        firsts = row_order[row_starts[two]].tolist()
        seconds = row_order[row_starts[two] + 1].tolist()
        key = settler.order_key
        root = settler.root
        for a, b in zip(firsts, seconds, strict=True):
            root[a] = root[b] = a if key[a] <= key[b] else b
        keep = ~two
        row_starts, row_ends = row_starts[keep], row_ends[keep]
        edge_starts, edge_ends = edge_starts[keep], edge_ends[keep]
    row_list = row_order.tolist()
    edge_list = edge_order.tolist()
    return [
        (row_list[a:b], edge_list[c:d])
        for a, b, c, d in zip(
            row_starts.tolist(),
            row_ends.tolist(),
            edge_starts.tolist(),
            edge_ends.tolist(),
            strict=True,
        )
    ]


def _split(
    rows: list[int], edges: list[int], left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]
) -> list[tuple[list[int], list[int]]]:
    """The components of ``rows`` connected by ``edges`` alone."""
    parent = {row: row for row in rows}

    def find(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    for edge in edges:
        ra, rb = find(int(left[edge])), find(int(right[edge]))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    rows_of: dict[int, list[int]] = {}
    for row in rows:
        rows_of.setdefault(find(row), []).append(row)
    edges_of: dict[int, list[int]] = {}
    for edge in edges:
        edges_of.setdefault(find(int(left[edge])), []).append(edge)
    return [(members, edges_of.get(top, [])) for top, members in rows_of.items()]
