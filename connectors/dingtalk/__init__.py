"""DingTalk (钉钉): the custom group robot messenger (:class:`DingTalkRobot`), with its emulator
(:mod:`connectors.dingtalk.emulator`)."""

from __future__ import annotations

from connectors.dingtalk.robot import DingTalkRobot

__all__ = ["DingTalkRobot"]
