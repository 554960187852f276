"""A WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY`` with a JSON text
message (``../shared/reference/connector-protocols.md`` section 1, "Group robot").

The ``key`` in the webhook URL is the robot's only credential: it never appears in a repr, an
error or a log line. Answers are HTTP 200 with ``errcode``/``errmsg``: 0 is delivered,
:data:`THROTTLED` is the rate limit (20 messages a minute per robot), anything else is a refusal.
Network failures and 5xx answers are retried (3 tries, exponential backoff).
"""

from __future__ import annotations

from typing import Any, ClassVar

from connectors._robot import WebhookRobot
from crm_core.messaging import Message, redact

__all__ = ["CONTENT_LIMIT", "INVALID_KEY", "THROTTLED", "WeComRobot", "fit"]

CONTENT_LIMIT = 2048
"""A text message holds at most 2,048 bytes of UTF-8."""
THROTTLED = 45009
"""``api freq out of limit``."""
INVALID_KEY = 93000
"""``invalid webhook url``: the key is unknown (or the robot was removed)."""
_ELLIPSIS = "…"


def fit(text: str, limit: int = CONTENT_LIMIT) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary, ending in an
    ellipsis when cut."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode())
    return encoded[:room].decode(errors="ignore") + _ELLIPSIS


class WeComRobot(WebhookRobot):
    """Posts text messages to a WeCom group through its robot's webhook URL."""

    system: ClassVar[str] = "wecom"
    throttled: ClassVar[int] = THROTTLED

    def __repr__(self) -> str:
        return f"WeComRobot({redact(self._url)!r})"

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of ``message``."""
        text: dict[str, Any] = {"content": fit(message.text)}
        mobiles = list(message.mentions) + (["@all"] if message.mention_all else [])
        if mobiles:
            text["mentioned_mobile_list"] = mobiles
        return {"msgtype": "text", "text": text}
