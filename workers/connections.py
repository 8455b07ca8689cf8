"""Keep-alive connections of the batch transport, on its event loop.

A connection is opened to the checked address of a ``Destination``, never to a
name, and for https names the URL's host in TLS (SNI and certificate check).
Idle connections are kept per (scheme, host, port, address), so that one is
reused only for the same host at the same checked address.

A ``Connection`` is an asyncio protocol: the loop hands it each read, and it
feeds the answer being read (``workers.exchange.read_answer``) at once, with
no stream, task or watch between. A receiver may say nothing it was not
asked: a byte left over from the last answer, or sent while the connection
waits, would be read as the start of the next answer (and the answers of two
deliveries swapped), so a connection that gets any byte while no answer is
being read is dropped at once, and one that holds any byte after its answer
is never used again. Everything here runs on the loop's thread: no locks.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Callable

from app.targets import Destination
from workers.exchange import Answer, Incoming, Reading, read_answer

PoolKey = tuple[str, str, int, str]


class Connection(asyncio.Protocol):
    """One open connection to a receiver; at most one answer read at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._incoming = Incoming()
        # While an answer is asked for: its reading, its future, its deadline.
        self._reading: Reading[None] | None = None
        self._answered: asyncio.Future[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        # While idle: lets the pool let go of it once it is lost.
        self._forget: Callable[[Connection], None] | None = None

    def ask(self, message: bytes, limit: int, answer: Answer,
            deadline: float) -> asyncio.Future[None]:
        """Send ``message``; the future ends once ``answer`` has been read.

        It fails with the receiver's error (http.client's, or the connection's
        ``OSError``), or with ``TimeoutError`` at ``deadline`` (loop time).
        """
        loop = asyncio.get_running_loop()
        self._answered = loop.create_future()
        self._reading = read_answer(self._incoming, limit, answer)
        self._deadline = loop.call_at(deadline, self._time_out)
        # No wait for the write: the whole message is in memory anyway, and
        # the answer's wait, under the same deadline, covers its sending.
        self.transport.write(message)
        self._read_on()
        return self._answered

    def rest(self, forget: Callable[[Connection], None]) -> None:
        """Idle from now on: ``forget`` lets its pool let go of it once lost."""
        self._forget = forget

    def wake(self) -> bool:
        """Take it out of idleness; False if it is no longer fit to use."""
        self._forget = None
        return self.clean()

    def clean(self) -> bool:
        """Open, and holding no byte that no request asked for."""
        return not (self.transport.is_closing() or self._incoming.ended
                    or self._incoming.data)

    def drop(self) -> None:
        """Close at once: nothing more is read, nothing waits to be sent."""
        self._stop_reading()
        self.transport.abort()

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._reading is None:
            # Unasked: it answers nothing, and would answer the next request.
            self.drop()
            return
        self._incoming.data += data
        self._read_on()

    def eof_received(self) -> bool:
        self._incoming.ended = True
        if self._reading is not None:
            self._read_on()
        return False  # the transport closes itself

    def connection_lost(self, error: Exception | None) -> None:
        if self._reading is not None:
            if error is None:
                self._incoming.ended = True
                self._read_on()
            else:
                self._end(error)
        if self._forget is not None:
            forget, self._forget = self._forget, None
            forget(self)

    def _read_on(self) -> None:
        try:
            next(self._reading)  # type: ignore[arg-type]
        except StopIteration:
            self._end(None)
        except Exception as error:  # the receiver broke a rule, or we did
            self._end(error)

    def _time_out(self) -> None:
        self._end(TimeoutError())

    def _end(self, error: BaseException | None) -> None:
        answered = self._answered
        self._stop_reading()
        if answered is None or answered.done():
            return
        if error is None:
            answered.set_result(None)
        else:
            answered.set_exception(error)

    def _stop_reading(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._reading = self._answered = self._deadline = None


async def open_connection(
    destination: Destination, ssl_context: ssl.SSLContext
) -> Connection:
    """Connect to ``destination.ip``; ``destination.host`` names it in TLS.

    No name is looked up: asyncio takes a numeric address as it is.
    """
    tls = destination.scheme == "https"
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_connection(
        Connection,
        destination.ip,
        destination.port,
        ssl=ssl_context if tls else None,
        server_hostname=destination.host if tls else None,
    )
    return connection


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

    def take(self, destination: Destination) -> Connection | None:
        """A still open idle connection to ``destination``, if there is one."""
        idle = self._idle.get(_key(destination))
        while idle:
            connection = idle.pop()
            if connection.wake():
                return connection
            connection.drop()
        return None

    async def connect(self, destination: Destination) -> Connection:
        """A new connection to ``destination``."""
        return await open_connection(destination, self._ssl_context)

    def give_back(self, destination: Destination, connection: Connection) -> None:
        """Keep ``connection`` for a later request to the same destination."""
        key = _key(destination)
        idle = self._idle.setdefault(key, [])
        self._idle.move_to_end(key)
        if len(idle) >= self._per_pool or not connection.clean():
            connection.drop()
            return

        connection.rest(lambda lost: _remove(idle, lost))
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
