"""A Redis and a PostgreSQL of the chaos suite's own, on loopback.

The suite stops, empties and restarts these, so they must never be the
machine's shared servers: each is started here as a child process on a free
port, with its files in a temporary directory, and stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg2
import redis

from tests.e2e.stack import free_port, wait_until

POSTGRES_BIN = Path(os.environ.get("CHAOS_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "chaos"


class ChildServer:
    """A server process we started; ``stop`` ends it by its pid and waits."""

    popen: subprocess.Popen | None = None
    stop_signal = signal.SIGTERM

    def start(self) -> None:
        raise NotImplementedError

    def is_up(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def restart(self) -> float:
        """Stop and start again on the same port; answer the seconds it took."""
        began = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - began


class OwnRedis(ChildServer):
    """``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / "redis.log"
        self.client = redis.Redis(port=self.port, socket_timeout=2,
                                  socket_connect_timeout=1)

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--logfile", str(self.log_path)]
        self.popen = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT)
        wait_until(self.is_up, 10, what=f"redis on port {self.port}")

    def is_up(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def flushall(self) -> None:
        self.client.flushall()


class OwnPostgres(ChildServer):
    """A throwaway PostgreSQL cluster on a free loopback port.

    PostgreSQL refuses to run as root, so when we are root the cluster belongs
    to the ``postgres`` user; its temporary directory is handed over to it.
    """

    # SIGINT is PostgreSQL's "fast" shutdown: sessions are cut, nothing is lost.
    stop_signal = signal.SIGINT

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.data = root / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"
        self._user = "postgres" if os.geteuid() == 0 else None

    def initialise(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user:
            shutil.chown(self.root, self._user)
        subprocess.run([str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-A",
                        "trust", "-U", "postgres", "--no-sync"], check=True,
                       user=self._user, stdout=subprocess.DEVNULL)
        self.start()
        with self._admin("postgres") as connection:
            connection.cursor().execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        args = [str(POSTGRES_BIN / "postgres"), "-D", str(self.data),
                "-p", str(self.port), "-k", str(self.root),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "max_connections=200"]
        log = open(self.root / "postgres.log", "ab")
        self.popen = subprocess.Popen(args, user=self._user, stdout=log,
                                      stderr=subprocess.STDOUT)
        log.close()
        wait_until(self.is_up, 30, what=f"postgres on port {self.port}")

    def is_up(self) -> bool:
        try:
            with self._admin("postgres"):
                return True
        except psycopg2.OperationalError:
            return False

    def terminate_sessions(self) -> int:
        """End every other session on the suite's database; answer how many."""
        with self._admin(DATABASE) as connection:
            cursor = connection.cursor()
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (DATABASE,))
            return cursor.fetchone()[0]

    def backends(self) -> list[tuple[int, str]]:
        """(pid, application_name) of every other session on the database."""
        with self._admin(DATABASE) as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT pid, application_name FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()",
                           (DATABASE,))
            return cursor.fetchall()

    def _admin(self, database: str):
        connection = psycopg2.connect(host="127.0.0.1", port=self.port,
                                      user="postgres", dbname=database,
                                      connect_timeout=2)
        connection.autocommit = True
        return _Closing(connection)


class _Closing:
    """``with`` for a psycopg2 connection that closes it (psycopg2's does not)."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, *_exc) -> None:
        self.connection.close()
