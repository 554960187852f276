"""``tongbu leads score`` as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crm_core import records
from crm_core.db import create_engine, open_session
from crm_core.models import Activity, ActivityType, Lead, utcnow
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
