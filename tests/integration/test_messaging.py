"""The messaging port: the WeCom group robot and the DingTalk custom robot against their
emulators (delivery with mentions, signatures, refusals, truncation, rate limits, secrets)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from connectors.dingtalk import DingTalkRobot
from connectors.dingtalk.emulator import DingTalkRobotEmulator
from connectors.wecom import WeComRobot
from connectors.wecom.emulator import WeComRobotEmulator
from connectors.wecom.robot import CONTENT_LIMIT
from crm_core.messaging import (
    Message,
    MessageRejected,
    MessagingError,
    MessagingThrottled,
    Messenger,
    messenger_types,
)

KEY = "693a91f6-7aoc-4bc4-97a0-0ec2f1fa5aaa"
TOKEN = "b10deee3d9e2dbc21ce57eb9f80da23a643ebe83154dd6b086486da2c833acb6"  # noqa: S105 - the emulators' own
SECRET = "SEC6f1b2c8e0d4a4f5e9b7c3a1d2e8f0a4b6c9d1e3f5a7b9c0d2e4f6a8b0c2d4e6"  # noqa: S105 - the emulators' own
PLAIN_TOKEN = "0c23a5f1e9d7b3c1a0f2e4d6b8c0a2e4f6d8b0c2a4e6f8d0b2c4a6e8f0d2b4c6"  # noqa: S105 - the emulators' own


@pytest.fixture
def wecom() -> Iterator[WeComRobotEmulator]:
    with WeComRobotEmulator(keys=(KEY,)) as emulator:
        yield emulator


@pytest.fixture
def dingtalk() -> Iterator[DingTalkRobotEmulator]:
    with DingTalkRobotEmulator(tokens={TOKEN: SECRET, PLAIN_TOKEN: None}) as emulator:
        yield emulator


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Closes the robots a test opens."""
    with ExitStack() as opened:
        yield opened


def wecom_robot(stack: ExitStack, url: str, **options: Any) -> WeComRobot:
    return stack.enter_context(WeComRobot(url, **options))


def dingtalk_robot(stack: ExitStack, url: str, *args: Any, **options: Any) -> DingTalkRobot:
    return stack.enter_context(DingTalkRobot(url, *args, **options))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# WeCom ---------------------------------------------------------------------------------------


def test_wecom_delivers_a_message_with_its_mentions(
    wecom: WeComRobotEmulator, stack: ExitStack
) -> None:
    robot = wecom_robot(stack, wecom.webhook_url(KEY))
    assert isinstance(robot, Messenger)
    robot.send(Message("线索已分配给你：上海同步科技", mentions=("13800001111",)))
    robot.send(Message("本周公海回收提醒", mention_all=True))
    first, second = wecom.messages
    assert first.content == "线索已分配给你：上海同步科技"
    assert first.mentioned_mobiles == ["13800001111"]
    assert first.body["msgtype"] == "text"
    assert second.mentioned_mobiles == ["@all"]


def test_wecom_refuses_an_unknown_key(wecom: WeComRobotEmulator, stack: ExitStack) -> None:
    robot = wecom_robot(stack, wecom.webhook_url("not-a-robot"))
    with pytest.raises(MessageRejected) as refused:
        robot.send(Message("hello"))
    assert refused.value.errcode == 93000
    assert "invalid webhook url" in str(refused.value)
    assert not wecom.messages


def test_wecom_truncates_long_content_to_the_limit(
    wecom: WeComRobotEmulator, stack: ExitStack
) -> None:
    robot = wecom_robot(stack, wecom.webhook_url(KEY))
    text = "客户跟进记录：" + "长" * 1000  # 3,021 bytes of UTF-8
    robot.send(Message(text))
    (received,) = wecom.messages
    assert len(received.content.encode()) <= CONTENT_LIMIT
    assert received.content.endswith("…")
    assert text.startswith(received.content[:-1])


def test_the_wecom_emulator_refuses_content_over_the_limit(wecom: WeComRobotEmulator) -> None:
    answer = httpx.post(
        wecom.webhook_url(KEY), json={"msgtype": "text", "text": {"content": "x" * 2049}}
    ).json()
    assert answer["errcode"] == 40058
    answer = httpx.post(wecom.webhook_url(KEY), json={"msgtype": "sms", "sms": {}}).json()
    assert answer["errcode"] == 40008
    assert not wecom.messages


def test_wecom_throttles_the_21st_message_in_a_minute(
    wecom: WeComRobotEmulator, stack: ExitStack
) -> None:
    robot = wecom_robot(stack, wecom.webhook_url(KEY))
    for number in range(20):
        robot.send(Message(f"提醒 {number}"))
    with pytest.raises(MessagingThrottled) as throttled:
        robot.send(Message("one too many"))
    assert throttled.value.errcode == 45009
    assert len(wecom.messages) == 20


def test_the_wecom_rate_limit_is_per_minute(stack: ExitStack) -> None:
    now = [1000.0]
    with WeComRobotEmulator(keys=(KEY,), clock=lambda: now[0]) as emulator:
        robot = wecom_robot(stack, emulator.webhook_url(KEY))
        for _ in range(20):
            robot.send(Message("tick"))
        now[0] += 60
        robot.send(Message("a new minute"))
    assert len(emulator.messages) == 21


def http_log_shown(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture httpx's request log at DEBUG, whatever logging set-up an earlier test left (a
    dictConfig, as Airflow's, disables the loggers that existed before it)."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "disabled", False)
        monkeypatch.setattr(logger, "propagate", True)
        caplog.set_level(logging.DEBUG, logger=name)


def test_wecom_key_never_in_repr_errors_or_logs(
    wecom: WeComRobotEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    stack: ExitStack,
) -> None:
    http_log_shown(caplog, monkeypatch)
    robot = wecom_robot(stack, wecom.webhook_url(KEY))
    robot.send(Message("hello"))
    assert KEY not in repr(robot)
    unreachable = wecom_robot(
        stack, f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key={KEY}", retry_wait=0.01
    )
    with pytest.raises(MessagingError) as failed:
        unreachable.send(Message("hello"))
    assert not isinstance(failed.value, MessageRejected | MessagingThrottled)
    assert KEY not in str(failed.value)
    assert failed.value.__cause__ is None
    assert "HTTP Request" in caplog.text  # httpx did log the request...
    assert KEY not in caplog.text  # ...without the key


def test_wecom_retries_network_errors_three_times(
    monkeypatch: pytest.MonkeyPatch, stack: ExitStack
) -> None:
    robot = wecom_robot(stack, f"http://127.0.0.1:{free_port()}/x?key={KEY}", retry_wait=0.01)
    calls: list[object] = []
    original = robot._post_once

    def counted(payload: dict[str, object]) -> object:
        calls.append(payload)
        return original(payload)

    monkeypatch.setattr(robot, "_post_once", counted)
    with pytest.raises(MessagingError, match="not delivered"):
        robot.send(Message("hello"))
    assert len(calls) == 3


# DingTalk ------------------------------------------------------------------------------------


def test_dingtalk_signed_delivers_a_message_with_its_mentions(
    dingtalk: DingTalkRobotEmulator,
    stack: ExitStack,
) -> None:
    robot = dingtalk_robot(stack, dingtalk.webhook_url(TOKEN), SECRET)
    assert isinstance(robot, Messenger)
    robot.send(Message("同步任务失败：kingdee 客户", mentions=("13800001111", "13900002222")))
    robot.send(Message("全员：系统维护", mention_all=True))
    first, second = dingtalk.messages
    assert first.content == "同步任务失败：kingdee 客户"
    assert first.at_mobiles == ["13800001111", "13900002222"]
    assert not first.at_all
    assert second.at_all


def test_dingtalk_unsigned_robot_delivers(
    dingtalk: DingTalkRobotEmulator, stack: ExitStack
) -> None:
    dingtalk_robot(stack, dingtalk.webhook_url(PLAIN_TOKEN)).send(Message("hello"))
    assert [message.token for message in dingtalk.messages] == [PLAIN_TOKEN]


def test_dingtalk_refuses_a_wrong_secret(dingtalk: DingTalkRobotEmulator, stack: ExitStack) -> None:
    robot = dingtalk_robot(stack, dingtalk.webhook_url(TOKEN), "SEC" + "0" * 64)
    with pytest.raises(MessageRejected, match="sign not match") as refused:
        robot.send(Message("hello"))
    assert refused.value.errcode == 310000
    assert refused.value.errmsg.startswith("sign not match")


def test_dingtalk_refuses_a_signing_robot_without_a_signature(
    dingtalk: DingTalkRobotEmulator,
    stack: ExitStack,
) -> None:
    with pytest.raises(MessageRejected, match="invalid timestamp"):
        dingtalk_robot(stack, dingtalk.webhook_url(TOKEN)).send(Message("hello"))


def test_dingtalk_refuses_an_old_timestamp(
    dingtalk: DingTalkRobotEmulator, stack: ExitStack
) -> None:
    two_hours_ago = time.time() - 7200
    robot = dingtalk_robot(stack, dingtalk.webhook_url(TOKEN), SECRET, clock=lambda: two_hours_ago)
    with pytest.raises(MessageRejected, match="invalid timestamp") as refused:
        robot.send(Message("hello"))
    assert refused.value.errcode == 310000
    assert not dingtalk.messages


def test_dingtalk_refuses_an_unknown_token(
    dingtalk: DingTalkRobotEmulator, stack: ExitStack
) -> None:
    robot = dingtalk_robot(stack, dingtalk.webhook_url("not-a-robot"), SECRET)
    with pytest.raises(MessageRejected, match="token is not exist") as refused:
        robot.send(Message("hello"))
    assert refused.value.errcode == 300001


def test_dingtalk_keyword_robot_refuses_a_message_without_the_keyword(stack: ExitStack) -> None:
    with DingTalkRobotEmulator(tokens={PLAIN_TOKEN: None}, keywords=("同步",)) as emulator:
        robot = dingtalk_robot(stack, emulator.webhook_url(PLAIN_TOKEN))
        with pytest.raises(MessageRejected, match="keywords not in content") as refused:
            robot.send(Message("a lead was assigned"))
        robot.send(Message("同步提醒：a lead was assigned"))
    assert refused.value.errcode == 310000
    assert [message.content for message in emulator.messages] == ["同步提醒：a lead was assigned"]


def test_dingtalk_throttles_the_21st_message_in_a_minute(
    dingtalk: DingTalkRobotEmulator, stack: ExitStack
) -> None:
    robot = dingtalk_robot(stack, dingtalk.webhook_url(TOKEN), SECRET)
    for number in range(20):
        robot.send(Message(f"提醒 {number}"))
    with pytest.raises(MessagingThrottled, match="send too fast") as throttled:
        robot.send(Message("one too many"))
    assert throttled.value.errcode == 130101
    assert len(dingtalk.messages) == 20


def test_dingtalk_token_and_secret_never_in_repr_errors_or_logs(
    dingtalk: DingTalkRobotEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    stack: ExitStack,
) -> None:
    http_log_shown(caplog, monkeypatch)
    robot = dingtalk_robot(stack, dingtalk.webhook_url(TOKEN), SECRET)
    robot.send(Message("hello"))
    with pytest.raises(MessageRejected) as refused:
        dingtalk_robot(stack, dingtalk.webhook_url(TOKEN), "SEC" + "0" * 64).send(Message("hello"))
    unreachable = dingtalk_robot(
        stack,
        f"http://127.0.0.1:{free_port()}/robot/send?access_token={TOKEN}",
        SECRET,
        retry_wait=0.01,
    )
    with pytest.raises(MessagingError) as failed:
        unreachable.send(Message("hello"))
    for text in (repr(robot), repr(unreachable), str(refused.value), str(failed.value)):
        assert TOKEN not in text
        assert SECRET not in text
    assert "HTTP Request" in caplog.text
    assert TOKEN not in caplog.text
    assert SECRET not in caplog.text


# The port ------------------------------------------------------------------------------------


def test_messenger_types_finds_both_robots() -> None:
    found = messenger_types()
    assert found["wecom"] is WeComRobot
    assert found["dingtalk"] is DingTalkRobot
    assert WeComRobot.system == "wecom"
    assert DingTalkRobot.system == "dingtalk"
