"""A WeCom group robot for tests and demos: ``POST /cgi-bin/webhook/send?key=KEY``.

It checks what the real service checks, and answers as it does (HTTP 200, ``errcode`` and
``errmsg``): a known key (93000 ``invalid webhook url``), a JSON body, a supported ``msgtype``
(40008 ``invalid message type``), text content present and at most 2,048 bytes of UTF-8 (40058),
and 20 messages a minute per robot (45009 ``api freq out of limit``). Accepted messages are kept
in :attr:`WeComRobotEmulator.messages`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crm_core.messaging import redact

__all__ = ["ReceivedMessage", "WeComRobotEmulator"]

log = logging.getLogger("tongbu.emulator.wecom")

PATH = "/cgi-bin/webhook/send"
MSGTYPES = frozenset(
    {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
)
CONTENT_LIMIT = 2048
PER_MINUTE = 20


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the robot accepted."""

    key: str
    msgtype: str
    body: dict[str, Any]

    @property
    def content(self) -> str:
        return str(self.body.get(self.msgtype, {}).get("content", ""))

    @property
    def mentioned_mobiles(self) -> list[str]:
        return list(self.body.get(self.msgtype, {}).get("mentioned_mobile_list") or [])


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    hint = f", hint: [{time.time_ns() // 1000}], from ip: 127.0.0.1"
    more = f", more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    return {"errcode": errcode, "errmsg": errmsg + hint + more}


class WeComRobotEmulator:
    """WeCom group robots with the given ``keys`` on ``host``:``port`` (0 = any free port)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        keys: Iterable[str] = ("wecom-emulator-key",),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self._keys = frozenset(keys)
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self.messages: list[ReceivedMessage] = []
        """Accepted messages, oldest first."""
        self._server = _Server((host, port), self)
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WeComRobotEmulator(url={self.url!r}, keys={len(self._keys)})"

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``."""
        return f"http://{self.host}:{self.port}/"

    def webhook_url(self, key: str) -> str:
        """The webhook URL of the robot with ``key``."""
        return f"http://{self.host}:{self.port}{PATH}?key={key}"

    def start(self) -> WeComRobotEmulator:
        """Serve in a daemon thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"wecom-robot-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WeComRobotEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON answer)."""
        parts = urlsplit(path)
        if parts.path != PATH:
            return 404, {"errcode": 404, "errmsg": "not found"}
        key = (parse_qs(parts.query).get("key") or [""])[0]
        try:
            self._receive(key, body)
        except _Refused as refused:
            return 200, refused.answer
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _receive(self, key: str, body: bytes) -> None:
        if key not in self._keys:
            raise _Refused(93000, "invalid webhook url")
        payload = _checked(body)
        with self._lock:
            now = self._clock()
            sent = self._sent.setdefault(key, deque())
            while sent and now - sent[0] >= 60:
                sent.popleft()
            if len(sent) >= PER_MINUTE:
                raise _Refused(45009, "api freq out of limit")
            sent.append(now)
            self.messages.append(ReceivedMessage(key, str(payload["msgtype"]), payload))


class _Refused(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.answer = _error(errcode, errmsg)


def _checked(body: bytes) -> dict[str, Any]:
    """The message in ``body``, checked as WeCom checks it."""
    try:
        payload = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        # [unverified] the errcode of a body that is not JSON
        raise _Refused(40035, "Warning: wrong json format. invalid Request Parameter")
    msgtype = payload.get("msgtype")
    if msgtype not in MSGTYPES:
        raise _Refused(40008, "invalid message type")
    section = payload.get(msgtype)
    if msgtype == "text":
        content = section.get("content") if isinstance(section, dict) else None
        if not isinstance(content, str) or not content:
            # [unverified] the errcode; the wording was seen in a real answer
            raise _Refused(40035, "Warning: wrong json format. empty content")
        if len(content.encode()) > CONTENT_LIMIT:
            raise _Refused(
                40058, f"text.content exceed max length {CONTENT_LIMIT}. invalid Request Parameter"
            )
    return payload


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, answer = self.server.emulator.handle(self.path, body)
        except Exception:  # a bug of the emulator answers 500
            log.exception("the emulator failed on POST")
            status, answer = 500, {"errcode": -1, "errmsg": "system error"}
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), redact(format % args))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: WeComRobotEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
