"""``tongbu pool`` and ``tongbu leads assign`` as a user runs them: a subprocess, its output
and exit code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import select

from crm_core.db import create_engine, open_session
from crm_core.models import Account, Lead, Notification, Team, TeamMember, User, utcnow
from tests.e2e.test_cli import assert_clear_error, tongbu

RULES = """
pools:
  - name: east
    title: 华东公海
    entity: accounts
    max_held: 5
    cooldown_days: 7
    recycle: {no_followup_days: 30, warn_days: 3}
  - name: spare-leads
    entity: leads
assignment:
  rules:
    - {name: east, team: 华东销售部}
  fallback_pool: spare-leads
notifications:
  channels:
    sales: {kind: wecom, webhook_env: TONGBU_TEST_UNSET_WEBHOOK}
"""


def setup(tmp_path: Path) -> tuple[str, str, dict[str, UUID]]:
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0
    rules = tmp_path / "crm.yaml"
    rules.write_text(RULES, encoding="utf-8")
    engine = create_engine(url)
    ids: dict[str, UUID] = {}
    try:
        with open_session(engine, origin="crm") as session:
            team = Team(name="华东销售部")
            session.add(team)
            session.flush()
            for name in ("wang", "li"):
                user = User(name=name, email=f"{name}@example.com", phone="13800138000")
                session.add(user)
                session.flush()
                session.add(TeamMember(team_id=team.id, user_id=user.id))
                ids[name] = user.id
            waiting = Account(name="杭州华信", pool="east")
            stale = Account(
                name="冷客户",
                pool="east",
                owner_id=ids["li"],
                owned_since=utcnow() - timedelta(days=31),
            )
            lead = Lead(name="张伟", company="华信电子")
            session.add_all([waiting, stale, lead])
            session.flush()
            ids |= {"waiting": waiting.id, "stale": stale.id, "lead": lead.id}
    finally:
        engine.dispose()
    return url, str(rules), ids


def test_claim_return_history_and_recycle(tmp_path: Path) -> None:
    url, rules, ids = setup(tmp_path)
    waiting = str(ids["waiting"])

    listed = tongbu("pool", "list", "--rules", rules, url=url)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "华东公海" in line)
    assert [cell.strip() for cell in row.split("│")[1:7]] == [
        "华东公海",
        "accounts",
        "1",
        "1",
        "0",
        "0",
    ]

    claimed = tongbu(
        "pool", "claim", "east", waiting, "--user", "wang@example.com", "--rules", rules, url=url
    )
    assert claimed.returncode == 0, claimed.stderr
    assert "wang@example.com now holds account 杭州华信" in claimed.stdout
    assert_clear_error(
        tongbu(
            "pool", "claim", "east", waiting, "--user", "li@example.com", "--rules", rules, url=url
        ),
        "is already held by wang",
    )
    assert_clear_error(
        tongbu(
            "pool",
            "claim",
            "east",
            waiting,
            "--user",
            "nobody@example.com",
            "--rules",
            rules,
            url=url,
        ),
        "no user with the e-mail address nobody@example.com",
    )

    returned = tongbu(
        "pool",
        "return",
        waiting,
        "--user",
        "wang@example.com",
        "--reason",
        "没有预算",
        "--rules",
        rules,
        url=url,
    )
    assert returned.returncode == 0, returned.stderr
    assert "account 杭州华信 is back in pool east." in returned.stdout
    assert_clear_error(
        tongbu(
            "pool",
            "claim",
            "east",
            waiting,
            "--user",
            "wang@example.com",
            "--rules",
            rules,
            url=url,
        ),
        "cool-down 7 days",
    )

    shown = tongbu("pool", "history", waiting, url=url)
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if "│" in line]
    assert [line.split("│")[2].strip() for line in lines] == ["claim", "return"]
    assert "没有预算" in lines[-1]

    dry = tongbu("pool", "recycle", "--dry-run", "--rules", rules, url=url)
    assert dry.returncode == 0, dry.stderr
    assert "Would recycle: east 1." in dry.stdout
    recycled = tongbu("pool", "recycle", "--rules", rules, url=url)
    assert recycled.returncode == 0, recycled.stderr
    assert "Recycled: east 1." in recycled.stdout
    engine = create_engine(url)
    try:
        with open_session(engine) as session:
            assert (
                session.scalar(select(Account.owner_id).where(Account.id == ids["stale"])) is None
            )
    finally:
        engine.dispose()


def test_leads_assign_and_the_outbox_waits_for_an_unset_webhook(tmp_path: Path) -> None:
    url, rules, ids = setup(tmp_path)
    dry = tongbu("leads", "assign", "--dry-run", "--rules", rules, url=url)
    assert dry.returncode == 0, dry.stderr
    assert "Would assign 1 lead(s)" in dry.stdout

    done = tongbu("leads", "assign", "--rules", rules, url=url)
    assert done.returncode == 0, done.stderr
    assert "Assigned 1 lead(s)" in done.stdout
    assert "rule east: 1" in done.stdout
    engine = create_engine(url)
    try:
        with open_session(engine) as session:
            owner = session.scalar(select(Lead.owner_id).where(Lead.id == ids["lead"]))
            assert owner in {ids["wang"], ids["li"]}
            [note] = session.scalars(select(Notification)).all()
            # The webhook is not set: the notification waits to be retried; the rule is done.
            assert (note.kind, note.status, note.attempts) == ("lead_assigned", "pending", 1)
            assert note.last_error == "TONGBU_TEST_UNSET_WEBHOOK is not set"
    finally:
        engine.dispose()


def test_bad_rules_and_ids_are_clear_errors(tmp_path: Path) -> None:
    url, rules, _ = setup(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("pools:\n  - {name: x, entity: contacts}\n", encoding="utf-8")
    assert_clear_error(tongbu("pool", "list", "--rules", str(broken), url=url), "pools.0.entity")
    assert_clear_error(
        tongbu("pool", "list", "--rules", str(tmp_path / "none.yaml"), url=url), "no rules file at"
    )
    assert_clear_error(tongbu("pool", "lock", "nope", url=url), "is not a record id")
    assert_clear_error(
        tongbu("pool", "show", "west", "--rules", rules, url=url), "no pool named 'west'"
    )
