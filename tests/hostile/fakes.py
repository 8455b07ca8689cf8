"""Stand-ins shared by the hostile suite: a fake DNS and a listener that counts.

Nothing here looks a name up or connects anywhere. The fake resolver answers
from a table (and records every question), so addresses such as 172.18.0.5 are
only ever strings; the counting listener binds 127.0.0.1 so a test can prove
that no connection reached it.
"""

from __future__ import annotations

import socket
import threading

# A public address, only ever handed out by the fake resolver: no test connects
# to it, because the names that resolve to it are refused or never delivered.
PUBLIC_ADDRESS = "93.184.216.34"


class FakeResolver:
    """Answers ``resolve(host, port)`` from ``answers``; unknown names fail.

    ``later``, when given, answers every question after a name's first one, as
    a DNS server that changes its answer between two lookups would.
    """

    def __init__(
        self,
        answers: dict[str, list[str]],
        later: dict[str, list[str]] | None = None,
    ) -> None:
        self.answers = dict(answers)
        self.later = dict(later or {})
        self.questions: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        asked_before = host in self.questions
        self.questions.append(host)

        table = self.later if asked_before and host in self.later else self.answers
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not in the table")
        return list(table[host])


class CountingListener:
    """A loopback TCP listener that counts the connections it accepts."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.bind((host, 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            connection.close()
