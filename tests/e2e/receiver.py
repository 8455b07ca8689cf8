"""A real HTTP receiver on loopback that records every callback request.

Each path answers by a ``Script``: the statuses to give attempt after attempt
(the last one repeats), an optional delay before answering, extra headers.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Script:
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


class _Server(ThreadingHTTPServer):
    # Fan-outs open dozens of connections at once; the default backlog of 5
    # would reset some of them before they are accepted.
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A sender killed mid-request resets its connection: expected in the
        # fault tests, and not worth a traceback on the console.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """Records requests per path; ``script(path, ...)`` sets how a path answers."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.cut_short = 0
        self.scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *statuses: int, delay: float = 0.0,
               headers: dict[str, str] | None = None) -> str:
        self.scripts[path] = Script(list(statuses) or [200], delay, headers or {})
        return self.url(path)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length)
        if len(body) < length:
            # The sender died mid-request: nothing a receiver would accept.
            self.cut_short += 1
            return
        with self._lock:
            seen = sum(1 for r in self.requests if r.path == handler.path)
            self.requests.append(Received(handler.path, dict(handler.headers.items()),
                                          body, time.monotonic()))
        script = self.scripts.get(handler.path, Script())

        time.sleep(script.delay)
        status = script.statuses[min(seen, len(script.statuses) - 1)]
        handler.send_response(status)
        for name, value in script.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(script.body)))
        handler.end_headers()
        handler.wfile.write(script.body)

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                try:
                    receiver._answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                return None

        return Handler
