"""K3 Cloud's answers turned into Tongbu's typed errors (STYLE.md rule 3).

K3 Cloud reports most failures inside an HTTP 200: a ``ResponseStatus`` with ``IsSuccess``
false, ``ErrorCode`` 500 and ``Errors[].Message`` in the user's language. ExecuteBillQuery,
which otherwise answers a bare array of rows, wraps its failure as
``[[{"Result": {"ResponseStatus": ...}}]]``. A lost session is ``ErrorCode`` 500 with the
message "会话信息已丢失，请重新登录" (``MsgCode`` 1). Gateways in front of the server answer 429 and
503 with ``Retry-After``.

* :func:`classify` — the HTTP level (for :class:`~connectors._http.HttpClient`): 429/503 ->
  :class:`RateLimited`, 5xx -> :class:`TransientError`, 404 -> :class:`ConfigurationError`.
* :func:`check_answer` — the body of a decoded answer: a whole-call failure (the array-wrapped
  kind) -> :class:`PermanentError` with K3's own message; a lost session -> :class:`AuthError`.
  Per-record failures of Save/BatchSave/Delete are left to the connector, which maps them back
  to records by ``DIndex``.
* :func:`item_error` — one entry of ``Errors`` as the :class:`PermanentError` of its record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors._http import classify_by_status
from crm_core.sync.ports import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
)

__all__ = [
    "SESSION_LOST",
    "check_answer",
    "classify",
    "error_messages",
    "is_session_lost",
    "item_error",
    "response_status",
]

SESSION_LOST = "会话信息已丢失"
"""The start of K3's answer to a call without a valid session."""
_MSG_SESSION_LOST = 1


def classify(response: httpx.Response) -> ConnectorError | None:
    """Errors signalled by HTTP status (a gateway's 429/503, a server's 5xx, a wrong address)."""
    if response.status_code == 404:
        return ConfigurationError(
            f"there is no K3 Cloud WebAPI at {response.request.url.path} (check base_url)"
        )
    return classify_by_status(response)


def response_status(answer: Any) -> tuple[Mapping[str, Any], bool] | None:
    """The ``ResponseStatus`` of an answer and whether it came array-wrapped (a whole-call
    failure of ExecuteBillQuery), or None when the answer has none (rows of a query)."""
    wrapped = False
    node = answer
    while isinstance(node, list):
        if not node:
            return None
        wrapped = True
        node = node[0]
    if not isinstance(node, Mapping):
        return None
    result = node.get("Result")
    status = result.get("ResponseStatus") if isinstance(result, Mapping) else None
    return (status, wrapped) if isinstance(status, Mapping) else None


def error_messages(status: Mapping[str, Any]) -> list[str]:
    """The messages of a ``ResponseStatus``."""
    messages = [
        str(error.get("Message") or "").strip()
        for error in status.get("Errors") or []
        if isinstance(error, Mapping)
    ]
    return [message for message in messages if message]


def is_session_lost(status: Mapping[str, Any]) -> bool:
    """Whether a ``ResponseStatus`` says the session is gone."""
    return status.get("MsgCode") == _MSG_SESSION_LOST or any(
        SESSION_LOST in message for message in error_messages(status)
    )


def check_answer(answer: Any) -> ConnectorError | None:
    """The error a decoded answer reports for the call as a whole, or None."""
    found = response_status(answer)
    if found is None:
        return None
    status, wrapped = found
    if status.get("IsSuccess", True) is not False:
        return None
    if is_session_lost(status):
        return AuthError("kingdee: the session was lost again right after logging in")
    if not wrapped:
        return None  # Save, BatchSave, Delete, View: per record, read by the connector
    messages = error_messages(status) or [f"ErrorCode {status.get('ErrorCode')}"]
    return PermanentError("；".join(messages))


def item_error(messages: list[str], record: Mapping[str, Any] | None) -> PermanentError:
    """The refusal of one record: K3's messages (several are joined with "；")."""
    return PermanentError("；".join(messages) or "K3 Cloud refused the record", record)
