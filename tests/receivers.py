"""Callback receivers for tests: raw TCP servers on loopback, well-behaved or not.

Each connection is handed to a behaviour function on its own thread. Every
behaviour is bounded: it sends a capped number of bytes, its socket reads time
out after a few seconds, and it gives up once the receiver is stopping.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Behaviour = Callable[[socket.socket, "Receiver"], None]

MAX_REQUEST_BYTES = 1 << 20
READ_TIMEOUT = 5.0
# Longer than any attempt timeout in the tests, so that a transport that fails
# to cut an attempt fails its test instead of hanging it.
SILENCE = 10.0


@dataclass
class Request:
    """One request as the receiver saw it."""

    line: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Accepts on ``host`` (loopback) and counts connections and requests."""

    behave: Behaviour
    host: str = "127.0.0.1"
    connections: int = 0
    # 0: any free port; a given one lets two receivers share a port on two
    # loopback addresses.
    bind_port: int = 0
    requests: list[Request] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind((self.host, self.bind_port))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=READ_TIMEOUT + 1)
        self.listener.close()

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT)
        try:
            self.behave(conn, self)
        except OSError:
            pass  # the client went away, which is what many tests want
        finally:
            conn.close()


def read_request(conn: socket.socket) -> Request | None:
    """Read one request with a Content-Length body; None when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > MAX_REQUEST_BYTES:
            return None
        data += chunk

    head, _, body = data.partition(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for text in fields:
        name, _, value = text.partition(":")
        headers[name.strip().lower()] = value.strip()

    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return Request(line, headers, body)


def response(status: int, body: bytes = b"", **headers: str) -> bytes:
    """A whole HTTP/1.1 response, written in one piece."""
    lines = [f"HTTP/1.1 {status} Whatever"]
    if status != 204:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answering(answer: bytes, limit: int = 100) -> Behaviour:
    """Answer each request on a keep-alive connection with ``answer``."""

    def behave(conn: socket.socket, receiver: Receiver) -> None:
        for _ in range(limit):
            request = read_request(conn)
            if request is None or receiver.stopping.is_set():
                return
            receiver.record(request)
            conn.sendall(answer)

    return behave


def streaming(head: bytes, chunk: bytes, cap: int = 256 << 20) -> Behaviour:
    """Send ``head`` then ``chunk`` again and again, up to ``cap`` bytes."""

    def behave(conn: socket.socket, receiver: Receiver) -> None:
        request = read_request(conn)
        if request is None:
            return
        receiver.record(request)
        conn.sendall(head)
        sent = 0
        while sent < cap and not receiver.stopping.is_set():
            conn.sendall(chunk)
            sent += len(chunk)

    return behave


def dripping(head: bytes, data: bytes, every: float) -> Behaviour:
    """Send ``head`` at once, then ``data`` one byte each ``every`` seconds."""

    def behave(conn: socket.socket, receiver: Receiver) -> None:
        request = read_request(conn)
        if request is None:
            return
        receiver.record(request)
        conn.sendall(head)
        for index in range(len(data)):
            if receiver.stopping.wait(every):
                return
            conn.sendall(data[index : index + 1])

    return behave


def silent(conn: socket.socket, receiver: Receiver) -> None:
    """Accept, read whatever comes, never answer; hang up after SILENCE seconds."""
    conn.settimeout(0.1)
    for _ in range(int(SILENCE / 0.1)):
        if receiver.stopping.is_set():
            return
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue


def scripted(answers: list[bytes], then: bytes = b"", after: float = 0.0,
             limit: int = 10) -> Behaviour:
    """Answer the receiver's n-th request, on whichever connection, with
    ``answers[n]`` (the last one again when they run out); after the very first
    answer, wait ``after`` s and send ``then`` unasked on that connection, as a
    receiver answering twice would."""

    def behave(conn: socket.socket, receiver: Receiver) -> None:
        for _ in range(limit):
            request = read_request(conn)
            if request is None or receiver.stopping.is_set():
                return
            receiver.record(request)
            number = len(receiver.requests) - 1
            conn.sendall(answers[min(number, len(answers) - 1)])
            if number == 0 and then:
                if after and receiver.stopping.wait(after):
                    return
                conn.sendall(then)

    return behave


def flooding_when_idle(answer: bytes, cap: int = 4 << 20) -> Behaviour:
    """Answer once (keep-alive), then push unasked bytes, ``cap`` at most, until
    the client closes or stops reading; then wait for its close or the stop."""

    def behave(conn: socket.socket, receiver: Receiver) -> None:
        request = read_request(conn)
        if request is None:
            return
        receiver.record(request)
        conn.sendall(answer)
        conn.settimeout(0.5)
        block, sent = b"j" * 65536, 0
        while sent < cap and not receiver.stopping.is_set():
            try:
                sent += conn.send(block)
            except TimeoutError:
                break  # the client stopped reading: its buffers are full
        while not receiver.stopping.wait(0.1):
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue

    return behave
