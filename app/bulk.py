"""Bulk inserts: many rows in one statement, without a query builder per value.

A fan-out to thousands of callbacks writes thousands of delivery and attempt
rows. Peewee's ``insert_many`` turns every value into SQL through its query
context, which cost more CPU than the POSTs themselves; here the statement is
one line of placeholders repeated, and the values go to the driver as they are.
Both drivers adapt ``str``, ``int``, ``float``, ``bool`` and ``None`` as Peewee
would; a naive ``datetime`` becomes a timestamp on PostgreSQL and, on SQLite,
the text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` that Peewee writes and reads back
(``tests/test_bulk.py`` holds both to what Peewee's own inserts store).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import peewee

from app import db

# Rows per statement: well under the bound parameters SQLite and psycopg2 take.
CHUNK = 1000


def insert(model: type[peewee.Model], columns: tuple[str, ...],
           rows: list[tuple[Any, ...]], *, skip_existing: bool = False,
           returning: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (values in ``columns`` order); answer the ``returning`` columns.

    Peewee's Python-side defaults do not apply: give every column that needs a
    value.

    ``skip_existing`` leaves out rows that would break a unique constraint,
    and they return nothing. Call it inside a transaction.
    """
    answered: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        sql = _statement(model, columns, len(chunk), skip_existing, returning)
        params = [value for row in chunk for value in row]
        cursor = db.execute(sql, params)
        if returning:
            answered += cursor.fetchall()
    return answered


def _statement(model: type[peewee.Model], columns: tuple[str, ...], count: int,
               skip_existing: bool, returning: tuple[str, ...]) -> str:
    meta = model._meta
    names = ", ".join(_quoted(meta.fields[name].column_name) for name in columns)
    one_row = "(" + placeholders(len(columns)) + ")"
    sql = f"INSERT INTO {_quoted(meta.table_name)} ({names}) VALUES " + \
        ", ".join([one_row] * count)
    if skip_existing:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(
            _quoted(meta.fields[name].column_name) for name in returning)
    return sql


def array_literal(values: Iterable[object]) -> str:
    """PostgreSQL's text form of an array of ``values`` (e.g. ``{"a","b"}``);
    ``None`` is a NULL element. Any value whose ``str`` PostgreSQL reads as the
    array's type will do: text, numbers, booleans, naive datetimes.

    Sent as one parameter of an array type, thousands of values are one
    literal for the server to read, where psycopg2's adaptation of a list
    spells out a constant for each, and a VALUES list a row for each.
    """
    return "{" + ",".join(_array_element(value) for value in values) + "}"


def _array_element(value: object) -> str:
    # Quoted, every element is read as the text it spells, "NULL" included;
    # only the bare word is a NULL.
    if value is None:
        return "NULL"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def placeholders(count: int) -> str:
    """``count`` placeholders for ``db.execute``, comma-separated."""
    return ", ".join(["%s"] * count)


def _quoted(name: str) -> str:
    return f'"{name}"'
