"""Statements run for every report, prepared once per PostgreSQL connection.

psycopg2 sends each statement as text, and PostgreSQL parses and plans it
afresh every time: for the short statements of a report that is most of what
they cost the server. A ``Statement`` is PREPAREd the first time a connection
runs it and EXECUTEd by name from then on; on SQLite it is run as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from app import db


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

    def run(self, params: Sequence[object] = ()):
        """The cursor of the statement run with ``params``."""
        if not db.is_postgres():
            return db.execute(self.sql, params)
        prepared = db.database.connection().prepared
        if self.name not in prepared:
            # Not undone by a rollback: a prepared statement belongs to the session.
            db.database.execute_sql(self._prepare)
            prepared.add(self.name)
        return db.database.execute_sql(self._execute, params)


def _numbered(sql: str) -> str:
    """``%s`` placeholders as PostgreSQL's ``$1``, ``$2``, ... in order."""
    pieces = sql.split("%s")
    numbered = [pieces[0]]
    for number, piece in enumerate(pieces[1:], start=1):
        numbered.append(f"${number}{piece}")
    return "".join(numbered)
