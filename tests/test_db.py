"""The database layer: transactions that wait for SQLite's lock, and nest."""

from __future__ import annotations

import threading
import time

from app import db, migrations
from app.models import Account


def test_a_sqlite_transaction_that_reads_then_writes_waits_for_a_concurrent_writer(
    tmp_path,
):
    db.open_database(f"sqlite:///{tmp_path / 'lock.db'}")
    migrations.migrate()
    read_done = threading.Event()
    errors: list[Exception] = []

    def read_then_write() -> None:
        Account.select().count()
        read_done.set()
        # The other writer commits now, unless this transaction holds the lock.
        time.sleep(0.3)
        Account.create(name="reader")

    def write() -> None:
        read_done.wait(5)
        try:
            Account.create(name="writer")
        except Exception as error:
            errors.append(error)
        finally:
            db.database.close()

    other = threading.Thread(target=write)
    other.start()
    try:
        db.atomic(read_then_write)
    except Exception as error:
        errors.append(error)
    other.join(10)

    assert errors == []
    assert sorted(a.name for a in Account.select()) == ["reader", "writer"]


def test_an_inner_transaction_joins_the_outer_one_and_falls_with_it(database):
    def inner() -> None:
        Account.create(name="inner")

    def outer() -> None:
        db.atomic(inner)
        raise RuntimeError("the outer work failed")

    with db.connection():
        try:
            db.atomic(outer)
        except RuntimeError:
            pass
        names = [a.name for a in Account.select()]

    assert names == []
