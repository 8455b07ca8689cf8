"""Many delivery attempts at once on one event loop: the batch transport.

``BatchTransport.post_many`` makes the POSTs of a batch concurrently, at most
``concurrency`` in flight, on an asyncio loop that runs on a thread of its own,
and hands back one ``AttemptResult`` per request, in the requests' order. It is
called from ordinary worker threads, several at once; their batches share the
loop and its keep-alive connections.

Each attempt keeps every promise of ``workers.transport.Transport``: the URL
is checked again and its name resolved once, the connection goes to that
checked address while Host and TLS name the URL's host, redirects are not
followed, at most ``excerpt_limit`` bytes of the answer are read and the
connection is dropped rather than drained, and one deadline of ``timeout``
seconds, starting when the attempt gets its place among those in flight,
covers the connect, the send, the head and the body read. The results are
worded as the threaded transport words them.

What an attempt costs the loop is kept small, as a fan-out makes thousands:
a batch runs as ``concurrency`` coroutines that take its requests in turn
(no task, semaphore or wrapper per request); a URL already checked in the
batch is not checked again (``workers.destinations``); on a kept connection
an attempt is one write and one future, which the connection's protocol ends
as the answer is read or its one timer ends at the deadline
(``workers.connections``).

A process that forks (Celery's prefork pool) first lets the batches in flight
end, then closes the loop and its connections: a child shares its parent's
epoll instance, and any socket it closed through an inherited loop would be
taken out of the parent's. Parent and child each start a loop of their own on
their next batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import logging
import os
import ssl
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TypeVar

from app.errors import DestinationNotAllowed
from app.targets import Destination, Resolver, resolve_host
from workers.connections import ConnectionPool
from workers.destinations import Destinations
from workers.exchange import Answer, keeps_alive, request_bytes
from workers.loop_thread import LoopThread
from workers.transport import (
    AttemptResult,
    answered,
    describe_error,
    failure,
    origin,
    request_headers,
    unreachable,
)

log = logging.getLogger("modelhooks.transport")

Made = TypeVar("Made")

# Threads that look names up, per process. A lookup may hang until the
# system's resolver gives up, long after its attempt's deadline: with a few
# names held up so, the others still find a thread.
LOOKUP_THREADS = 64


@dataclass(frozen=True)
class PostRequest:
    """One attempt to make: POST ``body`` to ``url`` within ``timeout`` seconds.

    ``headers`` may be a function giving them, called when the attempt gets
    its place in the batch: a signature's timestamp is then that of the
    attempt, however many waves of a long batch went before it.
    """

    url: str
    body: bytes
    headers: Mapping[str, str] | Callable[[], Mapping[str, str]]
    timeout: float

    def headers_now(self) -> Mapping[str, str]:
        return self.headers() if callable(self.headers) else self.headers


class BatchTransport:
    """Sends batches of attempts on one event loop; safe to share between threads.

    The loop starts on first use. Idle connections are kept per (scheme, host,
    port, address), at most ``connections_per_pool`` each (by default as many
    as a batch has in flight), for the ``max_pools`` most recently used
    destinations. An attempt never raises: even a fault of modelhooks' own
    becomes an ``InternalError`` result, so that a batch keeps its other results.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = resolve_host,
        excerpt_limit: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
        concurrency: int = 50,
        connections_per_pool: int | None = None,
        max_pools: int = 100,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.allow_private = allow_private
        self.excerpt_limit = excerpt_limit
        self.concurrency = concurrency
        self._resolve = resolve
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._pool_sizes = {
            "per_pool": connections_per_pool or concurrency,
            "max_pools": max_pools,
        }
        self._lock = threading.Lock()
        self._running: tuple[LoopThread, ConnectionPool] | None = None
        self._batches = threading.Condition()
        self._in_flight = 0
        self._forking = False
        _transports.add(self)

    def post_many(self, requests: Sequence[PostRequest]) -> list[AttemptResult]:
        """Make every attempt of ``requests``; their results, in the same order."""
        if not requests:
            return []
        with self._batch():
            return self._schedule(requests).result()

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float
    ) -> AttemptResult:
        """POST one attempt, as ``Transport.post`` does."""
        [result] = self.post_many([PostRequest(url, body, headers, timeout)])
        return result

    def close(self) -> None:
        """Close the connections and stop the loop; a later batch starts them again.

        Batches still in flight end with ``CancelledError``.
        """
        with self._lock:
            running, self._running = self._running, None
        if running is None:
            return

        loop_thread, pool = running
        loop_thread.stop(last=pool.close)

    def _schedule(self, requests: Sequence[PostRequest]
                  ) -> concurrent.futures.Future[list[AttemptResult]]:
        # Under the lock that ``close`` takes: a batch is either on the loop
        # before ``close`` winds it down (and ends with CancelledError), or it
        # starts a loop of its own after.
        with self._lock:
            if self._running is None:
                loop_thread = LoopThread("modelhooks-batch-transport",
                                         executor_threads=LOOKUP_THREADS)
                pool = ConnectionPool(self._ssl_context, **self._pool_sizes)
                self._running = (loop_thread, pool)
            loop_thread, pool = self._running
            return loop_thread.submit(self._post_all(pool, requests))

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Count the batch in flight; wait first while the process forks."""
        with self._batches:
            self._batches.wait_for(lambda: not self._forking)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._batches:
                self._in_flight -= 1
                self._batches.notify_all()

    def _before_fork(self) -> None:
        # The batches in flight end by their deadlines; new ones wait.
        with self._batches:
            self._forking = True
            self._batches.wait_for(lambda: self._in_flight == 0)
        self.close()

    def _after_fork_in_parent(self) -> None:
        with self._batches:
            self._forking = False
            self._batches.notify_all()

    def _after_fork_in_child(self) -> None:
        # Another thread of the parent may have held these at the fork.
        self._lock = threading.Lock()
        self._batches = threading.Condition()
        self._forking = False

    async def _post_all(
        self, pool: ConnectionPool, requests: Sequence[PostRequest]
    ) -> list[AttemptResult]:
        destinations = Destinations(self._resolve, self.allow_private)
        results: list[AttemptResult] = [_NOT_MADE] * len(requests)
        waiting = iter(enumerate(requests))

        async def take_turns() -> None:
            # ``concurrency`` of these share the requests: each is one place
            # in flight, and an attempt starts when a place takes it.
            for index, request in waiting:
                results[index] = await self._post_one(pool, destinations, request)

        places = min(self.concurrency, len(requests))
        await asyncio.gather(*(take_turns() for _ in range(places)))
        return results

    async def _post_one(
        self, pool: ConnectionPool, destinations: Destinations, request: PostRequest
    ) -> AttemptResult:
        started = time.monotonic()
        started_at = datetime.now(timezone.utc).replace(tzinfo=None)
        try:
            result = await self._attempt(pool, destinations, request)
        except Exception as error:
            # A fault of modelhooks, not of the receiver: it fails this
            # attempt alone, and the batch's other results are kept.
            where = origin(request.url)
            log.error("attempt to %s broke in modelhooks", where, exc_info=True)
            result = failure(f"InternalError: {type(error).__name__}: {error}")

        result = replace(result, duration=time.monotonic() - started,
                         started_at=started_at)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("attempt to %s: %s", origin(request.url), result)
        return result

    async def _attempt(
        self, pool: ConnectionPool, destinations: Destinations, request: PostRequest
    ) -> AttemptResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout
        destination = destinations.known(request.url)
        if destination is None:
            # The name's lookup counts against the attempt's deadline too: a
            # receiver may run the DNS server that answers for it.
            try:
                destination = await _within(destinations.of(request.url), deadline)
            except asyncio.TimeoutError:
                return failure(
                    f"Timeout: no response within {float(request.timeout)} s")
            except (DestinationNotAllowed, OSError) as error:
                return unreachable(request.url, error)

        headers = request_headers(destination, dict(request.headers_now()))
        message = request_bytes(destination.target, headers, request.body)
        answer = Answer()
        try:
            return await self._exchange(pool, destination, message, answer, deadline)
        except asyncio.TimeoutError:
            # Before Python 3.11 asyncio's TimeoutError is not the built-in one.
            error: BaseException = TimeoutError()
        except (http.client.HTTPException, OSError) as failed:
            error = failed
        status = answer.head.status if answer.head else None
        described = describe_error(error, destination, request.timeout, status)
        return failure(described, status)

    async def _exchange(
        self,
        pool: ConnectionPool,
        destination: Destination,
        message: bytes,
        answer: Answer,
        deadline: float,
    ) -> AttemptResult:
        connection = pool.take(destination)
        if connection is None:
            connection = await _within(pool.connect(destination), deadline)
        elif asyncio.get_running_loop().time() >= deadline:
            # Nothing is sent once the deadline has passed, as for a new one.
            pool.give_back(destination, connection)
            raise TimeoutError()

        try:
            await connection.ask(message, self.excerpt_limit, answer, deadline)
        except BaseException:
            connection.drop()
            raise

        head, excerpt = answer.head, answer.excerpt
        if excerpt.complete and keeps_alive(head):
            pool.give_back(destination, connection)
        else:
            # The rest may be endless: drop the connection rather than drain it.
            connection.drop()
        retry_after = head.headers.get("retry-after")
        return answered(head.status, excerpt.data, self.excerpt_limit, retry_after)


# Stands for a result not made yet; every one is replaced before the batch ends.
_NOT_MADE = failure("InternalError: no attempt made")


async def _within(awaitable: Awaitable[Made], deadline: float) -> Made:
    """``awaitable``'s result, or ``asyncio.TimeoutError`` at ``deadline``.

    Only for the rare waits, a name's lookup or a new connection: the answer
    on a connection has its deadline's timer of its own.
    """
    remaining = deadline - asyncio.get_running_loop().time()
    return await asyncio.wait_for(awaitable, remaining)


_transports: weakref.WeakSet[BatchTransport] = weakref.WeakSet()


def _before_fork() -> None:
    for transport in list(_transports):
        transport._before_fork()


def _after_fork_in_parent() -> None:
    for transport in list(_transports):
        transport._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for transport in list(_transports):
        transport._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
