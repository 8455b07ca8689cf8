"""Redis commands packed once and sent together.

redis-py packs every command and wraps the call in its retry machinery each
time: for the commands every report sends (the queued-drain flag and the
wake-up) its pipeline was a tenth of the web process's CPU. Here the bytes
are made once, and one write and one read of the replies serve each report,
on a connection of the client's own pool.
"""

from __future__ import annotations

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

    def run(self) -> list[object]:
        try:
            return self._send()
        except redis.ConnectionError:
            # A connection the server closed while it was idle (a restart, a
            # timeout) is made again once, as redis-py's client does.
            return self._send()

    def _send(self) -> list[object]:
        # From the pool and back to it: a connection kept per thread leaked
        # one for every thread of a server that starts one per request.
        connection = self._pool.get_connection()
        try:
            connection.send_packed_command(self._packed)
            return [connection.read_response() for _ in range(self._count)]
        except BaseException:
            # The next send connects again rather than read a stale reply.
            connection.disconnect()
            raise
        finally:
            self._pool.release(connection)
