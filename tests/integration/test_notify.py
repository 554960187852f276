"""The notification outbox: notifications written in the caller's transaction, delivered to
the WeCom and DingTalk robot emulators over HTTP, retried with backoff on a controllable clock,
failed for good when refused or out of attempts, and never blocking the rule that wrote them."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import func, select, update

from connectors.dingtalk.emulator import DingTalkRobotEmulator
from connectors.wecom import WeComRobot
from connectors.wecom.emulator import WeComRobotEmulator
from crm_core import records
from crm_core.db import open_session
from crm_core.messaging import Message, Messenger
from crm_core.models import Lead, Notification, User
from crm_core.rules.notify import LEASE, DeliveryReport, deliver, list_notifications, notify
from crm_core.rules.settings import NotificationSettings
from tests.conftest import Database
from tests.integration.test_messaging import http_log_shown

NOW = datetime(2026, 6, 1, 1, 30, tzinfo=UTC)
KEY = "693a91f6-7aoc-4bc4-97a0-0ec2f1fa5aaa"
TOKEN = "b10deee3d9e2dbc21ce57eb9f80da23a643ebe83154dd6b086486da2c833acb6"  # noqa: S105 - the emulators' own
SECRET = "SEC6f1b2c8e0d4a4f5e9b7c3a1d2e8f0a4b6c9d1e3f5a7b9c0d2e4f6a8b0c2d4e6"  # noqa: S105 - the emulators' own
WECOM_ENV = "TONGBU_TEST_WECOM_WEBHOOK"
DINGTALK_ENV = "TONGBU_TEST_DINGTALK_WEBHOOK"
DINGTALK_SECRET_ENV = "TONGBU_TEST_DINGTALK_SECRET"  # noqa: S105 - a variable's name
MOBILE = "13800001111"

SETTINGS = NotificationSettings.model_validate(
    {
        "channels": {
            "east": {"kind": "wecom", "webhook_env": WECOM_ENV},
            "north": {
                "kind": "dingtalk",
                "webhook_env": DINGTALK_ENV,
                "secret_env": DINGTALK_SECRET_ENV,
            },
        },
        "default_channel": "east",
        "max_attempts": 3,
        "backoff_seconds": 60,
    }
)


@pytest.fixture
def wecom(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComRobotEmulator]:
    with WeComRobotEmulator(keys=(KEY,)) as emulator:
        monkeypatch.setenv(WECOM_ENV, emulator.webhook_url(KEY))
        yield emulator


@pytest.fixture
def dingtalk(monkeypatch: pytest.MonkeyPatch) -> Iterator[DingTalkRobotEmulator]:
    with DingTalkRobotEmulator(tokens={TOKEN: SECRET}) as emulator:
        monkeypatch.setenv(DINGTALK_ENV, emulator.webhook_url(TOKEN))
        monkeypatch.setenv(DINGTALK_SECRET_ENV, SECRET)
        yield emulator


def logs_shown(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture the outbox's and httpx's logs, whatever logging set-up an earlier test left."""
    http_log_shown(caplog, monkeypatch)
    logger = logging.getLogger("crm_core.rules.notify")
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "propagate", True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def new_user(db: Database, phone: str | None = MOBILE) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        values = {"name": "张伟", "email": "zhang.wei@example.com", "phone": phone}
        return records.create(session, User, values).id


def queue(
    db: Database,
    text: str,
    *,
    channel: str | None = None,
    recipient_id: UUID | None = None,
    key: str | None = None,
    settings: NotificationSettings = SETTINGS,
) -> bool:
    with open_session(db.engine, origin="crm") as session:
        return notify(
            session,
            settings,
            kind="lead_assigned",
            text=text,
            channel=channel,
            recipient_id=recipient_id,
            key=key,
            now=NOW,
        )


def outbox(db: Database) -> list[Notification]:
    with open_session(db.engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


# Writing ---------------------------------------------------------------------------------------


def test_notify_stores_a_pending_notification_mentioning_the_recipient(db: Database) -> None:
    owner = new_user(db)

    assert queue(db, "线索已分配给你：华信电子", recipient_id=owner)

    (stored,) = outbox(db)
    assert (stored.kind, stored.channel, stored.recipient_id) == ("lead_assigned", "east", owner)
    assert stored.mentions == [MOBILE]
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", 0, NOW)
    assert stored.sent_at is None


def test_a_recipient_without_a_mobile_is_not_mentioned(db: Database) -> None:
    owner = new_user(db, phone=None)
    assert queue(db, "hello", recipient_id=owner, channel="north")
    (stored,) = outbox(db)
    assert (stored.channel, stored.mentions) == ("north", [])


def test_the_same_key_is_stored_once(db: Database, wecom: WeComRobotEmulator) -> None:
    assert queue(db, "线索已分配：华信电子", key="lead_assigned:1")
    assert not queue(db, "线索已分配：华信电子", key="lead_assigned:1")
    assert queue(db, "线索已分配：东方精工", key="lead_assigned:2")
    deliver(db.engine, SETTINGS, now=NOW)

    assert not queue(db, "线索已分配：华信电子", key="lead_assigned:1")  # also once delivered
    assert deliver(db.engine, SETTINGS, now=NOW + timedelta(hours=1)) == DeliveryReport()
    assert [m.content for m in wecom.messages] == ["线索已分配：华信电子", "线索已分配：东方精工"]


def test_the_same_key_in_one_transaction_is_stored_once(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        stored = [
            notify(session, SETTINGS, kind="x", text="t", channel=None, key="k", now=NOW)
            for _ in range(2)
        ]
    assert stored == [True, False]
    assert len(outbox(db)) == 1


def test_without_a_channel_nothing_is_stored(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs_shown(caplog, monkeypatch)
    two = NotificationSettings.model_validate(
        {"channels": {name: {"kind": "wecom", "webhook_env": WECOM_ENV} for name in ("a", "b")}}
    )

    assert not queue(db, "线索已分配：华信电子", settings=two)
    assert not queue(db, "hello", settings=NotificationSettings())

    assert outbox(db) == []
    assert "no channel configured" in caplog.text
    assert "线索已分配：华信电子" in caplog.text


def test_a_notification_of_a_rolled_back_transaction_is_not_stored(db: Database) -> None:
    def failing_rule() -> None:
        with open_session(db.engine, origin="crm") as session:
            records.create(session, Lead, {"name": "张伟", "company": "华信"})
            notify(session, SETTINGS, kind="lead_assigned", text="t", channel=None, now=NOW)
            raise RuntimeError("the rule failed")

    with pytest.raises(RuntimeError):
        failing_rule()

    assert outbox(db) == []
    with open_session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


# Delivering ------------------------------------------------------------------------------------


def test_delivers_to_wecom_and_to_a_signed_dingtalk_robot_mentioning_the_owner(
    db: Database, wecom: WeComRobotEmulator, dingtalk: DingTalkRobotEmulator
) -> None:
    owner = new_user(db)
    queue(db, "线索已分配给你：华信电子", recipient_id=owner)
    queue(db, "公海回收提醒：东方精工", channel="north", recipient_id=owner)
    queue(db, "not due yet", recipient_id=owner)
    with open_session(db.engine, origin="crm") as session:
        session.execute(
            update(Notification)
            .where(Notification.text == "not due yet")
            .values(next_attempt_at=NOW + timedelta(minutes=5))
        )

    report = deliver(db.engine, SETTINGS, now=NOW)

    assert report == DeliveryReport(sent=2, pending=1)
    (to_wecom,) = wecom.messages
    assert (to_wecom.content, to_wecom.mentioned_mobiles) == ("线索已分配给你：华信电子", [MOBILE])
    (to_dingtalk,) = dingtalk.messages  # the emulator checked the signature
    assert (to_dingtalk.content, to_dingtalk.at_mobiles) == ("公海回收提醒：东方精工", [MOBILE])
    first, second, later = outbox(db)
    for sent in (first, second):
        assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
            "sent",
            1,
            NOW,
            None,
        )
    assert (later.status, later.attempts) == ("pending", 0)

    assert deliver(db.engine, SETTINGS, now=NOW + timedelta(minutes=5)).sent == 1
    assert [m.content for m in wecom.messages][-1] == "not due yet"


def test_a_refused_notification_fails_at_once_and_is_not_retried(
    db: Database,
    wecom: WeComRobotEmulator,
    dingtalk: DingTalkRobotEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    logs_shown(caplog, monkeypatch)
    monkeypatch.setenv(WECOM_ENV, wecom.webhook_url("not-a-robot"))
    monkeypatch.setenv(DINGTALK_SECRET_ENV, "SEC" + "0" * 64)
    queue(db, "to a removed robot")
    queue(db, "with a wrong secret", channel="north")

    report = deliver(db.engine, SETTINGS, now=NOW)

    assert report == DeliveryReport(failed=2)
    removed, unsigned = outbox(db)
    assert (removed.status, removed.attempts) == ("failed", 1)
    assert removed.last_error is not None
    assert removed.last_error.startswith("93000 invalid webhook url")
    assert unsigned.status == "failed"
    assert unsigned.last_error is not None
    assert unsigned.last_error.startswith("310000 sign not match")
    assert deliver(db.engine, SETTINGS, now=NOW + timedelta(days=1)) == DeliveryReport()
    assert not wecom.messages
    assert not dingtalk.messages
    for text in (caplog.text, removed.last_error, unsigned.last_error):
        assert "not-a-robot" not in text
        assert TOKEN not in text
        assert SECRET not in text


def test_an_unreachable_robot_is_retried_with_backoff_until_it_is_back(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    logs_shown(caplog, monkeypatch)
    port = free_port()
    monkeypatch.setenv(WECOM_ENV, f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={KEY}")
    queue(db, "线索已分配：华信电子")
    queue(db, "线索已分配：东方精工")

    report = deliver(db.engine, SETTINGS, now=NOW)

    # The first attempt failed; the channel is then left alone for this call.
    assert report == DeliveryReport(retried=1, pending=2)
    first, second = outbox(db)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.next_attempt_at == NOW + timedelta(seconds=60)
    assert first.last_error is not None
    assert "not delivered" in first.last_error
    assert (second.attempts, second.next_attempt_at) == (0, NOW)
    assert KEY not in first.last_error
    assert KEY not in caplog.text

    # Before its backoff ends, only the untried one is due (and the robot is still down).
    assert deliver(db.engine, SETTINGS, now=NOW + timedelta(seconds=59)).retried == 1
    assert outbox(db)[0].attempts == 1

    with WeComRobotEmulator(port=port, keys=(KEY,)) as emulator:
        report = deliver(db.engine, SETTINGS, now=NOW + timedelta(seconds=120))

    assert report == DeliveryReport(sent=2)
    assert [m.content for m in emulator.messages] == [
        "线索已分配：华信电子",
        "线索已分配：东方精工",
    ]
    assert [(n.status, n.attempts) for n in outbox(db)] == [("sent", 2), ("sent", 2)]


def test_a_notification_fails_when_its_attempts_are_spent(db: Database) -> None:
    url = f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key={KEY}"
    queue(db, "线索已分配：华信电子")
    with WeComRobot(url, retry_wait=0.01) as unreachable:
        # WeComRobot.system is a ClassVar, the port's Messenger.system an instance attribute.
        robots: dict[str, Messenger] = {"east": unreachable}
        at = NOW
        for attempt, wait in ((1, 60), (2, 120)):
            assert deliver(db.engine, SETTINGS, now=at, messengers=robots).retried == 1
            (notification,) = outbox(db)
            assert (notification.status, notification.attempts) == ("pending", attempt)
            assert notification.next_attempt_at == at + timedelta(seconds=wait)
            at += timedelta(seconds=wait)

        report = deliver(db.engine, SETTINGS, now=at, messengers=robots)

    assert report == DeliveryReport(failed=1)
    (notification,) = outbox(db)
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert deliver(db.engine, SETTINGS, now=at + timedelta(days=1)) == DeliveryReport()


def test_a_channel_without_its_webhook_is_retried_and_says_why(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WECOM_ENV, raising=False)
    queue(db, "hello")
    queue(db, "to a channel since removed from the rules", channel="gone")

    report = deliver(db.engine, SETTINGS, now=NOW)

    assert report == DeliveryReport(retried=2, pending=2)
    assert [n.last_error for n in outbox(db)] == [
        f"{WECOM_ENV} is not set",
        "the channel 'gone' is not defined in the notification settings",
    ]


def test_a_throttled_channel_waits_and_others_go_on(
    db: Database, monkeypatch: pytest.MonkeyPatch, dingtalk: DingTalkRobotEmulator
) -> None:
    clock = [1000.0]
    with WeComRobotEmulator(keys=(KEY,), clock=lambda: clock[0]) as wecom:
        monkeypatch.setenv(WECOM_ENV, wecom.webhook_url(KEY))
        for number in range(22):
            queue(db, f"提醒 {number}")
        queue(db, "to the other chat", channel="north")

        report = deliver(db.engine, SETTINGS, now=NOW)

        # 20 a minute: the 21st is throttled, the 22nd left for later, the other chat served.
        assert report == DeliveryReport(sent=21, retried=1, pending=2)
        assert len(wecom.messages) == 20
        assert [m.content for m in dingtalk.messages] == ["to the other chat"]
        throttled, untouched = outbox(db)[20:22]
        assert (throttled.status, throttled.attempts) == ("pending", 0)
        assert throttled.next_attempt_at == NOW + timedelta(seconds=60)
        assert throttled.last_error is not None
        assert "45009" in throttled.last_error
        assert untouched.next_attempt_at == NOW

        clock[0] += 60
        report = deliver(db.engine, SETTINGS, now=NOW + timedelta(seconds=60))

    assert report == DeliveryReport(sent=2)
    assert [m.content for m in wecom.messages][20:] == ["提醒 20", "提醒 21"]


def test_the_rules_write_commits_whatever_delivery_does(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WECOM_ENV, f"http://127.0.0.1:{free_port()}/x?key={KEY}")
    owner = new_user(db)
    with open_session(db.engine, origin="crm") as session:  # a rule assigns a lead
        lead = records.create(session, Lead, {"name": "张伟", "company": "华信", "owner_id": owner})
        notify(
            session,
            SETTINGS,
            kind="lead_assigned",
            text="线索已分配给你：华信",
            channel=None,
            recipient_id=owner,
            key=f"lead_assigned:{lead.id}",
            now=NOW,
        )

    report = deliver(db.engine, SETTINGS, now=NOW)  # the robot is down: no exception

    assert report.retried == 1
    with open_session(db.engine) as session:
        assert records.get(session, Lead, lead.id).owner_id == owner
    assert [n.status for n in outbox(db)] == ["pending"]


class CrashAfterSending:
    """A robot whose process dies right after the message went out."""

    system = "wecom"

    def __init__(self, robot: WeComRobot) -> None:
        self.robot = robot

    def send(self, message: Message) -> None:
        self.robot.send(message)
        raise KeyboardInterrupt


def test_a_crash_mid_delivery_loses_nothing_and_resends_at_most_one(
    db: Database, wecom: WeComRobotEmulator
) -> None:
    for text in ("first", "second"):
        queue(db, text)
    with WeComRobot(wecom.webhook_url(KEY)) as robot, pytest.raises(KeyboardInterrupt):
        deliver(db.engine, SETTINGS, now=NOW, messengers={"east": CrashAfterSending(robot)})
    first, second = outbox(db)
    assert (first.status, first.next_attempt_at) == ("pending", NOW + LEASE)  # claimed
    assert (second.status, second.next_attempt_at) == ("pending", NOW)

    assert deliver(db.engine, SETTINGS, now=NOW + timedelta(minutes=1)).sent == 1
    assert deliver(db.engine, SETTINGS, now=NOW + LEASE).sent == 1  # the one in flight, again

    assert [m.content for m in wecom.messages] == ["first", "second", "first"]
    assert [n.status for n in outbox(db)] == ["sent", "sent"]


def test_two_deliverers_never_send_the_same_notification(
    db: Database, wecom: WeComRobotEmulator
) -> None:
    texts = [f"线索 {number}" for number in range(12)]
    for text in texts:
        queue(db, text)
    reports: list[DeliveryReport] = []

    def run() -> None:
        reports.append(deliver(db.engine, SETTINGS, now=NOW))

    workers = [threading.Thread(target=run) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert sum(report.sent for report in reports) == 12
    assert sorted(m.content for m in wecom.messages) == sorted(texts)
    assert {n.status for n in outbox(db)} == {"sent"}


def test_list_notifications_newest_first_by_status(db: Database, wecom: WeComRobotEmulator) -> None:
    queue(db, "one")
    deliver(db.engine, SETTINGS, now=NOW)
    queue(db, "two")
    queue(db, "three")

    with open_session(db.engine) as session:
        assert [n.text for n in list_notifications(session)] == ["three", "two", "one"]
        assert [n.text for n in list_notifications(session, "pending", limit=1)] == ["three"]
        assert [n.text for n in list_notifications(session, "sent")] == ["one"]
