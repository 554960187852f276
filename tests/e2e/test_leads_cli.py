"""``tongbu leads score`` and ``tongbu leads convert`` as a user runs them: a subprocess, its
output and exit code."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from crm_core import records
from crm_core.db import create_engine, open_session
from crm_core.models import Account, Activity, ActivityType, Lead, Opportunity, utcnow
from tests.e2e.test_cli import assert_clear_error, tongbu


def test_score_a_lead_with_its_explanation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0
    engine = create_engine(url)
    try:
        with open_session(engine, origin="crm") as session:
            lead = records.create(
                session,
                Lead,
                {
                    "name": "张伟",
                    "company": "华信电子",
                    "industry": "制造业",
                    "company_size": "200-999",
                    "source": "展会",
                },
            )
            for days_ago in (1, 5, 10):
                records.create(
                    session,
                    Activity,
                    {
                        "type": ActivityType.MEETING,
                        "subject": "拜访",
                        "occurred_at": utcnow() - timedelta(days=days_ago),
                        "related_type": "leads",
                        "related_id": lead.id,
                    },
                )
    finally:
        engine.dispose()

    result = tongbu("leads", "score", str(lead.id), "--explain", url=url)

    assert result.returncode == 0, result.stderr
    # 制造业 20 + 200-999 15 + 展会 15 + three meetings capped at 30 = 80: hot.
    row = next(line for line in result.stdout.splitlines() if str(lead.id) in line)
    assert [cell.strip() for cell in row.split("│")[2:6]] == ["张伟 / 华信电子", "80", "hot", "new"]
    for expected in (
        "  industry: 制造业 -> +20",
        "  company_size: 200-999 -> +15",
        "  source: 展会 -> +15",
        "  activity meeting: 3 (last 90 days, capped at 30) -> +30",
        "  activity call: 0 (last 30 days) -> +0",
    ):
        assert expected in result.stdout.splitlines()
    assert "Scored 1 lead(s); 1 score(s) changed." in result.stdout

    again = tongbu("leads", "score", "--all", url=url)
    assert again.returncode == 0, again.stderr
    assert "Scored 1 lead(s); 0 score(s) changed." in again.stdout


def test_score_needs_ids_or_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0

    assert_clear_error(tongbu("leads", "score", url=url), "give the ids of the leads to score")
    assert_clear_error(tongbu("leads", "score", "nope", url=url), "is not a lead id")


def add_leads(url: str, *leads: dict[str, Any]) -> list[UUID]:
    engine = create_engine(url)
    try:
        with open_session(engine, origin="crm") as session:
            return [records.create(session, Lead, values).id for values in leads]
    finally:
        engine.dispose()


def test_convert_a_lead_then_another_of_the_same_company(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0
    first, second = add_leads(
        url,
        {"name": "张伟", "company": "杭州华信电子科技有限公司", "phone": "0571-88886666"},
        {"name": "李娜", "company": "华信电子科技(杭州)有限公司", "phone": "+86 571 8888 6666"},
    )

    result = tongbu("leads", "convert", str(first), "--amount", "120,000.50", url=url)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Converted lead {first}."
    assert lines[1].startswith("  Created account ")
    assert lines[1].endswith(" 杭州华信电子科技有限公司 (no existing account matches the company).")
    assert lines[2].startswith("  Created contact ")
    assert lines[2].endswith(" 张伟.")
    assert lines[3].startswith("  Created opportunity ")
    assert "Kept on the lead: 0 activity(ies)" in lines[4]
    account_id = lines[1].split()[2]

    again = tongbu("leads", "convert", str(second), "--no-opportunity", url=url)

    assert again.returncode == 0, again.stderr
    assert (
        f"  Linked to existing account {account_id} 杭州华信电子科技有限公司 (matched by phone"
        in again.stdout
    )
    assert "  No opportunity created." in again.stdout.splitlines()
    engine = create_engine(url)
    try:
        with open_session(engine) as session:
            deal = session.scalars(select(Opportunity)).one()
            assert (deal.amount, deal.currency, deal.lead_id) == (
                Decimal("120000.50"),
                "CNY",
                first,
            )
            assert session.scalar(select(func.count()).select_from(Account)) == 1
    finally:
        engine.dispose()

    assert_clear_error(
        tongbu("leads", "convert", str(first), url=url), f"lead {first} was already converted on"
    )


def test_convert_refuses_what_it_cannot_do_in_one_sentence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0
    [lead_id] = add_leads(url, {"name": "张伟"})
    unknown = "01900000-0000-7000-8000-000000000000"

    for args, message in (
        (("nope",), "'nope' is not a lead id"),
        ((unknown,), f"no lead with id {unknown}"),
        ((str(lead_id),), "has no company"),
        ((str(lead_id), "--account", "x"), "'x' is not an account id"),
        ((str(lead_id), "--account", unknown), f"no account with id {unknown}"),
        ((str(lead_id), "--account", unknown, "--new-account"), "not both"),
        ((str(lead_id), "--amount", "lots"), "'lots' is not an amount"),
        ((str(lead_id), "--no-opportunity", "--amount", "5"), "leave them out"),
    ):
        assert_clear_error(tongbu("leads", "convert", *args, url=url), message)
