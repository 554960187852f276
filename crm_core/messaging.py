"""The messaging port: how the hub tells a sales team something in its group chat (a lead
assigned, a recycle warning, a reminder, a failed job).

A :class:`Messenger` posts a :class:`Message` to one chat: a WeCom group robot or a DingTalk
custom robot (``connectors.wecom``, ``connectors.dingtalk``). Its errors say what the caller
should do:

* :class:`MessagingThrottled`: the robot's rate limit; wait (``retry_after`` when known) and
  send again;
* :class:`MessageRejected`: the service refused this message for good (a bad key or token, a bad
  signature, too long, a keyword missing); it carries the service's ``errcode`` and ``errmsg``;
* :class:`MessagingError` itself: the service could not be reached (after retries).

Messengers are found through the ``tongbu.messengers`` entry-point group, so third parties can
add theirs; :func:`messenger_types` lists what is installed. A robot's webhook URL holds its
credential (WeCom's ``key``, DingTalk's ``access_token``): :func:`redact` hides it, and
:func:`hide_secrets_in_http_log` keeps httpx's request log from printing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote_plus

__all__ = [
    "ENTRY_POINT_GROUP",
    "Message",
    "MessageRejected",
    "MessagingError",
    "MessagingThrottled",
    "Messenger",
    "dingtalk_signature",
    "hide_secrets_in_http_log",
    "messenger_types",
    "redact",
]

ENTRY_POINT_GROUP = "tongbu.messengers"

_SECRET_PARAMETER = re.compile(r"((?:access_token|key|sign|secret)=)[^&\s\"']+", re.IGNORECASE)


@dataclass(frozen=True)
class Message:
    """A text for a group chat. ``mentions`` are mobile numbers of members to @;
    ``mention_all`` @s everyone."""

    text: str
    mentions: tuple[str, ...] = ()
    mention_all: bool = False


@runtime_checkable
class Messenger(Protocol):
    """Posts messages to one group chat."""

    @property
    def system(self) -> str:
        """The service's name: ``wecom``, ``dingtalk``..."""
        ...

    def send(self, message: Message) -> None:
        """Deliver ``message``, or raise a :class:`MessagingError`."""
        ...


class MessagingError(Exception):
    """A message was not delivered. Its text never contains a secret."""


class MessageRejected(MessagingError):
    """The service refused the message for good; sending it again as it is won't help."""

    def __init__(self, system: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{system} refused the message: {errcode} {errmsg}")
        self.system = system
        self.errcode = errcode
        self.errmsg = errmsg


class MessagingThrottled(MessagingError):
    """The robot's rate limit: wait, then send again."""

    def __init__(
        self, system: str, errcode: int, errmsg: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{system} throttled the message: {errcode} {errmsg}")
        self.system = system
        self.errcode = errcode
        self.errmsg = errmsg
        self.retry_after = retry_after


def redact(text: str) -> str:
    """``text`` with the values of ``key=``, ``access_token=``, ``sign=`` and ``secret=``
    replaced by ``***``."""
    return _SECRET_PARAMETER.sub(r"\1***", text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, str) or "URL" in type(arg).__name__ else arg
                for arg in record.args
            )
        record.msg = redact(str(record.msg))
        return True


_FILTER = _RedactingFilter()


def hide_secrets_in_http_log() -> None:
    """Redact secrets in the request log of httpx (it logs every URL at INFO). Idempotent."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def messenger_types() -> dict[str, Any]:
    """The messenger types installed, by name: the objects published under the
    ``tongbu.messengers`` entry-point group (a messenger class)."""
    found: dict[str, Any] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found[entry_point.name] = entry_point.load()
    return found


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64 of HMAC-SHA256 over ``"<timestamp>\\n<secret>"``
    keyed with the secret, URL-encoded."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest))
