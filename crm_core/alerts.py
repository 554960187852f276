"""Failure alerts to a team's group chat: a WeCom group robot or a DingTalk custom robot
(``../shared/reference/connector-protocols.md`` sections 1 and 2), configured by environment:

* ``TONGBU_ALERT_WEBHOOK``: the robot's webhook URL (its key or access token is in it);
* ``TONGBU_ALERT_SECRET``: a DingTalk robot's signing secret (``SEC...``), when it signs;
* ``TONGBU_ALERT_KIND``: ``wecom`` or ``dingtalk`` (default: told by the URL's host).

Without a webhook the alert goes to the log. A failed post is retried, then logged: an alert
never fails the job that sends it.
"""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import urlsplit

import httpx
from tenacity import retry, stop_after_attempt, wait_exponential

from crm_core.messaging import dingtalk_signature

__all__ = ["dingtalk_signature", "post_alert"]

log = logging.getLogger(__name__)

WEBHOOK_ENV = "TONGBU_ALERT_WEBHOOK"
SECRET_ENV = "TONGBU_ALERT_SECRET"  # noqa: S105 - the name of a variable, not a secret
KIND_ENV = "TONGBU_ALERT_KIND"
_WECOM_LIMIT = 2048
"""A WeCom text message holds at most 2,048 bytes of UTF-8."""


def _kind(webhook: str) -> str:
    chosen = os.environ.get(KIND_ENV)
    if chosen in {"wecom", "dingtalk"}:
        return chosen
    return "dingtalk" if "dingtalk" in (urlsplit(webhook).hostname or "") else "wecom"


def _fit(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= _WECOM_LIMIT:
        return text
    return encoded[: _WECOM_LIMIT - 3].decode(errors="ignore") + "..."


@retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
def _post(url: str, payload: dict[str, object]) -> None:
    response = httpx.post(url, json=payload, timeout=10)
    response.raise_for_status()
    answer = response.json()
    if answer.get("errcode", 0) != 0:
        raise RuntimeError(f"the robot refused the message: {answer.get('errmsg')}")


def post_alert(text: str) -> bool:
    """Post ``text`` to the configured robot; return whether it was delivered."""
    webhook = os.environ.get(WEBHOOK_ENV)
    if not webhook:
        log.error("alert (no %s configured): %s", WEBHOOK_ENV, text)
        return False
    payload: dict[str, object] = {"msgtype": "text", "text": {"content": _fit(text)}}
    url = webhook
    if _kind(webhook) == "dingtalk":
        secret = os.environ.get(SECRET_ENV)
        if secret:
            stamp = int(time.time() * 1000)
            joiner = "&" if "?" in url else "?"
            url = f"{url}{joiner}timestamp={stamp}&sign={dingtalk_signature(secret, stamp)}"
    try:
        _post(url, payload)
    except (httpx.HTTPError, RuntimeError, ValueError) as error:
        host = urlsplit(webhook).hostname
        log.error("alert not delivered to %s (%s): %s", host, error, text)  # noqa: TRY400
        return False
    return True
