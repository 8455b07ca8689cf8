"""Hostile HTTP receivers written on raw sockets, on loopback only.

A ``RawReceiver`` reads each request itself and then hands the connection to a
behaviour: answer normally, announce a huge body, stream forever, say nothing,
trickle its headers. Every behaviour stops by itself: when the client goes
away, when it has sent its byte budget, or at the receiver's time cap.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024


@dataclass
class Arrival:
    """One request as it arrived, and what the receiver made of the connection."""

    at: float
    head: bytes
    body: bytes
    bytes_sent: int = 0
    ended_at: float | None = None
    ended_by: str = ""

    @property
    def path(self) -> str:
        return self.head.split(b" ", 2)[1].decode("ascii", "replace")


@dataclass
class Connection:
    """What a behaviour may use: the socket, its arrival and its deadline."""

    sock: socket.socket
    arrival: Arrival
    until: float

    def time_left(self) -> float:
        return self.until - time.monotonic()

    def send(self, data: bytes) -> bool:
        """Send ``data``; False once the client has gone or time is up."""
        if self.time_left() <= 0:
            self.arrival.ended_by = "time cap"
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            self.arrival.ended_by = "client closed"
            return False
        self.arrival.bytes_sent += len(data)
        return True

    def wait_for_close(self, pause: float) -> bool:
        """Wait up to ``pause`` s; True if the client closed meanwhile."""
        self.sock.settimeout(max(0.01, min(pause, self.time_left())))
        try:
            closed = self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except OSError:
            closed = True
        if closed:
            self.arrival.ended_by = "client closed"
        return closed


Behaviour = Callable[[Connection], None]


@dataclass
class RawReceiver:
    """Accepts on 127.0.0.1 and runs ``behaviour`` for each request."""

    behaviour: Behaviour
    time_cap: float = 20.0
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._stop.set()
        self._accepting.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=self.time_cap + 5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(5)
            try:
                head, body = _read_request(sock)
            except OSError:
                return
            arrival = Arrival(time.monotonic(), head, body)
            self.arrivals.append(arrival)

            until = arrival.at + self.time_cap
            self.behaviour(Connection(sock, arrival, until))
            arrival.ended_at = time.monotonic()
            arrival.ended_by = arrival.ended_by or "answered"


def _read_request(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece or len(data) > MAX_HEAD:
            raise ConnectionError("no complete request head")
        data += piece

    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = sock.recv(length - len(body))
        if not piece:
            break
        body += piece
    return head, body


def answer(
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    with_length: bool = True,
) -> Behaviour:
    """A complete, ordinary answer that closes the connection.

    ``with_length=False`` leaves Content-Length out, as a 204 should.
    """
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close"]
    if with_length:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def behave(connection: Connection) -> None:
        connection.send(message)

    return behave


def raw(message: bytes) -> Behaviour:
    """Sends ``message`` as it is, whatever it is, then closes."""

    def behave(connection: Connection) -> None:
        connection.send(message)

    return behave


def announced_body(announced: int, budget: int) -> Behaviour:
    """A 200 announcing ``announced`` bytes, of which at most ``budget`` are sent."""
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode("ascii")

    def behave(connection: Connection) -> None:
        if not connection.send(head):
            return
        block = b"x" * CHUNK
        while connection.arrival.bytes_sent < budget and connection.send(block):
            pass

    return behave


def endless_chunks() -> Behaviour:
    """A 200 whose chunked body never ends (until the client or the cap stops it)."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = f"{CHUNK:x}\r\n".encode("ascii") + b"y" * CHUNK + b"\r\n"

    def behave(connection: Connection) -> None:
        if not connection.send(head):
            return
        while connection.send(chunk):
            pass

    return behave


def silence() -> Behaviour:
    """Reads the request and never answers, until the client gives up."""

    def behave(connection: Connection) -> None:
        while connection.time_left() > 0 and not connection.wait_for_close(0.2):
            pass
        if connection.time_left() <= 0:
            connection.arrival.ended_by = "time cap"

    return behave


def trickled_headers(pause: float) -> Behaviour:
    """Sends a status line and headers one byte every ``pause`` seconds."""
    text = b"HTTP/1.1 200 OK\r\nX-Trickle: " + b"z" * 1000

    def behave(connection: Connection) -> None:
        for byte in text:
            if not connection.send(bytes([byte])):
                return
            if connection.wait_for_close(pause):
                return

    return behave
