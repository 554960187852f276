"""The shared HTTP plumbing against a real HTTP server on 127.0.0.1 that plays scripted answers."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from connectors._http import (
    HttpClient,
    RateLimiter,
    RetryPolicy,
    SessionAuth,
    parse_retry_after,
)
from crm_core.sync.ports import AuthError, PermanentError, RateLimited, TransientError

PASSWORD = "s3cr3t-Pa55word"  # noqa: S105 - a test credential that must never leak


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Script:
    """What the server answers, in order (the last answer repeats), and what it received."""

    answers: list[Answer] = field(default_factory=list)
    received: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> Answer:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script(answers=[Answer()])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            script.received.append((self.path, dict(self.headers), body))
            if self.path == "/login":
                if json.loads(body).get("password") != PASSWORD:
                    self._send(Answer(200, {"ok": False, "message": "wrong password"}))
                    return
                token = f"session-{len(script.sessions) + 1}"
                script.sessions.add(token)
                self._send(Answer(200, {"ok": True, "session": token}))
                return
            answer = script.next()
            time.sleep(answer.delay)
            self._send(answer)

        def _send(self, answer: Answer) -> None:
            payload = (
                answer.body
                if isinstance(answer.body, bytes)
                else json.dumps(answer.body, ensure_ascii=False).encode()
            )
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


class WaitRecorder:
    """Stands in for time.sleep: records the waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class DemoAuth(SessionAuth):
    """A session login like many systems have: POST credentials, get a token, send it along;
    an expired session is answered with HTTP 200 and an error code in the body."""

    def __init__(self, base_url: str, password: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.password = password

    def login_request(self) -> httpx.Request:
        payload = {"user": "api", "password": self.password}
        return httpx.Request("POST", f"{self.base_url}/login", json=payload)

    def read_login(self, response: httpx.Response) -> Any:
        answer = response.json()
        if not answer.get("ok"):
            raise AuthError(f"login refused: {answer.get('message')}")
        return answer["session"]

    def apply(self, request: httpx.Request, session: Any) -> None:
        request.headers["X-Session"] = session

    def is_expired(self, response: httpx.Response) -> bool:
        return response.status_code == 200 and response.json().get("code") == "SESSION_EXPIRED"


def client(url: str, **options: Any) -> HttpClient:
    options.setdefault(
        "retry", RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, min_wait=0.001)
    )
    return HttpClient(system="demo", base_url=url, **options)


def test_throttling_is_waited_out_as_the_server_asks_with_a_floor(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers = [
        Answer(429, {"error": "slow down"}, {"Retry-After": "0"}),
        Answer(503, {"error": "busy"}, {"Retry-After": "2"}),
        Answer(200, {"ok": True}),
    ]
    waits = WaitRecorder()
    with client(url, sleep=waits, retry=RetryPolicy(attempts=4, min_wait=0.25)) as http:
        assert http.post_json("/things", {"a": 1}) == {"ok": True}
    assert waits.waits == [0.25, 2.0]  # Retry-After: 0 does not become a busy loop
    assert len(script.received) == 3


def test_server_errors_are_retried_with_backoff_then_reported(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [Answer(500, {"error": "boom"})]
    waits = WaitRecorder()
    with client(url, sleep=waits) as http, pytest.raises(TransientError, match="server error 500"):
        http.post_json("/things", {})
    assert len(script.received) == 4
    assert len(waits.waits) == 3
    assert all(0.01 <= wait <= 0.06 for wait in waits.waits)


def test_a_very_long_retry_after_is_not_waited_for(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [Answer(429, {}, {"Retry-After": "3600"})]
    waits = WaitRecorder()
    with client(url, sleep=waits) as http, pytest.raises(RateLimited) as raised:
        http.post_json("/things", {})
    assert raised.value.retry_after == 3600
    assert waits.waits == []


def test_timeouts_are_transient_and_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [Answer(200, {"ok": "late"}, delay=0.5), Answer(200, {"ok": True})]
    with client(url, timeout=0.1, sleep=WaitRecorder()) as http:
        assert http.post_json("/things", {}) == {"ok": True}


def test_an_answer_that_is_not_json_is_retried_then_reported(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [Answer(200, b"<html>proxy error"), Answer(200, {"ok": True})]
    with client(url, sleep=WaitRecorder()) as http:
        assert http.post_json("/things", {}) == {"ok": True}
    assert len(script.received) == 2
    script.answers = [Answer(200, b'{"ok": tr')]
    with client(url, sleep=WaitRecorder()) as http, pytest.raises(TransientError, match="not JSON"):
        http.post_json("/things", {})


def test_an_error_in_the_body_of_a_success_is_checked_inside_the_retries(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers = [Answer(200, {"code": "BUSY"}), Answer(200, {"code": "OK", "value": 1.10})]

    def check(answer: Any) -> TransientError | None:
        return TransientError("busy") if answer["code"] == "BUSY" else None

    with client(url, sleep=WaitRecorder()) as http:
        answer = http.post_json(
            "/things", {}, loads=lambda body: json.loads(body, parse_float=Decimal), check=check
        )
    assert answer["value"] == Decimal("1.10")
    assert len(script.received) == 2


def test_refused_records_are_permanent_and_not_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [Answer(422, {"error": "FNumber 必须唯一"})]
    with client(url, sleep=WaitRecorder()) as http, pytest.raises(PermanentError) as raised:
        http.post_json("/things", {})
    assert "FNumber 必须唯一" in raised.value.reason
    assert len(script.received) == 1


def test_the_session_is_renewed_once_when_it_expires(server: tuple[str, Script]) -> None:
    url, script = server
    auth = DemoAuth(url, PASSWORD)
    script.answers = [
        Answer(200, {"ok": True, "n": 1}),
        Answer(200, {"code": "SESSION_EXPIRED"}),
        Answer(200, {"ok": True, "n": 2}),
    ]
    with client(url, auth=auth) as http:
        assert http.post_json("/things", {})["n"] == 1
        assert http.post_json("/things", {})["n"] == 2
    assert auth.logins == 2
    sessions = [
        headers.get("X-Session") for path, headers, _ in script.received if path == "/things"
    ]
    assert sessions == ["session-1", "session-1", "session-2"]


def test_a_session_refused_twice_is_an_auth_error(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [Answer(200, {"code": "SESSION_EXPIRED"})]
    with client(url, auth=DemoAuth(url, PASSWORD)) as http, pytest.raises(AuthError):
        http.post_json("/things", {})


def test_secrets_stay_out_of_errors_and_logs(
    server: tuple[str, Script], caplog: pytest.LogCaptureFixture
) -> None:
    url, script = server
    script.answers = [Answer(500, {"error": f"could not log in with {PASSWORD}"})]
    caplog.set_level(logging.DEBUG, logger="tongbu.http")
    with client(url, sleep=WaitRecorder(), secrets=[PASSWORD]) as http:
        with pytest.raises(TransientError) as raised:
            http.post_json(f"/things?access_token={PASSWORD}", {})
        script.answers = [Answer(422, {"error": f"bad password {PASSWORD}"})]
        with pytest.raises(PermanentError) as refused:
            http.post_json("/things", {})
        assert PASSWORD not in repr(http)
    assert PASSWORD not in str(raised.value)
    assert PASSWORD not in refused.value.reason
    assert "***" in refused.value.reason
    assert caplog.records
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    wrong_auth = DemoAuth(url, "not-the-password")
    with (
        pytest.raises(AuthError, match="wrong password") as wrong,
        client(url, auth=wrong_auth, secrets=["not-the-password"]) as http,
    ):
        http.post_json("/things", {})
    assert "not-the-password" not in str(wrong.value)


def test_the_rate_limiter_spaces_requests_after_a_burst() -> None:
    now = [0.0]
    waits = WaitRecorder()

    def sleep(seconds: float) -> None:
        waits(seconds)
        now[0] += seconds

    limiter = RateLimiter(rate=10, burst=3, clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        limiter.acquire()
    assert waits.waits[:0] == []
    assert len(waits.waits) == 4  # three go at once, the next four wait their turn
    assert sum(waits.waits) == pytest.approx(0.4)
    now[0] += 10
    assert limiter.acquire() == 0


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
