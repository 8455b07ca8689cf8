"""Statements run for every report, prepared once per PostgreSQL connection.

psycopg2 sends each statement as text, and PostgreSQL parses and plans it
afresh every time: for the short statements of a report that is most of what
they cost the server. A ``Statement`` is PREPAREd the first time a connection
runs it and EXECUTEd by name from then on; on SQLite it is run as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import peewee

from app import db

# PostgreSQL's code for "prepared statement ... does not exist".
UNKNOWN_STATEMENT = "26000"


class Statement:
    """One hand-written statement with ``%s`` placeholders (see ``db.execute``).

    ``types`` are the PostgreSQL types of its parameters, in order: declared in
    the PREPARE, so that a NULL or a bare literal is never ambiguous; there is
    at least one. A
    statement for PostgreSQL only may number its parameters itself (``$1``),
    to use one more than once.
    """

    def __init__(self, name: str, sql: str, types: Sequence[str]) -> None:
        self.name = name
        self.sql = sql
        self._prepare = f"PREPARE {name} ({', '.join(types)}) AS {_numbered(sql)}"
        self._execute = f"EXECUTE {name} ({', '.join(['%s'] * len(types))})"
        self._prepare_and_execute = f"{self._prepare}; {self._execute}"

    def run(self, params: Sequence[object] = ()):
        """The cursor of the statement run with ``params``."""
        if not db.is_postgres():
            return db.execute(self.sql, params)
        try:
            return self._prepared_run(params)
        except peewee.DatabaseError as error:
            if not _unknown_statement(error):
                raise
            # The backend does not know it: the pool swapped a dead connection
            # for another on this first statement (see ``app.pool``), the
            # session was reset, or the PREPARE itself failed. It is prepared
            # again next time; outside a transaction nothing is lost by doing
            # so at once.
            db.database.connection().prepared.discard(self.name)
            if db.database.in_transaction():
                raise
            return self._prepared_run(params)

    def _prepared_run(self, params: Sequence[object]):
        connection = db.database.connection()
        if self.name in connection.prepared:
            return db.database.execute_sql(self._execute, params)
        # Both in one round trip. Noted before they run: the PREPARE stays on
        # the backend even when the EXECUTE fails and its transaction rolls
        # back, and sending it again would fail as a duplicate.
        connection.prepared.add(self.name)
        try:
            return db.database.execute_sql(self._prepare_and_execute, params)
        finally:
            # The connection that ran it, failed or not: the pool may have
            # swapped a dead one for it, which then kept the PREPARE too.
            db.database.connection().prepared.add(self.name)


def _unknown_statement(error: Exception) -> bool:
    # Peewee raises its own error while handling psycopg2's, which has the code.
    return getattr(error.__context__, "pgcode", None) == UNKNOWN_STATEMENT


def _numbered(sql: str) -> str:
    """``%s`` placeholders as PostgreSQL's ``$1``, ``$2``, ... in order."""
    pieces = sql.split("%s")
    numbered = [pieces[0]]
    for number, piece in enumerate(pieces[1:], start=1):
        numbered.append(f"${number}{piece}")
    return "".join(numbered)
