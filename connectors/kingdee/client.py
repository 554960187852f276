"""The HTTP client of the K3 Cloud WebAPI: the session login and the DynamicFormService calls.

One :class:`KingdeeClient` per run. It logs in with ``AuthService.ValidateUser`` (the
``parameters`` body the official SDKs send), keeps the session cookies, and when a call is
answered "会话信息已丢失，请重新登录" (HTTP 200) logs in again and replays the call once. Retries,
rate limit and redaction of the password come from :mod:`connectors._http`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from connectors._http import HttpClient, RateLimiter, RetryPolicy, SessionAuth, classify_by_status
from connectors.kingdee.config import KingdeeConfig
from connectors.kingdee.errors import check_answer, classify, is_session_lost, response_status
from crm_core.sync.ports import AuthError, TransientError

__all__ = ["LOGIN_PATH", "KingdeeAuth", "KingdeeClient", "service_path"]

LOGIN_PATH = "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
_SESSION_COOKIES = ("kdservice-sessionid", "ASP.NET_SessionId")

loads = functools.partial(json.loads, parse_float=Decimal)
"""Decodes K3's JSON with decimals kept exact (amounts, quantities, prices)."""


def service_path(service: str) -> str:
    """The path of a ``DynamicFormService`` method, relative to the site."""
    return f"Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.{service}.common.kdsvc"


@dataclass(frozen=True)
class _Session:
    session_id: str
    cookies: tuple[tuple[str, str], ...]


class KingdeeAuth(SessionAuth):
    """Session login by ``ValidateUser``: the session travels as the cookies
    ``kdservice-sessionid`` and ``ASP.NET_SessionId`` (and the ``kdservice-sessionid`` header,
    as the SDK sends it). A refused login (``LoginResultType`` 0) is an :class:`AuthError`."""

    def __init__(self, config: KingdeeConfig) -> None:
        super().__init__()
        self._config = config

    def login_request(self) -> httpx.Request:
        """``ValidateUser`` with ``parameters: [acctID, username, password, lcid]``."""
        config = self._config
        payload = {
            "format": 1,
            "useragent": "ApiClient",
            "rid": {},
            "parameters": [
                config.acct_id,
                config.username,
                config.password.get_secret_value(),
                config.lcid,
            ],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d"),
            "v": "1.0",
        }
        return httpx.Request("POST", config.base_url + LOGIN_PATH, json=payload)

    def read_login(self, response: httpx.Response) -> Any:
        """The session of a successful login; :class:`AuthError` when it was refused."""
        failure = classify_by_status(response)
        if failure is not None:
            raise failure
        try:
            answer = response.json()
        except ValueError:
            raise TransientError("kingdee: the login answer is not JSON") from None
        if not isinstance(answer, Mapping):
            raise TransientError("kingdee: the login answer is not a JSON object")
        if answer.get("LoginResultType") != 1 and answer.get("IsSuccessByAPI") is not True:
            message = answer.get("Message") or f"LoginResultType {answer.get('LoginResultType')}"
            raise AuthError(f"K3 Cloud refused the login of {self._config.username}: {message}")
        cookies = tuple(
            (name, value) for name in _SESSION_COOKIES if (value := response.cookies.get(name))
        )
        session_id = str(answer.get("KDSVCSessionId") or dict(cookies).get(_SESSION_COOKIES[0]))
        if not cookies:
            cookies = ((_SESSION_COOKIES[0], session_id),)
        return _Session(session_id, cookies)

    def apply(self, request: httpx.Request, session: Any) -> None:
        """Send the session cookies (replacing any older ones) and the session header."""
        request.headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in session.cookies)
        request.headers["kdservice-sessionid"] = session.session_id

    def is_expired(self, response: httpx.Response) -> bool:
        """Whether the answer is K3's session-lost answer (HTTP 200 with ``ErrorCode`` 500)."""
        if response.status_code != 200:
            return False
        head = response.content[:64]
        if b'"Result"' not in head:  # rows of a query, or no error: no need to decode
            return False
        try:
            found = response_status(json.loads(response.content))
        except ValueError:
            return False
        return (
            found is not None and found[0].get("IsSuccess") is False and is_session_lost(found[0])
        )


class KingdeeClient:
    """The WebAPI calls of one connection, with retries, rate limit and session renewal."""

    def __init__(
        self,
        config: KingdeeConfig,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.auth = KingdeeAuth(config)
        limiter = None
        if config.requests_per_second is not None:
            burst = max(1, int(config.requests_per_second))
            limiter = RateLimiter(config.requests_per_second, burst=burst)
        self.http = HttpClient(
            system="kingdee",
            base_url=config.base_url,
            auth=self.auth,
            timeout=config.timeout,
            retry=retry or RetryPolicy(attempts=config.max_attempts),
            rate_limiter=limiter,
            classify=classify,
            secrets=[config.password.get_secret_value()],
            sleep=sleep,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"KingdeeClient(base_url={self.config.base_url!r}, acct_id={self.config.acct_id!r})"

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def call(
        self, service: str, form_id: str, data: Mapping[str, Any], *, operation: str | None = None
    ) -> Any:
        """One ``DynamicFormService`` call; the decoded answer (decimals exact). ``operation``
        is the ``opNumber`` of ``ExcuteOperation`` (``Forbid``, ``Enable``...)."""
        payload: dict[str, Any] = {"formid": form_id, "data": _jsonable(data)}
        if operation is not None:
            payload["opNumber"] = operation
        return self.http.post_json(service_path(service), payload, loads=loads, check=check_answer)

    def execute_bill_query(self, data: Mapping[str, Any]) -> list[list[Any]]:
        """ExecuteBillQuery: the rows, each in FieldKeys order."""
        answer = self.call("ExecuteBillQuery", str(data.get("FormId", "")), data)
        if not isinstance(answer, list) or not all(isinstance(row, list) for row in answer):
            raise TransientError("kingdee: ExecuteBillQuery did not answer rows")
        return answer

    def result(
        self, service: str, form_id: str, data: Mapping[str, Any], *, operation: str | None = None
    ) -> Mapping[str, Any]:
        """A Save/BatchSave/Delete/View/UnAudit/ExcuteOperation call: its ``Result`` object."""
        answer = self.call(service, form_id, data, operation=operation)
        result = answer.get("Result") if isinstance(answer, Mapping) else None
        if not isinstance(result, Mapping):
            raise TransientError(f"kingdee: {service} answered without a Result")
        return result


def _jsonable(value: Any) -> Any:
    """``value`` with decimals as text (K3 takes numbers as strings, exactly) and dates and
    times in ISO form."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
