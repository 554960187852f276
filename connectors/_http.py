"""The HTTP plumbing every connector shares (DESIGN.md section 3, STYLE.md rules 3 and 4).

* one :class:`HttpClient` (one httpx client) per run, with explicit timeouts;
* retries of what is worth retrying — :class:`~crm_core.sync.ports.RateLimited` and
  :class:`~crm_core.sync.ports.TransientError` — with exponential backoff and jitter, honouring
  the server's ``Retry-After`` but never waiting less than a floor (``Retry-After: 0`` must not
  become a busy loop) nor more than a cap;
* :class:`SessionAuth`, an :class:`httpx.Auth` that logs in when there is no session, adds the
  session to each request, and on the system's "session expired" answer logs in again and
  replays the request once;
* a client-side :class:`RateLimiter` (token bucket), shared by the threads of a run;
* secrets (passwords, tokens, app secrets) never in logs, reprs or exception messages.

A connector brings its own error classifier (its ``errors.py``): one function that turns an
answer of its system into a typed error, or None when the answer is a success. Systems that
report failures inside a successful HTTP answer (HTTP 200 with an error body) also pass a
``check`` of the decoded answer to :meth:`HttpClient.post_json`; an answer that does not decode
is a :class:`~crm_core.sync.ports.TransientError` and is retried like one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from crm_core.sync.ports import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)

__all__ = [
    "AnswerCheck",
    "ErrorClassifier",
    "HttpClient",
    "RateLimiter",
    "RetryPolicy",
    "SessionAuth",
    "classify_by_status",
    "parse_retry_after",
]

log = logging.getLogger("tongbu.http")

ErrorClassifier = Callable[[httpx.Response], ConnectorError | None]
"""Turns an answer of a system into a typed error, or None when it is a success."""

AnswerCheck = Callable[[Any], ConnectorError | None]
"""Turns a decoded answer into a typed error, or None when it is a success (for systems that
answer HTTP 200 with an error in the body)."""

_SECRET_PARAMETER = re.compile(
    r"((?:access_?token|token|secret|password|passwd|key|signature|sign|corpsecret)=)[^&\s]+",
    re.IGNORECASE,
)
_BODY_EXCERPT = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on a request."""

    attempts: int = 5
    """Tries in all, the first included."""
    initial_wait: float = 0.5
    max_wait: float = 30.0
    min_wait: float = 0.2
    """The floor of every wait, also when the server says ``Retry-After: 0``."""
    max_retry_after: float = 300.0
    """A server asking to wait longer than this is not waited for: the error goes to the caller
    (the run fails and is retried on the next schedule)."""


class RateLimiter:
    """A token bucket: on average at most ``rate`` requests a second, in bursts of ``burst``.

    Thread-safe; :meth:`acquire` sleeps until a request may go.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one request's token, waiting for it if need be; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_by_status(response: httpx.Response) -> ConnectorError | None:
    """Errors by HTTP status, for systems that signal them that way (429, 5xx, 401, 403, 4xx)."""
    status = response.status_code
    if status < 400:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    where = f"{response.request.method} {_path(response.request.url)}"
    if status == 429 or (status == 503 and retry_after is not None):
        return RateLimited(f"throttled ({status}) on {where}", retry_after=retry_after)
    if status >= 500:
        return TransientError(f"server error {status} on {where}")
    if status == 401:
        return AuthError(f"credentials refused (401) on {where}")
    if status == 403:
        return ConfigurationError(f"permission denied (403) on {where}")
    return PermanentError(f"{status} on {where}: {_excerpt(response)}")


class SessionAuth(httpx.Auth):
    """Adds a session (a token, a cookie) to every request, logging in first when needed.

    When the system answers that the session expired, logs in again and replays the request
    once; a second refusal is an :class:`AuthError`. Subclasses say how to log in, how to read
    the login answer, how to add the session to a request and how to recognise an expired one.
    """

    requires_response_body = True

    def __init__(self) -> None:
        self._session: Any = None
        self._lock = threading.Lock()
        self.logins = 0
        """How many times this auth has logged in (a figure for tests and run statistics)."""

    def login_request(self) -> httpx.Request:
        """The request that logs in."""
        raise NotImplementedError

    def read_login(self, response: httpx.Response) -> Any:
        """The session from the login answer; raise :class:`AuthError` when it was refused."""
        raise NotImplementedError

    def apply(self, request: httpx.Request, session: Any) -> None:
        """Add the session to ``request``."""
        raise NotImplementedError

    def is_expired(self, response: httpx.Response) -> bool:
        """Whether ``response`` says the session has expired (by default: a 401)."""
        return response.status_code == 401

    def __repr__(self) -> str:
        return f"{type(self).__name__}(logged_in={self._session is not None})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Log in if needed, send, and on an expired session log in again and replay once."""
        session = self._session
        if session is None:
            session = yield from self._login()
        self.apply(request, session)
        response = yield request
        if not self.is_expired(response):
            return
        log.info("session expired; logging in again and replaying the request")
        session = yield from self._login()
        self.apply(request, session)
        response = yield request
        if self.is_expired(response):
            raise AuthError("the session was refused again right after logging in")

    def _login(self) -> Generator[httpx.Request, httpx.Response, Any]:
        response = yield self.login_request()
        session = self.read_login(response)
        with self._lock:
            self._session = session
            self.logins += 1
        return session


class HttpClient:
    """The HTTP client of one connector instance for one run: retries, rate limit, auth.

    ``secrets`` are removed from every log line and exception message it produces.
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        auth: httpx.Auth | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        classify: ErrorClassifier = classify_by_status,
        secrets: Iterable[str] = (),
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self.retry = retry or RetryPolicy()
        self._classify = classify
        self._rate_limiter = rate_limiter
        self._secrets = tuple(secret for secret in secrets if secret)
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=timeout,
            headers=headers,
            transport=transport,
            follow_redirects=False,
        )
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"HttpClient(system={self.system!r}, base_url={str(self._client.base_url)!r})"

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying what is worth retrying; return the successful answer.

        Raises a :class:`~crm_core.sync.ports.ConnectorError` subclass when the request fails
        for good or the retries run out.
        """
        response: httpx.Response = self._retrying()(self._send, method, url, **kwargs)
        return response

    def post_json(
        self,
        url: str,
        payload: Any,
        *,
        loads: Callable[[bytes], Any] = json.loads,
        check: AnswerCheck | None = None,
        **kwargs: Any,
    ) -> Any:
        """POST ``payload`` as JSON and return the decoded JSON answer.

        Decoding is part of the attempt: an answer that is not JSON (a truncated body, an HTML
        error page) is a :class:`~crm_core.sync.ports.TransientError` and is retried. ``loads``
        decodes the body (e.g. with ``parse_float=Decimal``); ``check`` turns a decoded answer
        into an error, for systems that report failures in the body of an HTTP 200.
        """
        return self._retrying()(self._post_decoded, url, payload, loads, check, kwargs)

    def _retrying(self) -> Retrying:
        policy = self.retry
        return Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._worth_retrying),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _post_decoded(
        self,
        url: str,
        payload: Any,
        loads: Callable[[bytes], Any],
        check: AnswerCheck | None,
        kwargs: dict[str, Any],
    ) -> Any:
        response = self._send("POST", url, json=payload, **kwargs)
        try:
            answer = loads(response.content)
        except ValueError:
            raise TransientError(
                self.redact(
                    f"{self.system}: the answer to POST {_path(response.request.url)} "
                    f"is not JSON: {_excerpt(response)}"
                )
            ) from None
        failure = check(answer) if check is not None else None
        if failure is not None:
            raise self._cleaned(failure)
        return answer

    def redact(self, text: str) -> str:
        """``text`` with every secret and secret-looking URL parameter masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _SECRET_PARAMETER.sub(r"\1***", text)

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._rate_limiter is not None:
            self._rate_limiter.acquire()
        self.requests_sent += 1
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise TransientError(
                self.redact(f"{self.system}: no answer in time to {method} {_path(url)}")
            ) from None
        except httpx.TransportError as error:
            raise TransientError(
                self.redact(f"{self.system}: {method} {_path(url)} failed: {error}")
            ) from None
        except ConnectorError as error:  # raised by an auth flow
            raise self._cleaned(error) from None
        log.debug(
            "%s %s -> %s", method, self.redact(str(response.request.url)), response.status_code
        )
        failure = self._classify(response)
        if failure is not None:
            raise self._cleaned(failure)
        return response

    def _cleaned(self, error: ConnectorError) -> ConnectorError:
        """The error with any secret taken out of its message (and reason)."""
        message = self.redact(f"{self.system}: {error}")
        error.args = (message,)
        if isinstance(error, PermanentError):
            error.reason = self.redact(error.reason)
        return error

    def _worth_retrying(self, error: BaseException) -> bool:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after <= self.retry.max_retry_after
        return isinstance(error, ConnectorError) and error.retriable

    def _wait(self, state: RetryCallState) -> float:
        policy = self.retry
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(policy.min_wait, error.retry_after)
        backoff = wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        )
        return max(policy.min_wait, float(backoff(state)))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s (attempt %d of %d); retrying in %.1f s",
            self.redact(str(error)),
            state.attempt_number,
            self.retry.attempts,
            wait,
        )


def _path(url: httpx.URL | str) -> str:
    """The path of a URL, without its query (where tokens travel)."""
    return httpx.URL(str(url)).path


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_BODY_EXCERPT] + ("…" if len(text) > _BODY_EXCERPT else "")
