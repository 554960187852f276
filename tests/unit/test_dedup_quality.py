"""Pairwise precision, recall and F1 of the dedup benchmark (bench/_dedup_quality.py), on small
hand-made clusterings whose pair counts can be checked by hand."""

from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import pytest

# bench/ is a folder of scripts, not a package: its modules import each other by their own names,
# the way the benchmark scripts run.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # after the installed packages

from _dedup_quality import Quality, pairwise_quality, quality_from_files

# Three entities: x has records a, b, c; y has d, e; z has f alone. True pairs: 3 + 1 = 4.
TRUTH = {"a": "x", "b": "x", "c": "x", "d": "y", "e": "y", "f": "z"}


def brute_force(predicted: dict[str, str], truth: dict[str, str]) -> tuple[int, int, int]:
    """True positives, false positives and false negatives by enumerating every pair."""
    tp = fp = fn = 0
    for left, right in combinations(sorted(truth), 2):
        same_cluster = predicted[left] == predicted[right]
        same_entity = truth[left] == truth[right]
        tp += same_cluster and same_entity
        fp += same_cluster and not same_entity
        fn += same_entity and not same_cluster
    return tp, fp, fn


def counts(quality: Quality) -> tuple[int, int, int]:
    return quality.true_positives, quality.false_positives, quality.false_negatives


def test_perfect_clustering_scores_one_whatever_the_cluster_names() -> None:
    predicted = {"a": "7", "b": "7", "c": "7", "d": "9", "e": "9", "f": "1"}
    quality = pairwise_quality(predicted, TRUTH)
    assert counts(quality) == (4, 0, 0)
    assert (quality.precision, quality.recall, quality.f1) == (1.0, 1.0, 1.0)
    assert (quality.records, quality.clusters, quality.entities) == (6, 3, 3)


def test_over_merged_clusters_lose_precision_only() -> None:
    # x and y merged into one cluster of 5: 10 predicted pairs, of which 4 are true.
    predicted = {"a": "1", "b": "1", "c": "1", "d": "1", "e": "1", "f": "2"}
    quality = pairwise_quality(predicted, TRUTH)
    assert counts(quality) == (4, 6, 0)
    assert quality.predicted_pairs == 10
    assert quality.precision == pytest.approx(0.4)
    assert quality.recall == 1.0
    assert quality.f1 == pytest.approx(2 * 0.4 / 1.4)


def test_under_merged_clusters_lose_recall_only() -> None:
    # x split into {a, b} and {c}: 1 of its 3 pairs found; y found whole.
    predicted = {"a": "1", "b": "1", "c": "2", "d": "3", "e": "3", "f": "4"}
    quality = pairwise_quality(predicted, TRUTH)
    assert counts(quality) == (2, 0, 2)
    assert quality.precision == 1.0
    assert quality.recall == pytest.approx(0.5)
    assert quality.f1 == pytest.approx(2 / 3)


def test_mixed_errors_match_enumerating_every_pair() -> None:
    predicted = {"a": "1", "b": "1", "c": "2", "d": "2", "e": "3", "f": "3"}
    quality = pairwise_quality(predicted, TRUTH)
    assert counts(quality) == brute_force(predicted, TRUTH) == (1, 2, 3)
    assert quality.precision == pytest.approx(1 / 3)
    assert quality.recall == pytest.approx(1 / 4)


def test_all_singletons_predicted_find_nothing() -> None:
    predicted = {record: record for record in TRUTH}
    quality = pairwise_quality(predicted, TRUTH)
    assert counts(quality) == (0, 0, 4)
    assert quality.precision == 1.0  # nothing claimed, nothing wrong
    assert quality.recall == 0.0
    assert quality.f1 == 0.0


def test_singleton_truth_with_singleton_prediction_is_perfect() -> None:
    truth = {"a": "x", "b": "y"}
    quality = pairwise_quality({"a": "1", "b": "2"}, truth)
    assert counts(quality) == (0, 0, 0)
    assert (quality.precision, quality.recall, quality.f1) == (1.0, 1.0, 1.0)


def test_singleton_truth_with_a_merge_has_no_precision() -> None:
    quality = pairwise_quality({"a": "1", "b": "1"}, {"a": "x", "b": "y"})
    assert counts(quality) == (0, 1, 0)
    assert (quality.precision, quality.recall, quality.f1) == (0.0, 1.0, 0.0)


def test_records_missing_on_either_side_are_an_error() -> None:
    predicted = {record: "1" for record in TRUTH if record != "f"} | {"g": "1"}
    with pytest.raises(ValueError, match=r"1 records of the truth have no cluster \(e\.g\. f\)"):
        pairwise_quality(predicted, TRUTH)


def test_quality_from_files(tmp_path: Path) -> None:
    predicted_csv = tmp_path / "out.csv"
    truth_csv = tmp_path / "truth.csv"
    predicted_csv.write_text("id,cluster_id\na,1\nb,1\nc,2\n", encoding="utf-8")
    truth_csv.write_text("\ufeffid,entity_id\nc,x\nb,x\na,x\n", encoding="utf-8")
    quality = quality_from_files(predicted_csv, truth_csv)
    assert counts(quality) == (1, 0, 2)


def test_a_file_without_the_expected_column_is_an_error(tmp_path: Path) -> None:
    predicted_csv = tmp_path / "out.csv"
    predicted_csv.write_text("id,cluster\na,1\n", encoding="utf-8")
    truth_csv = tmp_path / "truth.csv"
    truth_csv.write_text("id,entity_id\na,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no 'cluster_id' column"):
        quality_from_files(predicted_csv, truth_csv)
