"""A DingTalk custom group robot for tests and demos: ``POST /robot/send?access_token=TOKEN``
(with ``&timestamp=MS&sign=SIG`` when the robot signs).

It checks what the real service checks, and answers as it does (HTTP 200, ``errcode`` and
``errmsg``): a known token (300001 ``token is not exist``); for a signing robot a timestamp
within an hour of its clock (310000 ``invalid timestamp``) and the signature recomputed from its
own secret (310000 ``sign not match``); for a keyword robot a keyword in the content (310000
``keywords not in content``); and 20 messages a minute per robot (130101 ``send too fast``).
Accepted messages are kept in :attr:`DingTalkRobotEmulator.messages`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors._robot_emulator import RobotEmulator

__all__ = ["DingTalkRobotEmulator", "ReceivedMessage"]


PATH = "/robot/send"
MSGTYPES = frozenset({"text", "link", "markdown", "actionCard", "feedCard"})
PER_MINUTE = 20
TIMESTAMP_TOLERANCE = 3600.0
"""Seconds a signed request's timestamp may be off the server's clock."""
_MORE = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the robot accepted."""

    token: str
    msgtype: str
    body: dict[str, Any]

    @property
    def content(self) -> str:
        return str(self.body.get("text", {}).get("content", ""))

    @property
    def at_mobiles(self) -> list[str]:
        return list(self.body.get("at", {}).get("atMobiles") or [])

    @property
    def at_all(self) -> bool:
        return bool(self.body.get("at", {}).get("isAtAll"))


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg + _MORE}


def _searchable_text(payload: dict[str, Any]) -> str:
    """The text a keyword is looked for in: every string of the message."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({key: value for key, value in payload.items() if key != "at"})
    return "\n".join(found)


class DingTalkRobotEmulator(RobotEmulator):
    """DingTalk custom robots on ``host``:``port`` (0 = any free port). ``tokens`` maps each
    robot's access token to its signing secret (``SEC...``), or None for a robot that does not
    sign; ``keywords`` (when given) must appear in every message."""

    name = "dingtalk-robot"
    system_error = "系统繁忙"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, str | None] | None = None,
        keywords: Iterable[str] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port, clock)
        self._tokens = dict(tokens if tokens is not None else {"dingtalk-emulator-token": None})
        self._keywords = tuple(keywords)
        self.messages: list[ReceivedMessage] = []
        """Accepted messages, oldest first."""

    def __repr__(self) -> str:
        return f"DingTalkRobotEmulator(url={self.url!r}, robots={len(self._tokens)})"

    def webhook_url(self, token: str) -> str:
        """The webhook URL of the robot with ``token`` (unsigned: a client signs it)."""
        return f"http://{self.host}:{self.port}{PATH}?access_token={token}"

    @property
    def credentials(self) -> dict[str, str]:
        """What a client needs: the webhook URL of its first robot, and its secret if it signs."""
        token = sorted(self._tokens)[0]
        found = {"webhook": self.webhook_url(token)}
        secret = self._tokens[token]
        if secret is not None:
            found["secret"] = secret
        return found

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON answer)."""
        parts = urlsplit(path)
        if parts.path != PATH:
            return 404, {"errcode": 404, "errmsg": "not found"}
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        token = query.get("access_token", "")
        if token not in self._tokens:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        try:
            self._receive(token, query, body)
        except _Refused as refused:
            return 200, refused.answer
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _receive(self, token: str, query: Mapping[str, str], body: bytes) -> None:
        secret = self._tokens[token]
        if secret is not None:
            self._check_signature(secret, query.get("timestamp"), query.get("sign"))
        payload = self._checked(body)
        with self._lock:
            if not self.admit(token, PER_MINUTE):
                raise _Refused(130101, "send too fast, exceed 20 times per minute")
            self.messages.append(ReceivedMessage(token, str(payload["msgtype"]), payload))

    def _check_signature(self, secret: str, timestamp: str | None, sign: str | None) -> None:
        if timestamp is None or not timestamp.isdigit():
            raise _Refused(310000, "invalid timestamp")
        if abs(self._clock() - int(timestamp) / 1000) > TIMESTAMP_TOLERANCE:
            raise _Refused(310000, "invalid timestamp")
        digest = hmac.new(
            secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
        ).digest()
        if sign is None or not hmac.compare_digest(sign, base64.b64encode(digest).decode()):
            raise _Refused(310000, "sign not match")

    def _checked(self, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body.decode())
        except (UnicodeDecodeError, ValueError):
            payload = None
        if not isinstance(payload, dict) or payload.get("msgtype") not in MSGTYPES:
            # [unverified] the code and wording of DingTalk's answer to a malformed body
            raise _Refused(40035, "缺少参数 json", more=False)
        if self._keywords:
            text = _searchable_text(payload)
            if not any(keyword in text for keyword in self._keywords):
                raise _Refused(310000, "keywords not in content")
        return payload


class _Refused(Exception):
    def __init__(self, errcode: int, errmsg: str, *, more: bool = True) -> None:
        super().__init__(errmsg)
        self.answer = _error(errcode, errmsg) if more else {"errcode": errcode, "errmsg": errmsg}
