"""A WeCom group robot for tests and demos: ``POST /cgi-bin/webhook/send?key=KEY``.

It checks what the real service checks, and answers as it does (HTTP 200, ``errcode`` and
``errmsg``): a known key (93000 ``invalid webhook url``), a JSON body, a supported ``msgtype``
(40008 ``invalid message type``), text content present and at most 2,048 bytes of UTF-8 (40058),
and 20 messages a minute per robot (45009 ``api freq out of limit``). Accepted messages are kept
in :attr:`WeComRobotEmulator.messages`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors._robot_emulator import RobotEmulator

__all__ = ["ReceivedMessage", "WeComRobotEmulator"]


PATH = "/cgi-bin/webhook/send"
MSGTYPES = frozenset(
    {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
)
CONTENT_LIMIT = 2048
PER_MINUTE = 20


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the robot accepted."""

    key: str
    msgtype: str
    body: dict[str, Any]

    @property
    def content(self) -> str:
        return str(self.body.get(self.msgtype, {}).get("content", ""))

    @property
    def mentioned_mobiles(self) -> list[str]:
        return list(self.body.get(self.msgtype, {}).get("mentioned_mobile_list") or [])


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    hint = f", hint: [{time.time_ns() // 1000}], from ip: 127.0.0.1"
    more = f", more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    return {"errcode": errcode, "errmsg": errmsg + hint + more}


class WeComRobotEmulator(RobotEmulator):
    """WeCom group robots with the given ``keys`` on ``host``:``port`` (0 = any free port)."""

    name = "wecom-robot"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        keys: Iterable[str] = ("wecom-emulator-key",),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host, port, clock)
        self._keys = frozenset(keys)
        self.messages: list[ReceivedMessage] = []
        """Accepted messages, oldest first."""

    def __repr__(self) -> str:
        return f"WeComRobotEmulator(url={self.url!r}, keys={len(self._keys)})"

    def webhook_url(self, key: str) -> str:
        """The webhook URL of the robot with ``key``."""
        return f"http://{self.host}:{self.port}{PATH}?key={key}"

    @property
    def credentials(self) -> dict[str, str]:
        """What a client needs: the webhook URL of its first robot."""
        return {"webhook": self.webhook_url(sorted(self._keys)[0])}

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON answer)."""
        parts = urlsplit(path)
        if parts.path != PATH:
            return 404, {"errcode": 404, "errmsg": "not found"}
        key = (parse_qs(parts.query).get("key") or [""])[0]
        try:
            self._receive(key, body)
        except _Refused as refused:
            return 200, refused.answer
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _receive(self, key: str, body: bytes) -> None:
        if key not in self._keys:
            raise _Refused(93000, "invalid webhook url")
        payload = _checked(body)
        with self._lock:
            if not self.admit(key, PER_MINUTE):
                raise _Refused(45009, "api freq out of limit")
            self.messages.append(ReceivedMessage(key, str(payload["msgtype"]), payload))


class _Refused(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.answer = _error(errcode, errmsg)


def _checked(body: bytes) -> dict[str, Any]:
    """The message in ``body``, checked as WeCom checks it."""
    try:
        payload = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        # [unverified] the errcode of a body that is not JSON
        raise _Refused(40035, "Warning: wrong json format. invalid Request Parameter")
    msgtype = payload.get("msgtype")
    if msgtype not in MSGTYPES:
        raise _Refused(40008, "invalid message type")
    section = payload.get(msgtype)
    if msgtype == "text":
        content = section.get("content") if isinstance(section, dict) else None
        if not isinstance(content, str) or not content:
            # [unverified] the errcode; the wording was seen in a real answer
            raise _Refused(40035, "Warning: wrong json format. empty content")
        if len(content.encode()) > CONTENT_LIMIT:
            raise _Refused(
                40058, f"text.content exceed max length {CONTENT_LIMIT}. invalid Request Parameter"
            )
    return payload
