"""The dedup engine on small hand-made sets: blocking, scoring, guards and clustering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from crm_core.dedup import DedupResult, credit_code_check_char, dedup_records, entity_spec
from crm_core.dedup._blocking import BlockingKey, candidate_pairs
from crm_core.dedup._cluster import cluster
from crm_core.dedup._model import FieldParams, default_model
from crm_core.dedup._table import FeatureTable

Row = tuple[str, str, tuple[str | None, ...]]

ACCOUNT_COLUMNS = ("name", "credit_code", "phone", "email", "address", "city", "contact_name")


def code(body: str) -> str:
    """A valid credit code from 17 characters."""
    return body + credit_code_check_char(body)


HUAXIN = code("91330106MA2CF3K2X")
HUAXIN_BRANCH = code("91330108MA2CF3K3Y")
HUAXIN_SUZHOU = code("91320505MA1MXN7Q5")
HUAXIN_TRADE = code("91330106MA2CF3K4A")

# Each row: id, the entity it really is, and its cells (name, code, phone, email, address,
# city, contact).
ACCOUNTS: list[Row] = [
    (
        "a1",
        "huaxin",
        (
            "杭州华信电子科技有限公司",
            HUAXIN,
            "0571-88886666",
            "sales@huaxin-tech.cn",
            "浙江省杭州市西湖区文三路100号",
            "杭州",
            "王伟",
        ),
    ),
    (
        "a2",
        "huaxin",
        (
            "华信电子科技(杭州)有限责任公司",
            None,
            "+86 571 8888 6666",
            None,
            "杭州市西湖区文三路100号",
            None,
            "王伟",
        ),
    ),
    (
        "a3",
        "huaxin",
        ("杭州華信電子科技有限公司", HUAXIN, None, "SALES@huaxin-tech.cn", None, "杭州", None),
    ),
    (
        "a4",
        "huaxin",
        (
            "杭州华兴电子科技有限公司",
            None,
            "057188886666",
            None,
            "浙江杭州西湖区文三路１００号",
            "杭州",
            "王伟",
        ),
    ),
    (
        "b1",
        "branch",
        (
            "杭州华信电子科技有限公司滨江分公司",
            HUAXIN_BRANCH,
            "0571-88886667",
            "binjiang@huaxin-tech.cn",
            "杭州市滨江区江南大道8号",
            "杭州",
            "李娜",
        ),
    ),
    (
        "s1",
        "suzhou",
        (
            "苏州华信电子科技有限公司",
            HUAXIN_SUZHOU,
            "0512-66668888",
            "info@hx-sz.cn",
            "苏州市姑苏区人民路1号",
            "苏州",
            "陈静",
        ),
    ),
    (
        "t1",
        "trade",
        (
            "杭州华信贸易有限公司",
            HUAXIN_TRADE,
            "0571-88886666",
            None,
            "浙江省杭州市西湖区文三路100号",
            "杭州",
            "王伟",
        ),
    ),
    (
        "x1",
        "other",
        (
            "宁波海天塑机有限公司",
            None,
            "0574-86181234",
            "ht@haitian.com",
            "宁波市北仑区",
            "宁波",
            "张强",
        ),
    ),
]


def run_accounts(rows: Sequence[Row] = ACCOUNTS, **options: Any) -> DedupResult:
    spec = entity_spec("account")
    ids = [row[0] for row in rows]
    return dedup_records(spec, ids, ACCOUNT_COLUMNS, [row[2] for row in rows], **options)


def clusters_of(result: DedupResult) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for record_id, cluster_id in zip(result.ids, result.cluster_ids, strict=True):
        groups.setdefault(cluster_id, set()).add(record_id)
    return groups


def test_the_variants_of_one_company_are_one_customer_and_lookalikes_are_not() -> None:
    result = run_accounts()
    assert sorted(map(sorted, clusters_of(result).values())) == [
        ["a1", "a2", "a3", "a4"],
        ["b1"],
        ["s1"],
        ["t1"],
        ["x1"],
    ]


def test_a_cluster_is_named_by_its_smallest_id_whatever_the_order() -> None:
    forward = run_accounts()
    backward = run_accounts(list(reversed(ACCOUNTS)))
    assert dict(zip(forward.ids, forward.cluster_ids, strict=True))["a4"] == "a1"
    assert dict(zip(forward.ids, forward.cluster_ids, strict=True)) == dict(
        zip(backward.ids, backward.cluster_ids, strict=True)
    )


def guard_of(result: DedupResult, left: str, right: str) -> str:
    row = {record_id: n for n, record_id in enumerate(result.ids)}
    a, b = sorted((row[left], row[right]))
    found = np.flatnonzero((result.pairs.left == a) & (result.pairs.right == b))
    assert len(found), f"{left} and {right} are not candidates"
    number = int(result.forbidden_by[found[0]])
    return result.spec.guards[number - 1].reason if number else ""


def test_each_guard_says_why_a_lookalike_is_not_the_same_company() -> None:
    result = run_accounts()
    assert guard_of(result, "a1", "s1") in {"two different valid credit codes", "different regions"}
    assert guard_of(result, "a1", "b1") in {
        "two different valid credit codes",
        "a branch is not its head office or another branch",
    }
    # The sister company shares the switchboard, the address and the boss, not the name.
    assert guard_of(result, "a2", "t1").startswith("the names disagree")


def test_a_different_city_alone_keeps_two_companies_apart() -> None:
    rows = [
        ("h", "h", ("杭州明远科技有限公司", None, None, None, None, None, None)),
        ("s", "s", ("苏州明远科技有限公司", None, None, None, None, None, None)),
        ("h2", "h", ("明远科技(杭州)有限公司", None, None, None, None, None, None)),
    ]
    groups = sorted(map(sorted, clusters_of(run_accounts(rows)).values()))
    assert groups == [["h", "h2"], ["s"]]


def test_two_valid_credit_codes_never_match_even_when_all_else_agrees() -> None:
    other = code("91330106MA2CF3K5B")
    twin = ("t", "t", (*ACCOUNTS[0][2][:1], other, *ACCOUNTS[0][2][2:]))
    result = run_accounts([ACCOUNTS[0], twin])
    assert result.cluster_ids == ["a1", "t"]
    assert guard_of(result, "a1", "t") == "two different valid credit codes"


def test_an_invalid_credit_code_is_not_trusted() -> None:
    wrong = HUAXIN[:-1] + ("0" if HUAXIN[-1] != "0" else "1")
    result = run_accounts(
        [ACCOUNTS[0], ("w", "w", ("杭州华信电子科技有限公司", wrong, *[None] * 5))]
    )
    assert result.table.column("credit_code")[1] is None
    assert result.cluster_ids == ["a1", "a1"]


def test_blocking_finds_every_known_pair_of_the_variants() -> None:
    result = run_accounts()
    pairs = set(zip(result.pairs.left.tolist(), result.pairs.right.tolist(), strict=True))
    for a in range(4):
        for b in range(a + 1, 4):
            assert (a, b) in pairs


def test_large_blocks_are_cut_to_a_window_so_pairs_stay_linear() -> None:
    count = 1000
    table = FeatureTable([str(n) for n in range(count)], {"phone": ["+8657188886666"] * count})
    pairs = candidate_pairs(table, [BlockingKey(("phone",))], max_block=60, window=5)
    assert len(pairs) == sum(count - d for d in range(1, 6))
    assert bool((pairs.left < pairs.right).all())


def test_weights_never_fall_as_agreement_grows() -> None:
    params = FieldParams(
        "name",
        ["missing", "different", "weak", "strong", "exact"],
        [1.0, 0.1, 0.2, 0.05, 0.65],
        [1.0, 0.9, 0.05, 0.02, 0.03],
    )
    weights = params.weights()
    assert weights[0] == 0
    assert weights[1:] == sorted(weights[1:])


def test_the_prior_is_scaled_down_for_more_records_but_never_up_for_fewer() -> None:
    model = default_model(entity_spec("account"))
    trained = int(model.trained_on["records"])
    for few in (2, 5, 1000, trained):
        assert model.for_records(few).prior == model.prior
    assert model.for_records(10 * trained).prior < model.prior / 9
    assert model.prior_weight < -10  # a handful of accounts: no coin toss before the evidence


def test_more_agreement_never_lowers_a_pairs_score() -> None:
    result = run_accounts()
    model = result.model
    levels = result.levels.copy()
    base = model.scores(levels)
    for column in range(levels.shape[1]):
        raised = levels.copy()
        top = len(model.fields[column].labels) - 1
        raised[:, column] = np.where(raised[:, column] > 0, top, 0)
        assert bool((model.scores(raised) >= base - 1e-9).all())


def test_a_chain_through_one_shared_record_is_split_not_merged() -> None:
    # Two tight trios joined by one weak edge through their first members.
    left = np.array([0, 0, 1, 3, 3, 4, 0], dtype=np.int64)
    right = np.array([1, 2, 2, 4, 5, 5, 3], dtype=np.int64)
    scores = np.array([20, 20, 20, 20, 20, 20, 5], dtype=np.float64)
    result = cluster(6, left, right, scores, [f"r{n}" for n in range(6)])
    assert result.root.tolist() == [0, 0, 0, 3, 3, 3]


def test_a_star_of_equal_matches_goes_to_review() -> None:
    hub_edges = np.arange(1, 40, dtype=np.int64)
    result = cluster(
        40,
        np.zeros(39, dtype=np.int64),
        hub_edges,
        np.full(39, 10.0),
        [f"r{n:02}" for n in range(40)],
    )
    assert result.root.tolist() == list(range(40))
    assert len(result.reviews) == 1
    assert len(result.reviews[0].rows) == 40


def test_cannot_link_pairs_are_never_merged() -> None:
    result = run_accounts(cannot_link=[("a1", "a3")])
    groups = clusters_of(result)
    assert not any({"a1", "a3"} <= members for members in groups.values())


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (("张", "伟", "1980-05-01"), ("张", "伟", "1980-05-01"), True),
        (("單", "偉", "1980-05-01"), ("单", "伟", "19800501"), True),
        (("张", "伟", "1980-05-01"), ("李", "娜", "1975-02-03"), False),
    ],
)
def test_contacts_need_agreement_on_the_person(
    first: tuple[str, str, str], second: tuple[str, str, str], same: bool
) -> None:
    spec = entity_spec("contact")
    columns = ("last_name", "first_name", "birth_date", "phone", "street")
    shared = ("13800138000", "文三路100号")
    result = dedup_records(spec, ["p", "q"], columns, [(*first, *shared), (*second, *shared)])
    assert (result.cluster_ids == ["p", "p"]) is same
