"""Reminders: each active owner's tasks coming due (overdue flagged), planned follow-ups and
coming recycles on a controllable clock; the message; sending once a local day."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from connectors.wecom.emulator import WeComRobotEmulator
from crm_core import records
from crm_core.db import open_session
from crm_core.errors import InvalidInput
from crm_core.models import (
    Account,
    Activity,
    ActivityType,
    Entity,
    Notification,
    Task,
    TaskStatus,
    User,
)
from crm_core.rules.notify import DeliveryReport
from crm_core.rules.pool import UpcomingRecycle
from crm_core.rules.reminders import (
    OwnerReminders,
    collect_reminders,
    parse_horizon,
    reminders_job,
    render,
    send_reminders,
)
from crm_core.rules.settings import RulesSettings
from tests.conftest import Database

NOW = datetime(2026, 6, 1, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
DAY = timedelta(days=1)
KEY = "693a91f6-7aoc-4bc4-97a0-0ec2f1fa5aaa"
WEBHOOK_ENV = "TONGBU_TEST_REMINDERS_WEBHOOK"
SETTINGS = RulesSettings.model_validate(
    {
        "time_zone": "Asia/Shanghai",
        "notifications": {"channels": {"sales": {"kind": "wecom", "webhook_env": WEBHOOK_ENV}}},
    }
)


@pytest.fixture
def wecom(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComRobotEmulator]:
    with WeComRobotEmulator(keys=(KEY,)) as emulator:
        monkeypatch.setenv(WEBHOOK_ENV, emulator.webhook_url(KEY))
        yield emulator


def add(db: Database, model: type[Entity], **values: Any) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        return records.create(session, model, values).id


def user(db: Database, name: str, email: str, phone: str | None = None, **values: Any) -> UUID:
    return add(db, User, name=name, email=email, phone=phone, **values)


def task(db: Database, owner: UUID | None, title: str, **values: Any) -> UUID:
    return add(db, Task, owner_id=owner, title=title, **values)


def follow_up(db: Database, owner: UUID, subject: str, at: datetime, **values: Any) -> UUID:
    values.setdefault("type", ActivityType.FOLLOW_UP)
    return add(db, Activity, owner_id=owner, subject=subject, occurred_at=at, **values)


def recycle(owner: UUID, label: str, due_at: datetime, pool: str = "east") -> UpcomingRecycle:
    return UpcomingRecycle(
        entity="accounts",
        record_id=uuid4(),
        label=label,
        pool=pool,
        owner_id=owner,
        due_at=due_at,
        reason="no follow-up for 30 days",
    )


def collect(
    db: Database,
    horizon: timedelta = DAY,
    recycles: list[UpcomingRecycle] | None = None,
    now: datetime = NOW,
) -> list[OwnerReminders]:
    with open_session(db.engine) as session:
        return collect_reminders(session, SETTINGS, now, horizon, recycles=recycles)


def outbox(db: Database) -> list[Notification]:
    with open_session(db.engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_open_tasks_coming_due_within_the_horizon_overdue_flagged(db: Database) -> None:
    zhang = user(db, "张伟", "zhang@example.com")
    overdue = task(db, zhang, "回访华信", due_at=NOW - 2 * DAY)
    soon = task(db, zhang, "发送报价", due_at=NOW + timedelta(hours=2))
    at_the_edge = task(db, zhang, "确认合同", due_at=NOW + DAY)
    reminded = task(db, zhang, "准备投标", due_at=NOW + 5 * DAY, remind_at=NOW + timedelta(hours=1))
    task(db, zhang, "下周的事", due_at=NOW + DAY + timedelta(seconds=1))
    task(db, zhang, "没有日期")
    task(db, zhang, "已完成", due_at=NOW - DAY, status=TaskStatus.DONE)
    task(db, zhang, "已取消", due_at=NOW, status=TaskStatus.CANCELLED)
    deleted = task(db, zhang, "已删除", due_at=NOW)
    with open_session(db.engine, origin="crm") as session:
        records.soft_delete(session, Task, deleted, expected_version=1)
    task(db, None, "无人负责", due_at=NOW)

    (reminders,) = collect(db)

    assert reminders.owner_id == zhang
    assert [(t.task_id, t.overdue) for t in reminders.tasks] == [
        (overdue, True),
        (soon, False),
        (at_the_edge, False),
        (reminded, False),  # its reminder is due, not the task: listed at its due time, last
    ]
    assert reminders.overdue == 1
    assert reminders.tasks[3].at == NOW + 5 * DAY
    assert (reminders.follow_ups, reminders.recycles) == ((), ())
    assert [t.title for t in collect(db, horizon=timedelta(0))[0].tasks] == ["回访华信"]


def test_planned_follow_ups_within_the_horizon(db: Database) -> None:
    zhang = user(db, "张伟", "zhang@example.com")
    account = add(db, Account, name="华信电子")
    now_exactly = follow_up(db, zhang, "电话回访", NOW)
    later = follow_up(db, zhang, "上门拜访", NOW + timedelta(hours=5), account_id=account)
    follow_up(db, zhang, "已经过去", NOW - timedelta(minutes=1))
    follow_up(db, zhang, "太远了", NOW + 2 * DAY)
    follow_up(db, zhang, "会议", NOW + timedelta(hours=1), type=ActivityType.MEETING)

    (reminders,) = collect(db)

    assert [(f.activity_id, f.account) for f in reminders.follow_ups] == [
        (now_exactly, None),
        (later, "华信电子"),
    ]
    assert [f.subject for f in collect(db, horizon=2 * DAY)[0].follow_ups][-1] == "太远了"


def test_reminders_are_grouped_per_active_owner_by_name(db: Database) -> None:
    zhang = user(db, "张伟", "zhang@example.com")
    li = user(db, "李娜", "li@example.com")
    gone = user(db, "王五", "wang@example.com", is_active=False)
    quiet = user(db, "赵六", "zhao@example.com")
    task(db, zhang, "张伟的任务", due_at=NOW)
    task(db, li, "李娜的任务", due_at=NOW)
    follow_up(db, zhang, "张伟的跟进", NOW + timedelta(hours=1))
    task(db, gone, "离职者的任务", due_at=NOW)
    follow_up(db, gone, "离职者的跟进", NOW + timedelta(hours=1))
    task(db, quiet, "下个月", due_at=NOW + 30 * DAY)
    warnings = [
        recycle(li, "东方精工", NOW + 2 * DAY),
        recycle(li, "华信电子", NOW + DAY),
        recycle(gone, "离职者的客户", NOW + DAY),
    ]

    found = collect(db, recycles=warnings)

    assert sorted(found, key=lambda r: r.name) == found
    by_owner = {r.owner_id: r for r in found}
    assert set(by_owner) == {zhang, li}
    assert [t.title for t in by_owner[zhang].tasks] == ["张伟的任务"]
    assert [f.subject for f in by_owner[zhang].follow_ups] == ["张伟的跟进"]
    assert by_owner[zhang].recycles == ()
    assert [t.title for t in by_owner[li].tasks] == ["李娜的任务"]
    assert [r.label for r in by_owner[li].recycles] == ["华信电子", "东方精工"]
    assert by_owner[li].count == 3


def test_an_owner_with_only_recycle_warnings_is_reminded(db: Database) -> None:
    li = user(db, "李娜", "li@example.com")
    (found,) = collect(db, recycles=[recycle(li, "华信电子", NOW + DAY)])
    assert (found.owner_id, found.tasks, found.follow_ups) == (li, (), ())
    assert collect(db) == []  # no pools, nothing passed in: no recycles


def test_the_pools_upcoming_recycles_are_collected(db: Database) -> None:
    li = user(db, "李娜", "li@example.com")
    account = add(
        db, Account, name="华信电子", owner_id=li, pool="east", owned_since=NOW - 28 * DAY
    )
    settings = SETTINGS.model_copy(
        update={
            "pools": RulesSettings.model_validate(
                {
                    "pools": [
                        {
                            "name": "east",
                            "entity": "accounts",
                            "recycle": {"no_followup_days": 30, "warn_days": 3},
                        }
                    ]
                }
            ).pools
        }
    )

    with open_session(db.engine) as session:
        (found,) = collect_reminders(session, settings, NOW, DAY)

    (warning,) = found.recycles
    assert (warning.record_id, warning.pool, warning.label) == (account, "east", "华信电子")


def test_the_message_lists_each_kind_in_local_time(db: Database) -> None:
    zhang = user(db, "张伟", "zhang@example.com")
    task(db, zhang, "回访华信", due_at=NOW - DAY)
    task(db, zhang, "发送报价", due_at=NOW + timedelta(hours=2))
    follow_up(db, zhang, "上门拜访", NOW + timedelta(hours=5))
    (reminders,) = collect(db, recycles=[recycle(zhang, "东方精工", NOW + 2 * DAY)])

    text = render(reminders, SETTINGS.zone)

    assert text.splitlines() == [
        "【提醒 Reminders】张伟: 2 任务 tasks, 1 逾期 overdue, 1 跟进 follow-ups, "
        "1 回收预警 recycle warnings",
        "任务 Tasks:",
        "- 2026-05-31 09:30 回访华信 ⚠ 逾期 overdue",
        "- 2026-06-01 11:30 发送报价",
        "跟进 Follow-ups:",
        "- 2026-06-01 14:30 上门拜访",
        "公海回收 Returning to the pool:",
        "- 东方精工 [east] → 2026-06-03 09:30 (no follow-up for 30 days)",
    ]


def test_a_long_list_is_cut_and_counted(db: Database) -> None:
    zhang = user(db, "张伟", "zhang@example.com")
    for number in range(13):
        task(db, zhang, f"任务 {number:02d}", due_at=NOW + timedelta(minutes=number))
    (reminders,) = collect(db)
    lines = render(reminders, SETTINGS.zone).splitlines()
    assert lines[-2:] == ["- 2026-06-01 09:39 任务 09", "... and 3 more / 另有 3 条"]


def test_reminders_are_sent_once_a_local_day_mentioning_each_owner(
    db: Database, wecom: WeComRobotEmulator
) -> None:
    zhang = user(db, "张伟", "zhang@example.com", phone="13800001111")
    li = user(db, "李娜", "li@example.com", phone="13900002222")
    task(db, zhang, "回访华信", due_at=NOW - DAY)
    task(db, li, "发送报价", due_at=NOW + timedelta(hours=2))

    report = send_reminders(db.engine, SETTINGS, NOW, DAY)

    assert (report.queued, report.skipped) == (2, 0)
    assert report.delivery == DeliveryReport(sent=2)
    assert {tuple(m.mentioned_mobiles) for m in wecom.messages} == {
        ("13800001111",),
        ("13900002222",),
    }
    assert all(m.content.startswith("【提醒 Reminders】") for m in wecom.messages)
    assert {(n.key, n.kind, n.channel, n.recipient_id) for n in outbox(db)} == {
        (f"reminders:{zhang}:2026-06-01", "reminders", "sales", zhang),
        (f"reminders:{li}:2026-06-01", "reminders", "sales", li),
    }

    # Later the same day in Shanghai (from 04:00 to 23:59 local time): nothing more.
    for later in (NOW - timedelta(hours=5, minutes=30), NOW + timedelta(hours=14, minutes=29)):
        again = send_reminders(db.engine, SETTINGS, later, DAY)
        assert (again.queued, again.skipped) == (0, 2)
    assert len(wecom.messages) == 2

    # 00:00 the next day in Shanghai is 16:00 UTC: a new day, new reminders.
    next_day = send_reminders(db.engine, SETTINGS, datetime(2026, 6, 1, 16, tzinfo=UTC), DAY)
    assert (next_day.queued, next_day.delivery) == (2, DeliveryReport(sent=2))
    assert len(wecom.messages) == 4


def test_a_dry_run_writes_and_sends_nothing(db: Database, wecom: WeComRobotEmulator) -> None:
    zhang = user(db, "张伟", "zhang@example.com")
    task(db, zhang, "回访华信", due_at=NOW)

    report = send_reminders(db.engine, SETTINGS, NOW, DAY, dry_run=True)

    assert [r.owner_id for r in report.reminders] == [zhang]
    assert (report.queued, report.delivery, report.dry_run) == (0, None, True)
    assert outbox(db) == []
    assert not wecom.messages


def test_reminders_wait_in_the_outbox_while_the_robot_is_down(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={KEY}")
    zhang = user(db, "张伟", "zhang@example.com")
    task(db, zhang, "回访华信", due_at=NOW)

    report = send_reminders(db.engine, SETTINGS, NOW, DAY)

    assert report.queued == 1
    assert report.delivery == DeliveryReport(retried=1, pending=1)
    assert [(n.status, n.attempts) for n in outbox(db)] == [("pending", 1)]


def test_the_job_reads_the_rules_file_and_returns_counts(
    db: Database, wecom: WeComRobotEmulator, tmp_path: Path
) -> None:
    rules = tmp_path / "crm.yaml"
    rules.write_text(
        f"notifications:\n  channels:\n    sales: {{kind: wecom, webhook_env: {WEBHOOK_ENV}}}\n",
        encoding="utf-8",
    )
    zhang = user(db, "张伟", "zhang@example.com")
    task(db, zhang, "回访华信", due_at=datetime.now(UTC) + timedelta(hours=1))

    summary = reminders_job("1d", rules=str(rules), database_url=db.url)

    assert summary == {
        "owners": 1,
        "tasks": 1,
        "overdue": 0,
        "follow_ups": 0,
        "recycles": 0,
        "queued": 1,
        "skipped": 0,
        "delivery": {"sent": 1, "retried": 0, "failed": 0, "pending": 0},
        "dry_run": False,
    }
    assert len(wecom.messages) == 1


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("1d", DAY),
        ("12h", timedelta(hours=12)),
        (" 2D ", 2 * DAY),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("0h", timedelta(0)),
    ],
)
def test_parse_horizon(text: str, span: timedelta) -> None:
    assert parse_horizon(text) == span


@pytest.mark.parametrize("text", ["", "1", "d", "1w", "-1d", "1.5d", "1d tomorrow"])
def test_parse_horizon_refuses_what_it_does_not_know(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a horizon"):
        parse_horizon(text)


def test_an_owner_in_another_time_zone_gets_their_own_day_and_times(
    db: Database, wecom: WeComRobotEmulator
) -> None:
    emily = user(db, "Emily Carter", "emily@example.com", time_zone="Europe/London")
    task(db, emily, "Call ACME", due_at=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))

    # 01:30 UTC on 1 June is 02:30 on 1 June in London (BST, UTC+1).
    report = send_reminders(db.engine, SETTINGS, NOW, DAY)

    assert report.queued == 1
    [note] = outbox(db)
    assert note.key == f"reminders:{emily}:2026-06-01"
    [message] = wecom.messages
    assert "2026-06-01 10:00 Call ACME" in message.content  # 09:00 UTC is 10:00 in London
    later = send_reminders(db.engine, SETTINGS, datetime(2026, 6, 1, 22, 59, tzinfo=UTC), DAY)
    assert later.queued == 0  # 23:59 in London, the same day (already 2 June in Shanghai)
    next_day = send_reminders(db.engine, SETTINGS, datetime(2026, 6, 1, 23, 0, tzinfo=UTC), DAY)
    assert next_day.queued == 1  # midnight in London (07:00 in Shanghai, already 2 June there)
