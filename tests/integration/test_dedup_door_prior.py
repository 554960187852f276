"""Matching at the door with only a few accounts stored (SQLite and PostgreSQL): a small core
is no reason to expect its records to be duplicates, so a lookalike of a stored company, whose
phone and e-mail differ, stays a new customer; the same company still links."""

from __future__ import annotations

from crm_core.db import open_session
from crm_core.dedup._door import Matcher, refresh_match_keys
from tests.conftest import Database
from tests.integration.test_dedup_door import add_account


def test_a_lookalike_name_in_a_small_core_is_a_new_company_not_a_link(db: Database) -> None:
    huaxin = add_account(
        db,
        name="杭州华信电子科技有限公司",
        phone="0571-87654321",
        email="info@hzhuaxin.com.cn",
        city="杭州",
    )
    add_account(db, name="宁波海天塑机有限公司", phone="0574-86181234", city="宁波")
    add_account(db, name="上海浦江物流有限公司", phone="021-55556666", city="上海")
    add_account(db, name="苏州金鸡湖软件有限公司", phone="0512-62345678", city="苏州")
    refresh_match_keys(db.engine)
    with open_session(db.engine) as session:
        matcher = Matcher.for_entity(session, "accounts")
        lookalike, bare_lookalike, same = matcher.match(
            session,
            [
                {
                    "name": "杭州华兴电子科技有限公司",  # 华兴, not 华信
                    "phone": "0571-88001122",
                    "email": "sales@hzhuaxing.com",
                    "contact_name": "王伟",
                },
                {"name": "杭州华兴电子科技有限公司"},
                {"name": "华信电子科技(杭州)有限公司", "phone": "+86 571 8765 4321"},
            ],
        )

    # Before the fix the prior rose to 0.5 with four accounts stored: 0.98 and 0.999, links.
    assert (lookalike.decision, lookalike.record_id) == ("new", None)
    assert lookalike.probability < 0.01
    weights = {name: weight for name, _level, weight in lookalike.evidence}
    assert weights["phone"] < 0
    assert weights["email"] < 0
    assert bare_lookalike.decision == "new"
    assert bare_lookalike.probability < 0.5
    assert (same.decision, same.record_id) == ("link", huaxin)
    assert same.probability >= 0.99
