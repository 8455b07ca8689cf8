"""The pool of PostgreSQL connections, checked out without a round trip.

Peewee's pool sends ``SELECT 1`` on every check-out, to replace a connection
whose backend ended (a restart, a terminated backend): one statement more for
every request. This pool lets the first statement a checked-out connection runs
find that out instead. A first statement that is safe to run twice (a read, a
transaction's BEGIN) runs again on a connection that answers when the one it
met turns out dead. Before any other first statement the pool still pings, as
Peewee's does: a write whose connection died on the way may have committed.

A transaction's BEGIN is sent with its first statement, in one round trip,
and its COMMIT may be sent with its last one (``commit_with_next``).
"""

from __future__ import annotations

import logging

import peewee
from playhouse.pool import PooledPostgresqlDatabase

log = logging.getLogger("modelhooks.db")

# First statements that change nothing lasting, so running one again after its
# connection died cannot do anything twice: a BEGIN and what follows it in the
# same round trip, a read. A statement prepared by ``app.statement`` is a SELECT
# if its name says so; it is prepared and run in one go the first time.
#
# And the record of a batch's attempts (``app.deliveries``), a write of its
# own: it moves on only the deliveries that still hold the lease it names,
# and clears that lease, so a second run after a first that went through
# matches nothing (as the sender's own retry of it would). Usually the first
# statement of its check-out, it would otherwise cost a ping every time.
RERUNNABLE = ("SELECT", "BEGIN", "PREPARE select_", "EXECUTE select_",
              "PREPARE record_attempts ", "EXECUTE record_attempts ")

DEAD_CONNECTION_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


class Pool(PooledPostgresqlDatabase):
    """``PooledPostgresqlDatabase`` whose check-out costs no statement."""

    def _is_closed(self, conn) -> bool:
        if getattr(self._state, "pinging", False):
            return super()._is_closed(conn)
        # What Peewee checks without a round trip: a connection known to be
        # broken, or left in a transaction (rolled back, as Peewee does).
        if conn.closed:
            return True
        if self._adapter.txn_status(conn) == self._adapter.txn_idle:
            return False
        return self._adapter.is_connection_closed(conn)

    def connect(self, reuse_if_open: bool = False) -> bool:
        opened = super().connect(reuse_if_open)
        if opened:
            self._state.unchecked = True
            # A BEGIN or COMMIT noted for a connection handed back is not
            # this one's.
            self._state.unsent_begin = None
            self._state.commit_with_next = False
            self._state.committed = False
        return opened

    def execute_sql(self, sql, params=None):
        begin = self._take_unsent_begin()
        if begin is not None:
            # Nothing after BEGIN commits without a COMMIT: still safe to run
            # twice if the connection was dead.
            sql = f"{begin}; {sql}"
        if getattr(self._state, "commit_with_next", False):
            self._state.commit_with_next = False
            # Never run twice: the COMMIT may have gone through.
            cursor = self._execute(f"{sql}; COMMIT", params, rerunnable=False)
            self._state.committed = True
            return cursor
        return self._execute(sql, params)

    def _execute(self, sql, params, rerunnable=True):
        if not self._first_statement():
            return super().execute_sql(sql, params)
        if not (rerunnable and sql.startswith(RERUNNABLE)):
            self._replace_if_dead()
            return super().execute_sql(sql, params)
        try:
            return super().execute_sql(sql, params)
        except DEAD_CONNECTION_ERRORS as error:
            self._replace_or_raise(error)
            return super().execute_sql(sql, params)

    def begin(self, isolation_level=None) -> None:
        """Start a transaction with its first statement, in the same round trip.

        A transaction that runs no statement then costs none: its COMMIT or
        ROLLBACK is not sent either.
        """
        if self.is_closed():
            # As Peewee's BEGIN would, through ``cursor()``: connecting later,
            # with the transaction already pushed, would forget it.
            if not self.autoconnect:
                raise peewee.InterfaceError("Error, database connection not opened.")
            self.connect()
        if isolation_level is None:
            isolation_level = self._isolation_level
        statement = "BEGIN"
        if isolation_level:
            level = self._adapter.isolation_level_str(isolation_level)
            statement = f"BEGIN TRANSACTION ISOLATION LEVEL {level}"
        self._state.unsent_begin = statement

    def commit_with_next(self) -> None:
        """Send the transaction's COMMIT with its next statement, in the same
        round trip; the block's own commit then sends nothing.

        Call it only before the last statement of an outermost transaction,
        one whose rows are not needed (the COMMIT's answer is what comes
        back). Within a transaction inside another it does nothing; Peewee's
        savepoints do not show in the depth, so never call it inside one.
        What runs after that statement is no longer in the transaction.
        """
        if self.transaction_depth() == 1:
            self._state.commit_with_next = True

    def commit(self) -> None:
        if not self._ended_already() and self._take_unsent_begin() is None:
            super().commit()

    def rollback(self) -> None:
        if not self._ended_already() and self._take_unsent_begin() is None:
            super().rollback()

    def _ended_already(self) -> bool:
        """Whether the transaction's COMMIT went with its last statement."""
        ended = getattr(self._state, "committed", False)
        self._state.committed = False
        self._state.commit_with_next = False
        return ended

    def _take_unsent_begin(self) -> str | None:
        statement = getattr(self._state, "unsent_begin", None)
        self._state.unsent_begin = None
        return statement

    def _first_statement(self) -> bool:
        """Whether the statement about to run is the first of this check-out."""
        if self.is_closed():
            self.connect()
        first = getattr(self._state, "unchecked", False)
        self._state.unchecked = False
        return first

    def _replace_if_dead(self) -> None:
        if self._adapter.is_connection_closed(self._state.conn):
            self._replace_connection()

    def _replace_or_raise(self, error: Exception) -> None:
        """After a first statement failed: a dead connection is replaced, or
        the error was about something else and stands."""
        if not self._state.conn.closed:
            raise error
        log.info("a pooled connection was dead (%s); running its first statement "
                 "again", error)
        self._replace_connection()

    def _replace_connection(self) -> None:
        """Swap the thread's dead connection for one that answers a ping.

        Only the connection changes: the thread's transactions (none has
        reached the server yet) and connection contexts stay as they are.
        """
        self._close(self._state.conn, close_conn=True)
        # If one was dead, the others in the pool may be too (a restart):
        # Peewee's check-out, which pings each, finds one that is not.
        self._state.pinging = True
        try:
            # As Peewee's own connect does: a server that refuses (down, or
            # shutting down) is the database's OperationalError, which the
            # API answers with 503, not the driver's, which would be a 500.
            with peewee.__exception_wrapper__:
                self._state.conn = self._connect()
        finally:
            self._state.pinging = False

