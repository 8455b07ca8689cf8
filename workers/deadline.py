"""One deadline for a whole delivery attempt, enforced by the sockets themselves.

A per-call socket timeout does not bound an attempt: a receiver that sends
its answer a byte every second never lets a single receive time out. So the
sockets made here set their timeout, before every connect, send, receive and
TLS handshake, to the time left before the deadline of the attempt in
progress, and refuse to start a call once it has passed.

The deadline lives in a context variable: a pooled keep-alive connection
obeys whichever attempt is using it, on whichever thread.
"""

from __future__ import annotations

import contextvars
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "modelhooks_attempt_deadline", default=None
)


class DeadlineExpired(TimeoutError):
    """The attempt's deadline passed before a socket call could start."""


@contextmanager
def attempt_deadline(timeout: float) -> Iterator[None]:
    """Give the socket calls made inside the block ``timeout`` seconds in all."""
    token = _deadline.set(time.monotonic() + timeout)
    try:
        yield
    finally:
        _deadline.reset(token)


class _DeadlineMixin:
    """Give every blocking socket call only the time left before the deadline."""

    def _arm(self) -> None:
        deadline = _deadline.get()
        if deadline is None:
            return

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExpired("attempt deadline passed")
        self.settimeout(remaining)  # type: ignore[attr-defined]

    def connect(self, address: Any) -> None:
        self._arm()
        super().connect(address)  # type: ignore[misc]

    def recv(self, *args: Any) -> bytes:
        self._arm()
        return super().recv(*args)  # type: ignore[misc,no-any-return]

    def recv_into(self, *args: Any) -> int:
        self._arm()
        return super().recv_into(*args)  # type: ignore[misc,no-any-return]

    def send(self, *args: Any) -> int:
        self._arm()
        return super().send(*args)  # type: ignore[misc,no-any-return]

    def sendall(self, *args: Any) -> None:
        self._arm()
        super().sendall(*args)  # type: ignore[misc]


class DeadlineSocket(_DeadlineMixin, socket.socket):
    """A TCP socket bound by the current attempt's deadline."""


class DeadlineTLSSocket(_DeadlineMixin, ssl.SSLSocket):
    """A TLS socket bound by the current attempt's deadline, handshake included.

    Install it with ``context.sslsocket_class = DeadlineTLSSocket``.
    """

    def do_handshake(self, *args: Any) -> None:
        self._arm()
        super().do_handshake(*args)


def open_socket(ip: str, port: int, timeout: float | None) -> socket.socket:
    """Connect a ``DeadlineSocket`` to ``ip``; no name is looked up here.

    ``timeout`` only matters when no attempt deadline is in force.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = DeadlineSocket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        # Headers and body go out in separate writes; don't let Nagle hold one.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock
