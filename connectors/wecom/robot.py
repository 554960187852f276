"""A WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY`` with a JSON text
message (``../shared/reference/connector-protocols.md`` section 1, "Group robot").

The ``key`` in the webhook URL is the robot's only credential: it never appears in a repr, an
error or a log line. Answers are HTTP 200 with ``errcode``/``errmsg``: 0 is delivered,
:data:`THROTTLED` is the rate limit (20 messages a minute per robot), anything else is a refusal.
Network failures and 5xx answers are retried (3 tries, exponential backoff).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from crm_core.messaging import (
    Message,
    MessageRejected,
    MessagingError,
    MessagingThrottled,
    hide_secrets_in_http_log,
    redact,
)

__all__ = ["CONTENT_LIMIT", "INVALID_KEY", "THROTTLED", "WeComRobot", "fit"]

CONTENT_LIMIT = 2048
"""A text message holds at most 2,048 bytes of UTF-8."""
THROTTLED = 45009
"""``api freq out of limit``."""
INVALID_KEY = 93000
"""``invalid webhook url``: the key is unknown (or the robot was removed)."""
_ELLIPSIS = "…"


class _Unavailable(Exception):
    """A 5xx answer: worth another try."""


def fit(text: str, limit: int = CONTENT_LIMIT) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary, ending in an
    ellipsis when cut."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode())
    return encoded[:room].decode(errors="ignore") + _ELLIPSIS


class WeComRobot:
    """Posts text messages to a WeCom group through its robot's webhook URL."""

    system: ClassVar[str] = "wecom"

    def __init__(
        self,
        webhook_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        retry_wait: float = 0.5,
    ) -> None:
        self._url = webhook_url
        self._client = client or httpx.Client(timeout=timeout)
        self._retry_wait = retry_wait
        hide_secrets_in_http_log()

    def __repr__(self) -> str:
        return f"WeComRobot({redact(self._url)!r})"

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of ``message``."""
        text: dict[str, Any] = {"content": fit(message.text)}
        mobiles = list(message.mentions) + (["@all"] if message.mention_all else [])
        if mobiles:
            text["mentioned_mobile_list"] = mobiles
        return {"msgtype": "text", "text": text}

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

    def __enter__(self) -> WeComRobot:
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
        response = self._client.post(self._url, json=payload)
        if response.status_code >= 500:
            raise _Unavailable(f"HTTP {response.status_code}")
        response.raise_for_status()
        return response
