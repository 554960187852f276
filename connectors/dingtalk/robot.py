"""A DingTalk (钉钉) custom group robot: ``POST /robot/send?access_token=TOKEN`` with a JSON text
message, signed when the robot has a secret (``../shared/reference/connector-protocols.md``
section 2, "Custom group robot").

Signed mode adds ``timestamp`` (milliseconds) and ``sign`` (base64 of HMAC-SHA256 over
``"<timestamp>\\n<secret>"``, URL-encoded) to the URL. The access token and the secret never
appear in a repr, an error or a log line. Answers are HTTP 200 with ``errcode``/``errmsg``: 0 is
delivered, :data:`THROTTLED` is the rate limit (20 messages a minute), anything else — a bad
token (300001), a bad signature, timestamp or missing keyword (310000) — is a refusal. Network
failures and 5xx answers are retried (3 tries, exponential backoff).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from connectors._robot import WebhookRobot
from crm_core.messaging import Message, dingtalk_signature, redact

__all__ = ["SECURITY_FAILED", "THROTTLED", "TOKEN_NOT_EXIST", "DingTalkRobot"]

THROTTLED = 130101
"""``send too fast, exceed 20 times per minute``."""
TOKEN_NOT_EXIST = 300001
"""``token is not exist``."""
SECURITY_FAILED = 310000
"""A security setting refused the message: ``sign not match``, ``invalid timestamp``,
``keywords not in content``, an IP not allowed."""


class DingTalkRobot(WebhookRobot):
    """Posts text messages to a DingTalk group through its custom robot's webhook URL."""

    system: ClassVar[str] = "dingtalk"
    throttled: ClassVar[int] = THROTTLED

    def __init__(
        self,
        webhook_url: str,
        secret: str | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        retry_wait: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(webhook_url, client=client, timeout=timeout, retry_wait=retry_wait)
        self._secret = secret
        self._clock = clock

    def __repr__(self) -> str:
        signed = "signed" if self._secret else "unsigned"
        return f"DingTalkRobot({redact(self._url)!r}, {signed})"

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of ``message``."""
        return {
            "msgtype": "text",
            "text": {"content": message.text},
            "at": {"atMobiles": list(message.mentions), "isAtAll": message.mention_all},
        }

    def url(self) -> str:
        """The URL to post to now: the webhook URL, signed when there is a secret."""
        if not self._secret:
            return self._url
        stamp = int(self._clock() * 1000)
        joiner = "&" if "?" in self._url else "?"
        return (
            f"{self._url}{joiner}timestamp={stamp}&sign={dingtalk_signature(self._secret, stamp)}"
        )
