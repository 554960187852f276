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
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from crm_core.messaging import (
    Message,
    MessageRejected,
    MessagingError,
    MessagingThrottled,
    dingtalk_signature,
    hide_secrets_in_http_log,
    redact,
)

__all__ = ["SECURITY_FAILED", "THROTTLED", "TOKEN_NOT_EXIST", "DingTalkRobot"]

THROTTLED = 130101
"""``send too fast, exceed 20 times per minute``."""
TOKEN_NOT_EXIST = 300001
"""``token is not exist``."""
SECURITY_FAILED = 310000
"""A security setting refused the message: ``sign not match``, ``invalid timestamp``,
``keywords not in content``, an IP not allowed."""


class _Unavailable(Exception):
    """A 5xx answer: worth another try."""


class DingTalkRobot:
    """Posts text messages to a DingTalk group through its custom robot's webhook URL."""

    system: ClassVar[str] = "dingtalk"

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
        self._url = webhook_url
        self._secret = secret
        self._client = client or httpx.Client(timeout=timeout)
        self._retry_wait = retry_wait
        self._clock = clock
        hide_secrets_in_http_log()

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

    def send(self, message: Message) -> None:
        answer = self._post(self.payload(message))
        errcode = int(answer.get("errcode", -1))
        errmsg = redact(str(answer.get("errmsg", "")))
        if errcode == 0:
            return
        if errcode == THROTTLED:
            raise MessagingThrottled(self.system, errcode, errmsg)
        raise MessageRejected(self.system, errcode, errmsg)

    def close(self) -> None:
        """Close the HTTP client (also one that was passed in)."""
        self._client.close()

    def __enter__(self) -> DingTalkRobot:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        retrying = Retrying(
            stop=stop_after_attempt(3),
            wait=wait_exponential(multiplier=self._retry_wait, max=8),
            retry=retry_if_exception_type((httpx.TransportError, _Unavailable)),
            reraise=True,
        )
        try:
            response = retrying(self._post_once, payload)
            answer = response.json()
        except (httpx.HTTPError, _Unavailable, ValueError) as error:
            reason = redact(f"{type(error).__name__}: {error}")
            raise MessagingError(f"{self.system}: not delivered: {reason}") from None
        if not isinstance(answer, dict):
            raise MessagingError(f"{self.system}: not delivered: an answer without errcode")
        return answer

    def _post_once(self, payload: dict[str, Any]) -> httpx.Response:
        # Signed again on every try: the timestamp must be fresh.
        response = self._client.post(self.url(), json=payload)
        if response.status_code >= 500:
            raise _Unavailable(f"HTTP {response.status_code}")
        response.raise_for_status()
        return response
