"""Customer search over accounts, contacts and leads, on the bundled sample."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from crm_core import records
from crm_core.db import open_session
from crm_core.errors import InvalidInput
from crm_core.models import Account, Lead
from crm_core.sample import load_sample, sample_id
from crm_core.search import rebuild_index, search
from tests.conftest import Database

HUAXIN = sample_id("account", "a_huaxin")
ZHANG_WEI = sample_id("contact", "c1")


@pytest.fixture
def sample(db: Database) -> Database:
    summary = load_sample(db.engine)
    assert not summary.already_loaded
    return db


def names(db: Database, query: str, **options: object) -> list[str]:
    return [hit.title for hit in search(db.engine, query, **options)]  # type: ignore[arg-type]


def test_a_chinese_substring_finds_the_company(sample: Database) -> None:
    hits = search(sample.engine, "华信")
    titles = [hit.title for hit in hits]
    assert "杭州华信电子科技有限公司" in titles
    assert "苏州华信精密机械有限公司" in titles
    assert all("华信" in hit.title or "华信" in hit.detail for hit in hits)


def test_a_longer_substring_narrows_to_one(sample: Database) -> None:
    assert names(sample, "华信电子科技", entities=["account"]) == [
        "杭州华信电子科技有限公司",
        "杭州华信电子科技有限公司上海分公司",
    ]


def test_the_exact_name_ranks_first(sample: Database) -> None:
    hits = search(sample.engine, "杭州华信电子科技有限公司")
    assert hits[0].record_id == HUAXIN
    assert hits[0].score == 100


@pytest.mark.parametrize(
    "phone",
    ["+86 138 0013 8000", "13800138000", "138-0013-8000", "0086 138 0013 8000", "(+86)13800138000"],
)
def test_a_phone_in_any_format_finds_the_contact(sample: Database, phone: str) -> None:
    hits = search(sample.engine, phone)
    assert [(hit.record_id, hit.matched, hit.score) for hit in hits] == [(ZHANG_WEI, "phone", 100)]


def test_the_last_digits_of_a_phone_are_enough(sample: Database) -> None:
    assert ZHANG_WEI in {hit.record_id for hit in search(sample.engine, "8000")}


def test_a_landline_in_another_format_finds_the_account(sample: Database) -> None:
    hits = search(sample.engine, "+86 571 8765 4321")
    assert hits[0].record_id == HUAXIN


def test_an_email_finds_its_owner(sample: Database) -> None:
    hits = search(sample.engine, "Zhang.Wei@hzhuaxin.com.cn")
    assert [(hit.record_id, hit.score) for hit in hits] == [(ZHANG_WEI, 100)]


def test_english_names_match_by_word_prefix(sample: Database) -> None:
    assert names(sample, "acme rob", entities=["account"]) == ["Acme Robotics Inc."]


def test_a_contact_is_found_by_full_chinese_name(sample: Database) -> None:
    hits = search(sample.engine, "张伟", entities=["contact"])
    assert hits[0].record_id == ZHANG_WEI
    assert hits[0].detail == "采购经理 · 杭州华信电子科技有限公司"


def test_full_width_input_is_folded(sample: Database) -> None:
    assert ZHANG_WEI in {hit.record_id for hit in search(sample.engine, "１３８００１３８０００")}


def test_leads_are_searched_by_company(sample: Database) -> None:
    hits = search(sample.engine, "恒达物流", entities=["lead"])
    assert hits
    assert all(hit.entity == "leads" for hit in hits)
    assert hits[0].matched == "company"


def test_a_change_made_outside_the_hub_is_searchable_at_once(sample: Database) -> None:
    db = sample
    if db.is_postgres:
        with psycopg.connect(db.url) as connection:
            connection.execute(
                "UPDATE accounts SET name = '杭州新世纪华信集团' WHERE id = %s", (HUAXIN,)
            )
    else:
        with sqlite3.connect(db.url.removeprefix("sqlite:///")) as connection:
            connection.execute(
                "UPDATE accounts SET name = '杭州新世纪华信集团' WHERE id = ?", (HUAXIN.hex,)
            )
    assert names(db, "新世纪华信") == ["杭州新世纪华信集团"]
    assert "杭州华信电子科技有限公司" not in names(db, "华信电子")


def test_deleted_records_leave_the_results(sample: Database) -> None:
    with open_session(sample.engine, origin="crm") as session:
        records.soft_delete(session, Account, HUAXIN, expected_version=1)
    assert HUAXIN not in {hit.record_id for hit in search(sample.engine, "华信")}


def test_new_records_are_found_and_rebuild_gives_the_same_answers(sample: Database) -> None:
    with open_session(sample.engine, origin="crm") as session:
        records.create(session, Lead, {"name": "周杰", "company": "厦门鹭岛茶业有限公司"})
    before = names(sample, "鹭岛")
    assert before == ["周杰"]
    assert rebuild_index(sample.engine) > 150
    assert names(sample, "鹭岛", refresh=False) == before
    assert names(sample, "华信", refresh=False) == names(sample, "华信")


def test_nothing_to_search_for_is_a_clear_error(sample: Database) -> None:
    with pytest.raises(InvalidInput, match="nothing to search for"):
        search(sample.engine, "  ？！ ")
    with pytest.raises(InvalidInput, match="choose from account, contact, lead"):
        search(sample.engine, "华信", entities=["invoice"])


def test_the_limit_is_respected(sample: Database) -> None:
    assert len(search(sample.engine, "有限公司", limit=3)) == 3


def test_loading_the_sample_twice_changes_nothing(sample: Database) -> None:
    assert load_sample(sample.engine).already_loaded


def test_the_last_four_digits_rank_above_a_number_that_starts_with_them(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        ends = records.create(session, Lead, {"name": "尾号0521", "mobile": "13800000521"})
        records.create(session, Lead, {"name": "区号0521", "phone": "0521-8888 9999"})
        last = records.create(session, Lead, {"name": "尾号1913", "mobile": "13800001913"})
        records.create(session, Lead, {"name": "开头1913", "mobile": "19130001234"})

    assert search(db.engine, "0521")[0].record_id == ends.id
    hits = search(db.engine, "1913")
    assert [hit.title for hit in hits] == ["尾号1913", "开头1913"]
    assert hits[0].record_id == last.id
