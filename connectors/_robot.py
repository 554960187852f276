"""What the chat robots share: a webhook URL posted JSON, answered ``errcode``/``errmsg`` (0 is
delivered, the robot's throttling code means wait, anything else is a refusal), network
failures and 5xx answers retried (3 tries, exponential backoff), and the URL's credential kept
out of reprs, errors and logs."""

from __future__ import annotations

from typing import Any, ClassVar, Self

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

__all__ = ["WebhookRobot"]


class _Unavailable(Exception):
    """A 5xx answer: worth another try."""


class WebhookRobot:
    """A group chat's robot reached through its webhook URL (a :class:`Messenger`)."""

    system: ClassVar[str]
    throttled: ClassVar[int]
    """The ``errcode`` of the robot's rate limit."""

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

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of ``message``."""
        raise NotImplementedError

    def url(self) -> str:
        """The URL to post to now."""
        return self._url

    def send(self, message: Message) -> None:
        """Deliver ``message``, or raise a :class:`~crm_core.messaging.MessagingError`."""
        answer = self._post(self.payload(message))
        errcode = int(answer.get("errcode", -1))
        errmsg = redact(str(answer.get("errmsg", "")))
        if errcode == 0:
            return
        if errcode == self.throttled:
            raise MessagingThrottled(self.system, errcode, errmsg)
        raise MessageRejected(self.system, errcode, errmsg)

    def close(self) -> None:
        """Close the HTTP client (also one that was passed in)."""
        self._client.close()

    def __enter__(self) -> Self:
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
        # The URL is asked for on every try: a signed one must carry a fresh timestamp.
        response = self._client.post(self.url(), json=payload)
        if response.status_code >= 500:
            raise _Unavailable(f"HTTP {response.status_code}")
        response.raise_for_status()
        return response
