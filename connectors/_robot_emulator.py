"""What the chat-robot emulators share: a threaded HTTP server on 127.0.0.1 that hands every
``POST`` to the emulator's ``handle(path, body)`` and writes its JSON answer, the start/stop
life cycle, and each robot's sliding one-minute window of messages."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from crm_core.messaging import redact

__all__ = ["RobotEmulator"]

log = logging.getLogger("tongbu.emulator")


class RobotEmulator:
    """A robot service on ``host``:``port`` (0 = any free port); subclasses answer requests."""

    name = "robot"
    system_error = "system error"
    """The ``errmsg`` of the answer to a request the emulator itself failed on."""

    def __init__(self, host: str, port: int, clock: Callable[[], float]) -> None:
        self.host = host
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._server = _Server((host, port), self)
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``."""
        return f"http://{self.host}:{self.port}/"

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON answer)."""
        raise NotImplementedError

    def admit(self, robot: str, per_minute: int) -> bool:
        """Whether ``robot`` may send one more message now (at most ``per_minute`` in any
        60 seconds); counts it when it may. Call with the lock held."""
        now = self._clock()
        sent = self._sent.setdefault(robot, deque())
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= per_minute:
            return False
        sent.append(now)
        return True

    def start(self) -> Self:
        """Serve in a daemon thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.name}-emulator-{self.port}",
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, answer = self.server.emulator.handle(self.path, body)
        except Exception:  # a bug of the emulator answers 500
            log.exception("the %s emulator failed on POST", self.server.emulator.name)
            status, answer = 500, {"errcode": -1, "errmsg": self.server.emulator.system_error}
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

    def __init__(self, address: tuple[str, int], emulator: RobotEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
