"""``tongbu reminders`` and ``tongbu notifications`` as a user runs them: a subprocess posting
to a WeCom robot emulator, its output and exit code."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.wecom.emulator import WeComRobotEmulator
from crm_core import records
from crm_core.db import create_engine, open_session
from crm_core.models import Activity, ActivityType, Task, User, utcnow
from tests.e2e.test_cli import assert_clear_error, tongbu

KEY = "693a91f6-7aoc-4bc4-97a0-0ec2f1fa5aaa"
WEBHOOK_ENV = "TONGBU_TEST_CLI_WEBHOOK"


@pytest.fixture
def wecom(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComRobotEmulator]:
    with WeComRobotEmulator(keys=(KEY,)) as emulator:
        monkeypatch.setenv(WEBHOOK_ENV, emulator.webhook_url(KEY))
        yield emulator


@pytest.fixture
def rules(tmp_path: Path) -> str:
    path = tmp_path / "crm.yaml"
    path.write_text(
        "time_zone: Asia/Shanghai\n"
        "notifications:\n"
        f"  channels:\n    sales: {{kind: wecom, webhook_env: {WEBHOOK_ENV}}}\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A migrated database where 张伟 has an overdue task and a follow-up today, 李娜 a task
    due in a few hours and 王五 only a task next month."""
    url = f"sqlite:///{tmp_path / 'reminders.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0
    now = utcnow()
    engine = create_engine(url)
    try:
        with open_session(engine, origin="crm") as session:

            def add(model: Any, **values: Any) -> Any:
                return records.create(session, model, values).id

            zhang = add(User, name="张伟", email="zhang@example.com", phone="13800001111")
            li = add(User, name="李娜", email="li@example.com", phone="13900002222")
            wang = add(User, name="王五", email="wang@example.com")
            add(Task, owner_id=zhang, title="回访华信", due_at=now - timedelta(days=1))
            add(
                Activity,
                owner_id=zhang,
                type=ActivityType.FOLLOW_UP,
                subject="上门拜访东方精工",
                occurred_at=now + timedelta(hours=3),
            )
            add(Task, owner_id=li, title="发送报价", due_at=now + timedelta(hours=5))
            add(Task, owner_id=wang, title="下个月的事", due_at=now + timedelta(days=30))
    finally:
        engine.dispose()
    return url


def test_list_shows_a_table_per_owner(url: str, rules: str) -> None:
    result = tongbu("reminders", "list", "--rules", rules, url=url)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "张伟 <zhang@example.com> (2)" in lines
    assert "李娜 <li@example.com> (1)" in lines
    assert "王五" not in result.stdout
    overdue = next(line for line in lines if "回访华信" in line)
    assert "overdue" in overdue
    assert any("follow-up" in line and "上门拜访东方精工" in line for line in lines)
    assert "3 reminder(s) for 2 user(s) within 1d." in result.stdout

    wider = tongbu("reminders", "list", "--horizon", "31d", "--rules", rules, url=url)
    assert "王五 <wang@example.com> (1)" in wider.stdout.splitlines()


def test_list_one_owner(url: str, rules: str) -> None:
    result = tongbu("reminders", "list", "--owner", "LI@example.com", "--rules", rules, url=url)

    assert result.returncode == 0, result.stderr
    assert "李娜 <li@example.com> (1)" in result.stdout.splitlines()
    assert "张伟" not in result.stdout

    quiet = tongbu("reminders", "list", "--owner", "wang@example.com", "--rules", rules, url=url)
    assert quiet.returncode == 0, quiet.stderr
    assert "No reminders for wang@example.com within 1d." in quiet.stdout


def test_send_dry_run_then_send_once_a_day(url: str, rules: str, wecom: WeComRobotEmulator) -> None:
    dry = tongbu("reminders", "send", "--dry-run", "--rules", rules, url=url)

    assert dry.returncode == 0, dry.stderr
    assert "@张伟 <zhang@example.com>" in dry.stdout
    assert "【提醒 Reminders】张伟: 1 任务 tasks, 1 逾期 overdue, 1 跟进 follow-ups" in dry.stdout
    assert "Dry run: 2 user(s) would be reminded; nothing sent." in dry.stdout
    assert not wecom.messages
    listed = tongbu("notifications", "list", url=url)
    assert "Notifications (0)" in listed.stdout

    sent = tongbu("reminders", "send", "--rules", rules, url=url)

    assert sent.returncode == 0, sent.stderr
    assert "Reminders for 2 user(s): 2 queued, 0 already queued today" in sent.stdout
    assert "Delivered: 2 sent, 0 to retry, 0 failed; 0 pending in the outbox." in sent.stdout
    assert sorted(tuple(m.mentioned_mobiles) for m in wecom.messages) == [
        ("13800001111",),
        ("13900002222",),
    ]

    again = tongbu("reminders", "send", "--rules", rules, url=url)
    assert "Reminders for 2 user(s): 0 queued, 2 already queued today" in again.stdout
    assert len(wecom.messages) == 2

    listed = tongbu("notifications", "list", "--status", "sent", url=url)
    assert listed.returncode == 0, listed.stderr
    assert "Notifications (2)" in listed.stdout
    assert listed.stdout.count("reminders") == 2
    assert (
        "Notifications (0)" in tongbu("notifications", "list", "--status", "failed", url=url).stdout
    )


def test_deliver_retries_while_the_robot_is_down(
    url: str, rules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={KEY}")

    sent = tongbu("reminders", "send", "--rules", rules, url=url)

    assert sent.returncode == 0, sent.stderr
    assert "Delivered: 0 sent, 1 to retry, 0 failed; 2 pending in the outbox." in sent.stdout
    listed = tongbu("notifications", "list", "--status", "pending", url=url)
    assert "Notifications (2)" in listed.stdout
    assert "wecom: not delivered" in listed.stdout
    assert KEY not in listed.stdout + sent.stdout + sent.stderr

    with WeComRobotEmulator(keys=(KEY,)) as emulator:
        monkeypatch.setenv(WEBHOOK_ENV, emulator.webhook_url(KEY))
        # The failed one waits for its backoff; the untried one goes now.
        delivered = tongbu("notifications", "deliver", "--rules", rules, url=url)
    assert delivered.returncode == 0, delivered.stderr
    assert "Delivered: 1 sent, 0 to retry, 0 failed; 1 pending in the outbox." in delivered.stdout
    assert len(emulator.messages) == 1


def test_clear_errors(url: str, rules: str, tmp_path: Path) -> None:
    assert_clear_error(
        tongbu("reminders", "list", "--horizon", "tomorrow", "--rules", rules, url=url),
        "'tomorrow' is not a horizon",
    )
    assert_clear_error(
        tongbu("reminders", "list", "--owner", "nobody@example.com", "--rules", rules, url=url),
        "no user with the e-mail address 'nobody@example.com'",
    )
    assert_clear_error(
        tongbu("reminders", "send", "--rules", str(tmp_path / "missing.yaml"), url=url),
        "no rules file at",
    )
    assert_clear_error(
        tongbu("notifications", "list", "--status", "lost", url=url),
        "--status is one of pending, sent, failed, not 'lost'",
    )


def test_the_robot_emulators_can_be_served_for_a_try_out() -> None:
    import subprocess

    import httpx

    from tests.e2e.test_cli import TONGBU

    with subprocess.Popen(
        [TONGBU, "emulator", "serve", "wecom-robot"], stdout=subprocess.PIPE, text=True
    ) as served:
        try:
            assert served.stdout is not None
            first = served.stdout.readline()
            webhook = served.stdout.readline().strip().removeprefix("webhook=")
            answer = httpx.post(webhook, json={"msgtype": "text", "text": {"content": "你好"}})
        finally:
            served.terminate()
    assert first.startswith("wecom-robot emulator at http://127.0.0.1:")
    assert answer.json() == {"errcode": 0, "errmsg": "ok"}
    assert_clear_error(
        tongbu("emulator", "serve", "dingtalk-robot", "--seed", "a=1"),
        "the dingtalk-robot emulator takes no --seed",
    )
