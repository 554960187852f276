"""Failure alerts to a team's group chat, through the messaging port (:mod:`crm_core.messaging`):
a WeCom group robot or a DingTalk custom robot, configured by environment:

* ``TONGBU_ALERT_WEBHOOK``: the robot's webhook URL (its key or access token is in it);
* ``TONGBU_ALERT_SECRET``: a DingTalk robot's signing secret (``SEC...``), when it signs;
* ``TONGBU_ALERT_KIND``: ``wecom`` or ``dingtalk`` (default: told by the URL's host).

Without a webhook the alert goes to the log. The messenger retries what the network fails;
an alert that still cannot be delivered is logged: it never fails the job that sends it.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from crm_core.messaging import Message, MessagingError, messenger_types, redact

__all__ = ["KIND_ENV", "SECRET_ENV", "WEBHOOK_ENV", "post_alert"]

log = logging.getLogger(__name__)

WEBHOOK_ENV = "TONGBU_ALERT_WEBHOOK"
SECRET_ENV = "TONGBU_ALERT_SECRET"  # noqa: S105 - the name of a variable, not a secret
KIND_ENV = "TONGBU_ALERT_KIND"


def _kind(webhook: str) -> str:
    chosen = os.environ.get(KIND_ENV)
    if chosen in {"wecom", "dingtalk"}:
        return chosen
    return "dingtalk" if "dingtalk" in (urlsplit(webhook).hostname or "") else "wecom"


def post_alert(text: str) -> bool:
    """Post ``text`` to the configured robot; return whether it was delivered."""
    webhook = os.environ.get(WEBHOOK_ENV)
    if not webhook:
        log.error("alert (no %s configured): %s", WEBHOOK_ENV, text)
        return False
    kind = _kind(webhook)
    factory = messenger_types().get(kind)
    if factory is None:
        log.error("alert (no %s messenger installed): %s", kind, text)
        return False
    secret = os.environ.get(SECRET_ENV)
    messenger = factory(webhook, secret) if kind == "dingtalk" else factory(webhook)
    try:
        messenger.send(Message(text))
    except MessagingError as error:
        log.error("alert not delivered (%s): %s", error, text)  # noqa: TRY400
        return False
    finally:
        close = getattr(messenger, "close", None)
        if close is not None:
            close()
    log.info("alert delivered to %s", redact(webhook))
    return True
