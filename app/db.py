"""The database connection shared by every model.

Models bind to ``database``, a proxy that ``open_database`` points at SQLite or
PostgreSQL according to ``DATABASE_URL``. Connections are per thread (Peewee's
default), opened on first use and handed back at the end of each request or
task, so a web thread or a worker never holds one while it waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar
from urllib.parse import unquote, urlparse

import peewee
from psycopg2.extensions import connection as Psycopg2Connection

from app.errors import DependencyUnavailable
from app.pool import Pool

log = logging.getLogger("modelhooks.db")

database = peewee.DatabaseProxy()

# SQLite settings that let the web process and several workers share one file:
# readers never block the writer (WAL), and a writer waits for the lock rather
# than failing at once.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10_000,
    "foreign_keys": 1,
    "synchronous": "normal",
}

# Errors that mean "the database is not there right now", not "the query is wrong".
UNAVAILABLE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)

T = TypeVar("T")


def open_database(url: str) -> peewee.Database:
    """Point the shared proxy at the database named by ``url`` and return it."""
    if url.startswith("sqlite"):
        target = _sqlite(url)
    else:
        target = _postgres(url)

    database.initialize(target)
    return target


def _sqlite(url: str) -> peewee.SqliteDatabase:
    path = url.split("://", 1)[1].lstrip("/") if "://" in url else ""
    if url.startswith("sqlite:////"):
        path = "/" + path
    # BEGIN IMMEDIATE: a transaction that reads, then writes, takes the write
    # lock at its start and waits for it (busy_timeout). A deferred one would
    # fail at once with "database is locked" when another writer got in between.
    return peewee.SqliteDatabase(path or ":memory:", pragmas=SQLITE_PRAGMAS,
                                 timeout=10, lock_type="IMMEDIATE")


class Connection(Psycopg2Connection):
    """A psycopg2 connection that knows the statements prepared on its backend.

    A new backend always comes with a new connection object, so a statement is
    never taken for prepared on a backend that has not seen it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


def _postgres(url: str) -> Pool:
    parts = urlparse(url)
    # A connection whose session ended (a restart, a terminated backend) is
    # replaced when its first statement finds it dead (see ``app.pool``).
    return Pool(
        unquote(parts.path.lstrip("/")),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname,
        port=parts.port,
        max_connections=64,
        stale_timeout=300,
        timeout=10,
        connect_timeout=5,
        connection_factory=Connection,
    )


@contextmanager
def connection() -> Iterator[None]:
    """Hold a connection for the block and hand it back after, even on error.

    Blocks nest: only the outermost one opens and hands back the connection.
    """
    opened = database.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened and not database.is_closed():
            database.close()


def atomic(function: Callable[[], T]) -> T:
    """Run ``function`` in one transaction; a lost database becomes 503-worthy.

    Inside a transaction already, ``function`` joins it: a fault rolls the
    whole of it back anyway, and a savepoint would only cost two round trips.
    """
    def in_one_transaction() -> T:
        if database.in_transaction():
            return function()
        with database.atomic():
            return function()

    return run(in_one_transaction)


def run(function: Callable[[], T]) -> T:
    """Run ``function`` in no transaction of its own (each statement is one,
    unless a transaction is open); a lost database becomes 503-worthy."""
    try:
        return function()
    except UNAVAILABLE_ERRORS as error:
        raise DependencyUnavailable(f"database unavailable: {error}") from error


def commit_with_next() -> None:
    """Send the outermost transaction's COMMIT with its next statement, which
    must be its last (PostgreSQL; elsewhere the block commits as usual)."""
    if isinstance(database.obj, Pool):
        database.obj.commit_with_next()


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def execute(sql: str, params: Sequence[object] = ()):
    """Run SQL written by hand, with ``%s`` placeholders, on either database.

    The hot statements of the API are written once as text: Peewee would build
    the same text again for every request, a quarter of the web process's CPU.
    """
    return database.execute_sql(_with_placeholders(sql, database.param), params)


@lru_cache(maxsize=64)
def _with_placeholders(sql: str, param: str) -> str:
    return sql if param == "%s" else sql.replace("%s", param)


def for_update(query: peewee.ModelSelect) -> peewee.ModelSelect:
    """Lock the selected rows until the transaction ends (PostgreSQL).

    SQLite needs nothing: its transactions begin with the write lock held.
    """
    if is_postgres():
        return query.for_update()
    return query


def locking(select: str) -> str:
    """A hand-written SELECT that locks its rows, as ``for_update`` does."""
    return f"{select} FOR UPDATE" if is_postgres() else select


def ping() -> None:
    """Raise ``DependencyUnavailable`` unless the database answers a query."""
    try:
        with connection():
            database.execute_sql("SELECT 1")
    except UNAVAILABLE_ERRORS as error:
        raise DependencyUnavailable(f"database unavailable: {error}") from error
