"""A Redis command sent as bytes packed once, on a connection each thread keeps.

redis-py's client checks a connection out of its pool, packs the command and
wraps the call in its retry machinery for every command: for the one command
every report sends (the queued-drain flag) that was most of what publishing
cost the web process.
"""

from __future__ import annotations

import threading

import redis


class PackedCommand:
    """``args`` for the Redis of ``client``; ``run`` answers its reply."""

    def __init__(self, client: redis.Redis, *args: object) -> None:
        self._pool = client.connection_pool
        self._packed = _packed(self._pool, args)
        self._local = threading.local()

    def run(self):
        try:
            return self._send()
        except redis.ConnectionError:
            # A connection the server closed while it was idle (a restart, a
            # timeout) is made again once, as redis-py's client does.
            return self._send()

    def _send(self):
        connection = self._connection()
        try:
            connection.send_packed_command(self._packed)
            return connection.read_response()
        except BaseException:
            # The next send connects again rather than read a stale reply.
            connection.disconnect()
            raise

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # Kept for the thread's life, never handed back: the thread sends
            # one command at a time, and the pool would only hand it out again.
            connection = self._local.connection = self._pool.make_connection()
        return connection


def _packed(pool: redis.ConnectionPool, args: tuple) -> list[bytes]:
    # Packing needs no connection to the server, only its settings.
    return pool.connection_class(**pool.connection_kwargs).pack_command(*args)
