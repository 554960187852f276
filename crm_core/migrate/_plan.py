"""The dedup plan of a migration: which source rows are one customer, and which of them merge
into a record already in the core. Worked out once, before loading, and saved with the run, so
that a resumed run loads exactly what the interrupted one would have."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import numpy as np
import numpy.typing as npt

from crm_core.dedup import DedupResult

__all__ = ["DedupPlan"]

_CORE = "core:"


@dataclass
class DedupPlan:
    """For every source row, the first row (in source order) of the customer it belongs to.

    A group of rows is loaded together once its last row has been read: the first row becomes
    the record (or the rows merge into ``core[first]``, a record already in the core), the
    others are merged into it.
    """

    leaders: npt.NDArray[np.int64]
    """Per source row, the index of its group's first row (its own index when alone)."""
    core: dict[int, UUID] = field(default_factory=dict)
    """Groups that merge into a record already in the core, by their first row."""
    last: dict[int, int] = field(default_factory=dict)
    """For each group of two or more rows, its last row, by its first row."""

    @classmethod
    def alone(cls, rows: int) -> DedupPlan:
        """The plan in which every row stands alone."""
        return cls(np.arange(rows, dtype=np.int64))

    @classmethod
    def from_result(cls, rows: int, ids: Sequence[str], result: DedupResult) -> DedupPlan:
        """The plan of a dedup run over source rows (ids ``"<index>"``) and core records
        (ids ``"core:<uuid>"``)."""
        leaders = np.arange(rows, dtype=np.int64)
        clusters: dict[str, list[str]] = {}
        for record_id, cluster in zip(ids, result.cluster_ids, strict=True):
            clusters.setdefault(cluster, []).append(record_id)
        core: dict[int, UUID] = {}
        for members in clusters.values():
            if len(members) < 2:
                continue
            indices = sorted(int(m) for m in members if not m.startswith(_CORE))
            if not indices:
                continue  # core records only: that is `tongbu dedup run`'s business
            records = sorted(m for m in members if m.startswith(_CORE))
            first = indices[0]
            leaders[indices] = first
            if records:
                core[first] = UUID(records[0].removeprefix(_CORE))
        return cls(leaders, core)

    def __post_init__(self) -> None:
        if not self.last:
            grouped = np.flatnonzero(self.leaders != np.arange(len(self.leaders)))
            for index in grouped.tolist():
                self.last[int(self.leaders[index])] = index
            for first in self.core:
                self.last.setdefault(first, first)

    def group_end(self, index: int) -> int:
        """The last row of the group whose first row is ``index`` (``index`` when alone)."""
        return self.last.get(index, index)

    @property
    def groups(self) -> int:
        """The groups of two or more rows, or merging into the core."""
        return len(self.last)

    def to_bytes(self) -> bytes:
        """The plan, compressed (a few hundred kB for a million rows)."""
        offsets = np.arange(len(self.leaders), dtype=np.int64) - self.leaders
        header = json.dumps(
            {"rows": len(self.leaders), "core": {str(k): str(v) for k, v in self.core.items()}}
        )
        return zlib.compress(header.encode() + b"\n" + offsets.astype("<i8").tobytes(), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> DedupPlan:
        """A plan saved by :meth:`to_bytes`."""
        header, _newline, body = zlib.decompress(data).partition(b"\n")
        meta = json.loads(header)
        offsets = np.frombuffer(body, dtype="<i8").astype(np.int64)
        leaders = np.arange(int(meta["rows"]), dtype=np.int64) - offsets
        return cls(leaders, {int(k): UUID(v) for k, v in meta["core"].items()})
