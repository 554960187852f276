"""WeCom (企业微信): the group robot messenger (:class:`WeComRobot`), with its emulator
(:mod:`connectors.wecom.emulator`)."""

from __future__ import annotations

from connectors.wecom.robot import WeComRobot

__all__ = ["WeComRobot"]
