"""Pairwise quality of a dedup result against the truth: precision, recall and F1 over pairs.

A dedup result assigns every record a cluster; the truth assigns every record its entity. A pair
of records is *predicted* when both sit in one cluster and *true* when both belong to one entity.
Counting pairs never enumerates them: for ``n`` records together in a group there are
``n·(n−1)/2`` pairs, so with the contingency counts ``n(c, e)`` of records in cluster ``c`` and
entity ``e``::

    true positives  = Σ over (c, e) of n(c, e)·(n(c, e)−1)/2
    predicted pairs = Σ over c of n(c)·(n(c)−1)/2
    true pairs      = Σ over e of n(e)·(n(e)−1)/2

which takes time and memory linear in the number of records, at a million records as at ten.

Conventions: with no predicted pair, precision is 1 (nothing wrong was claimed); with no true
pair, recall is 1 (nothing was missed); F1 is 0 when both precision and recall are 0.

Run as a script to compare two files::

    .venv/bin/python bench/_dedup_quality.py OUTPUT.csv truth.csv   # prints one JSON line
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Quality", "pairwise_quality", "quality_from_files", "read_mapping"]


@dataclass(frozen=True)
class Quality:
    """Pairwise precision, recall and F1 of a clustering, with the pair counts behind them."""

    records: int
    """Records compared (the same in the prediction and the truth)."""
    clusters: int
    """Predicted clusters, singletons included."""
    entities: int
    """True entities, singletons included."""
    true_positives: int
    """Pairs in one cluster that are one entity."""
    false_positives: int
    """Pairs in one cluster that are different entities."""
    false_negatives: int
    """Pairs of one entity that were put in different clusters."""
    precision: float
    recall: float
    f1: float

    @property
    def predicted_pairs(self) -> int:
        """Pairs the prediction put together."""
        return self.true_positives + self.false_positives

    @property
    def true_pairs(self) -> int:
        """Pairs the truth puts together."""
        return self.true_positives + self.false_negatives

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return asdict(self)


def _pairs(sizes: Iterable[int]) -> int:
    """The number of pairs within groups of the given sizes."""
    return sum(n * (n - 1) // 2 for n in sizes)


def pairwise_quality(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Quality:
    """Compare ``predicted`` (record id → cluster id) with ``truth`` (record id → entity id).

    Both must name the same records; a record missing on either side is an error, since a dedup
    result has to account for every input row.
    """
    if predicted.keys() != truth.keys():
        missing = sorted(truth.keys() - predicted.keys())
        extra = sorted(predicted.keys() - truth.keys())
        parts = []
        if missing:
            parts.append(f"{len(missing)} records of the truth have no cluster (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} predicted records are not in the truth (e.g. {extra[0]})")
        raise ValueError("; ".join(parts))

    cells: Counter[tuple[str, str]] = Counter(
        (cluster, truth[record]) for record, cluster in predicted.items()
    )
    cluster_sizes: Counter[str] = Counter()
    entity_sizes: Counter[str] = Counter()
    for (cluster, entity), n in cells.items():
        cluster_sizes[cluster] += n
        entity_sizes[entity] += n

    true_positives = _pairs(cells.values())
    predicted_pairs = _pairs(cluster_sizes.values())
    true_pairs = _pairs(entity_sizes.values())
    precision = true_positives / predicted_pairs if predicted_pairs else 1.0
    recall = true_positives / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(
        records=len(predicted),
        clusters=len(cluster_sizes),
        entities=len(entity_sizes),
        true_positives=true_positives,
        false_positives=predicted_pairs - true_positives,
        false_negatives=true_pairs - true_positives,
        precision=precision,
        recall=recall,
        f1=f1,
    )


def read_mapping(path: Path, value_column: str) -> dict[str, str]:
    """Read ``id`` → ``value_column`` from a CSV file with a header (UTF-8, BOM allowed).

    Raises ValueError when a column is missing or an id appears twice.
    """
    mapping: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        columns = reader.fieldnames or []
        for column in ("id", value_column):
            if column not in columns:
                raise ValueError(f"{path}: no {column!r} column (columns: {', '.join(columns)})")
        for row in reader:
            record = row["id"]
            if record in mapping:
                raise ValueError(f"{path}: id {record!r} appears twice")
            mapping[record] = row[value_column]
    return mapping


def quality_from_files(predicted_csv: Path, truth_csv: Path) -> Quality:
    """The quality of ``predicted_csv`` (``id,cluster_id``) against ``truth_csv``
    (``id,entity_id``)."""
    return pairwise_quality(
        read_mapping(predicted_csv, "cluster_id"), read_mapping(truth_csv, "entity_id")
    )


def main(argv: list[str] | None = None) -> None:
    """Print the quality of a dedup output against a truth file as one JSON line."""
    parser = argparse.ArgumentParser(
        description="Pairwise precision, recall and F1 of a dedup output against the truth."
    )
    parser.add_argument("predicted", type=Path, help="the dedup output: id,cluster_id")
    parser.add_argument("truth", type=Path, help="the truth: id,entity_id")
    args = parser.parse_args(argv)
    try:
        quality = quality_from_files(args.predicted, args.truth)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    print(json.dumps(quality.as_dict()))


if __name__ == "__main__":
    main()
