"""The dedup engine on the benchmark's generated Chinese companies (bench/data/companies.py):
blocking finds nearly every known duplicate pair, and the clusters come out right."""

from __future__ import annotations

import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # after the installed packages

from data.companies import generate

from crm_core.dedup import dedup_records, entity_spec

COLUMNS = ("name", "credit_code", "phone", "email", "address", "city", "contact_name")


def test_blocking_finds_the_known_pairs_and_the_clusters_are_right() -> None:
    records = list(generate(4000, seed=5))
    ids = [row["id"] for row, _entity in records]
    values = [tuple(row[c] or None for c in COLUMNS) for row, _entity in records]
    truth = [entity for _row, entity in records]

    result = dedup_records(entity_spec("account"), ids, COLUMNS, values)

    rows_of: dict[str, list[int]] = {}
    for row, entity in enumerate(truth):
        rows_of.setdefault(entity, []).append(row)
    known = {pair for rows in rows_of.values() for pair in combinations(sorted(rows), 2)}
    found = set(zip(result.pairs.left.tolist(), result.pairs.right.tolist(), strict=True))
    assert len(known) > 1000
    assert len(known & found) / len(known) >= 0.98

    together = Counter((result.cluster_ids[a] == result.cluster_ids[b]) for a, b in known)
    recall = together[True] / len(known)
    predicted = Counter(result.cluster_ids)
    predicted_pairs = sum(n * (n - 1) // 2 for n in predicted.values())
    precision = together[True] / predicted_pairs
    assert recall >= 0.95
    assert precision >= 0.97
