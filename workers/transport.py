"""The HTTP POST of one delivery attempt, and what came of it.

``Transport.post`` connects to the address ``resolve_destination`` checked
(never to a second DNS answer) while naming the real host in the Host header
and in TLS (SNI and certificate check). It never follows a redirect, reads at
most ``excerpt_limit`` bytes of the answer, and holds the whole attempt,
connect to last byte, to one deadline. Whatever the receiver does, ``post``
returns an ``AttemptResult`` instead of raising.

The deadline is kept by the sockets of ``workers.deadline``, which this
module plugs into urllib3's connection pools.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse

from app.errors import DestinationNotAllowed
from app.targets import Destination, Resolver, resolve_destination, resolve_host
from workers.deadline import DeadlineTLSSocket, attempt_deadline, open_socket

log = logging.getLogger("modelhooks.transport")

RETRY_AFTER_STATUSES = {429, 503}


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt achieved: ``ok`` only for a complete 2xx answer.

    ``error`` says, as "ErrorClass: message", why no complete answer arrived;
    it is None whenever ``status_code`` tells the whole story. ``excerpt`` is
    the start of the body, ``truncated`` when there was more.
    """

    ok: bool
    status_code: int | None
    error: str | None
    excerpt: str
    truncated: bool
    duration: float
    retry_after: str | None = None


class _Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return open_socket(self.host, self.port, self.timeout)


class _TLSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return open_socket(self.host, self.port, self.timeout)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class Transport:
    """Sends attempts; safe to share between threads, keeps connections alive.

    Connections are pooled per (scheme, host, port, address), at most
    ``connections_per_pool`` idle ones each, for the ``max_pools`` most
    recently used destinations. ``ssl_context`` (default: the system's trust
    store) gets its socket class replaced so that TLS obeys the deadline.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = resolve_host,
        excerpt_limit: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
        connections_per_pool: int = 10,
        max_pools: int = 100,
    ) -> None:
        self.allow_private = allow_private
        self.excerpt_limit = excerpt_limit
        self._resolve = resolve
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._ssl_context.sslsocket_class = DeadlineTLSSocket
        self._connections_per_pool = connections_per_pool
        self._max_pools = max_pools
        self._pools: OrderedDict[tuple[str, str, int, str], HTTPConnectionPool] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float
    ) -> AttemptResult:
        """POST ``body`` to ``url``; the attempt ends ``timeout`` seconds in."""
        started = time.monotonic()
        with attempt_deadline(timeout):
            result = self._attempt(url, body, headers, timeout)

        result = replace(result, duration=time.monotonic() - started)
        log.debug("attempt to %s: %s", origin(url), result)
        return result

    def close(self) -> None:
        """Close every pooled connection; later posts open new ones."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()

        for pool in pools:
            pool.close()

    def _attempt(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> AttemptResult:
        try:
            destination = resolve_destination(
                url, allow_private=self.allow_private, resolve=self._resolve
            )
        except (DestinationNotAllowed, OSError) as error:
            return unreachable(url, error)

        response: BaseHTTPResponse | None = None
        try:
            response = self._pool(destination).urlopen(
                "POST",
                destination.target,
                body=body,
                headers=request_headers(destination, headers),
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
                release_conn=False,
            )
            return self._answer(response)
        except (
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
        ) as error:
            status = response.status if response is not None else None
            return failure(describe_error(error, destination, timeout, status), status)
        finally:
            if response is not None:
                _release(response)

    def _answer(self, response: BaseHTTPResponse) -> AttemptResult:
        """Read the start of the answer; a longer body is left unread."""
        data = bytearray()
        while len(data) <= self.excerpt_limit:
            chunk = response.read(self.excerpt_limit + 1 - len(data))
            if not chunk:
                break
            data += chunk

        if len(data) > self.excerpt_limit:
            # The rest may be endless: drop the connection rather than drain it.
            response.close()
        retry_after = response.headers.get("Retry-After")
        return answered(response.status, bytes(data), self.excerpt_limit, retry_after)

    def _pool(self, destination: Destination) -> HTTPConnectionPool:
        key = (destination.scheme, destination.host, destination.port, destination.ip)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool

            pool = self._new_pool(destination)
            self._pools[key] = pool
            evicted = []
            while len(self._pools) > self._max_pools:
                evicted.append(self._pools.popitem(last=False)[1])

        # Connections of an evicted pool still in use are closed when returned.
        for old in evicted:
            old.close()
        return pool

    def _new_pool(self, destination: Destination) -> HTTPConnectionPool:
        sizes = {"maxsize": self._connections_per_pool, "block": False}
        if destination.scheme == "http":
            return _Pool(destination.ip, destination.port, **sizes)
        return _TLSPool(
            destination.ip,
            destination.port,
            server_hostname=destination.host,
            ssl_context=self._ssl_context,
            **sizes,
        )


def failure(error: str, status: int | None = None) -> AttemptResult:
    return AttemptResult(False, status, error, "", False, 0.0)


def unreachable(url: str, error: DestinationNotAllowed | OSError) -> AttemptResult:
    """The failed attempt of a URL refused at connect time, or whose name failed."""
    if isinstance(error, DestinationNotAllowed):
        return failure(f"DestinationNotAllowed: {error.reason}")
    return failure(f"NameResolution: {origin(url)} does not resolve: {error}")


def answered(
    status: int, data: bytes, limit: int, retry_after: str | None
) -> AttemptResult:
    """The result of an answer whose first ``limit`` bytes, and one more, are ``data``.

    ``retry_after`` is kept only where it means something: on a 429 or a 503.
    """
    truncated = len(data) > limit
    excerpt = data[:limit].decode("utf-8", errors="replace")
    if status not in RETRY_AFTER_STATUSES:
        retry_after = None
    ok = 200 <= status < 300
    return AttemptResult(ok, status, None, excerpt, truncated, 0.0, retry_after)


def request_headers(
    destination: Destination, headers: dict[str, str]
) -> dict[str, str]:
    """The caller's headers, with Host naming the URL's host and no compression."""
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    default_port = 443 if destination.scheme == "https" else 80
    if destination.port != default_port:
        host = f"{host}:{destination.port}"

    chosen = {name: value for name, value in headers.items() if name.lower() != "host"}
    if not any(name.lower() == "accept-encoding" for name in chosen):
        # A compressed excerpt would be unreadable, and inflating it unbounded.
        chosen["Accept-Encoding"] = "identity"
    return {"Host": host, **chosen}


def _release(response: BaseHTTPResponse) -> None:
    """Return the connection to its pool, closed unless the body was read to its end."""
    if not response.closed:
        response.close()
    response.release_conn()


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and everything it wraps, through causes, contexts and arguments."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
        ]
        pending += list(current.args)
        pending = [item for item in pending if isinstance(item, BaseException)]
    return seen


def describe_error(
    error: BaseException, destination: Destination, timeout: float, status: int | None
) -> str:
    """Name what went wrong as "ErrorClass: message", most telling cause first."""
    causes = _causes(error)
    where = f"{destination.ip} port {destination.port}"

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(cause, kinds) for cause in causes)

    if has(TimeoutError, urllib3.exceptions.TimeoutError):
        done = "no response" if status is None else "response not complete"
        return f"Timeout: {done} within {float(timeout)} s"
    if has(ConnectionRefusedError):
        return f"ConnectionRefused: {where} refused the connection"
    if has(ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError):
        return f"TLSError: {_innermost(causes)}"
    if has(http.client.RemoteDisconnected):
        return f"ConnectionClosed: {where} closed the connection without a response"
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return f"ConnectionReset: {where} reset the connection"
    if has(http.client.HTTPException, urllib3.exceptions.ProtocolError):
        return f"ProtocolError: {_innermost(causes)}"
    return f"ConnectionError: {_innermost(causes)}"


def _innermost(causes: list[BaseException]) -> str:
    root = causes[-1]
    return f"{type(root).__name__}: {root}" if str(root) else type(root).__name__


def origin(url: str) -> str:
    """Host and port only: paths may carry tokens that logs must not keep."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return "?"
