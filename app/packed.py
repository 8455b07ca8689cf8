"""Redis commands packed once and sent together on a connection each thread
keeps.

redis-py checks a connection out of its pool, packs every command and wraps
the call in its retry machinery each time: for the commands every report
sends (the queued-drain flag and the wake-up) that was a tenth of the web
process's CPU. Here the bytes are made once, and one write and one read of
the replies serve each report.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import redis


class PackedCommands:
    """``commands`` for the Redis of ``client``; ``run`` answers their replies."""

    def __init__(self, client: redis.Redis, commands: Sequence[tuple[object, ...]]
                 ) -> None:
        self._pool = client.connection_pool
        # Packing needs no connection to the server, only its settings.
        packer = self._pool.connection_class(**self._pool.connection_kwargs)
        self._packed = [part for command in commands
                        for part in packer.pack_command(*command)]
        self._count = len(commands)
        self._local = threading.local()

    def run(self) -> list[object]:
        try:
            return self._send()
        except redis.ConnectionError:
            # A connection the server closed while it was idle (a restart, a
            # timeout) is made again once, as redis-py's client does.
            return self._send()

    def _send(self) -> list[object]:
        connection = self._connection()
        try:
            connection.send_packed_command(self._packed)
            return [connection.read_response() for _ in range(self._count)]
        except BaseException:
            # The next send connects again rather than read a stale reply.
            connection.disconnect()
            raise

    def _connection(self) -> redis.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # Kept for the thread's life, never handed back: the thread sends
            # one batch at a time, and the pool would only hand it out again.
            connection = self._local.connection = self._pool.make_connection()
        return connection
