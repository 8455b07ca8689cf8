"""Keep-alive connections of the batch transport, on its event loop.

A connection is opened to the checked address of a ``Destination``, never to a
name, and for https names the URL's host in TLS (SNI and certificate check).
Idle connections are kept per (scheme, host, port, address), so that one is
reused only for the same host at the same checked address. A receiver may say
nothing on an idle connection: a byte left over from the last answer, or sent
while it waits, would be read as the start of the next answer (and the answers
of two deliveries swapped), so an idle connection that has anything to read is
dropped at once. Everything here runs on the loop's thread: no locks.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.targets import Destination
from workers.exchange import STREAM_LIMIT

PoolKey = tuple[str, str, int, str]


@dataclass(eq=False)
class Connection:
    """One open stream to a receiver."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    # While idle: waits for a byte that no request asked for.
    _watch: asyncio.Task[bytes] | None = None

    def rest(self, forget: Callable[[Connection], None]) -> None:
        """Idle from now on: the first byte the receiver sends drops it, and
        ``forget`` lets its pool let go of it (and of what it had read)."""
        self._watch = asyncio.ensure_future(self.reader.read(1))
        self._watch.add_done_callback(lambda watch: self._dropped(watch, forget))

    async def wake(self) -> bool:
        """Take it out of idleness; False if it is no longer fit to use."""
        watch, self._watch = self._watch, None
        if watch is None or watch.done():
            return False
        watch.cancel()
        await asyncio.wait([watch])  # the reader is free only once it has ended
        # Bytes that arrived while the watch was ending are in the buffer.
        return not (watch.done() and not watch.cancelled()
                    or self.writer.is_closing() or self.reader.at_eof()
                    or _buffered(self.reader))

    def _dropped(self, watch: asyncio.Task[bytes],
                 forget: Callable[[Connection], None]) -> None:
        if not watch.cancelled():
            self.drop()
            forget(self)

    def drop(self) -> None:
        """Close at once: nothing more is read, nothing waits to be sent."""
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
        self.writer.transport.abort()


def _buffered(reader: asyncio.StreamReader) -> int:
    # asyncio has no public way to ask how much a StreamReader holds unread.
    return len(reader._buffer)


async def open_connection(
    destination: Destination, ssl_context: ssl.SSLContext
) -> Connection:
    """Connect to ``destination.ip``; ``destination.host`` names it in TLS.

    No name is looked up: asyncio takes a numeric address as it is.
    """
    tls = destination.scheme == "https"
    reader, writer = await asyncio.open_connection(
        destination.ip,
        destination.port,
        ssl=ssl_context if tls else None,
        server_hostname=destination.host if tls else None,
        limit=STREAM_LIMIT,
    )
    return Connection(reader, writer)


class ConnectionPool:
    """Idle connections for the ``max_pools`` most recently used destinations.

    At most ``per_pool`` idle connections are kept for each; one more is
    closed when it comes back.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, *, per_pool: int, max_pools: int
    ) -> None:
        self._ssl_context = ssl_context
        self._per_pool = per_pool
        self._max_pools = max_pools
        self._idle: OrderedDict[PoolKey, list[Connection]] = OrderedDict()

    async def take(self, destination: Destination) -> Connection:
        """A still open idle connection to ``destination``, else a new one."""
        idle = self._idle.get(_key(destination), [])
        while idle:
            connection = idle.pop()
            if await connection.wake():
                return connection
            connection.drop()
        return await open_connection(destination, self._ssl_context)

    def give_back(self, destination: Destination, connection: Connection) -> None:
        """Keep ``connection`` for a later request to the same destination."""
        key = _key(destination)
        idle = self._idle.setdefault(key, [])
        self._idle.move_to_end(key)
        if len(idle) >= self._per_pool:
            connection.drop()
            return

        connection.rest(lambda dropped: _remove(idle, dropped))
        idle.append(connection)
        while len(self._idle) > self._max_pools:
            for evicted in self._idle.popitem(last=False)[1]:
                evicted.drop()

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for connection in idle:
                connection.drop()
        self._idle.clear()


def _remove(idle: list[Connection], connection: Connection) -> None:
    if connection in idle:
        idle.remove(connection)


def _key(destination: Destination) -> PoolKey:
    return (destination.scheme, destination.host, destination.port, destination.ip)
