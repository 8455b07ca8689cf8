"""Kept callbacks, their stamps and a COMMIT sent with a last statement, where
they meet upgrades, races and failures."""

from __future__ import annotations

import threading

import peewee
import pytest

from app import accounts, callbacks, db, deliveries, events, migrations
from app.config import Settings
from app.deliveries import AttemptRecord, Outcome
from app.models import ApiKey, Callback, Delivery, Event, ModelVersion, loaded, utcnow
from tests.conftest import make_callback
from tests.test_callback_cache import Recording, report
from workers import sender as sender_module
from workers.sender import Sender

SETTINGS = Settings(allow_private_targets=True)


def counts() -> dict[str, int]:
    return {model.__name__: model.select().count()
            for model in (ApiKey, Callback, ModelVersion, Event)}


# Migration 4 on a database made by the third release.

def test_migration_4_keeps_the_rows_of_an_existing_database(database):
    with db.connection():
        account = accounts.create_account("acme").account
        make_callback(account)
        report(account, 1)
        before = counts()
        db.database.execute_sql("ALTER TABLE accounts DROP COLUMN callbacks_stamp")
        migrations.SchemaMigration.delete().where(
            migrations.SchemaMigration.version == 4).execute()

    assert migrations.migrate() == [4]
    with db.connection():
        # On SQLite the column's NOT NULL is added by copying the table and
        # dropping the original inside migrate()'s transaction, where
        # PRAGMA foreign_keys=0 is ignored: ON DELETE CASCADE empties every
        # table that refers to accounts.
        assert counts() == before == {"ApiKey": 1, "Callback": 1,
                                      "ModelVersion": 1, "Event": 1}


# A change made without app.callbacks (an older web process during an
# upgrade, a row written by hand) still draws a stamp, so no worker keeps
# sending by what it kept.

def test_a_callback_disabled_without_a_new_stamp_is_not_sent_to(database):
    account = accounts.create_account("acme").account
    callback = make_callback(account)
    transport = Recording()
    sender = Sender(SETTINGS, transport)
    report(account, 1)
    sender.fan_out_waiting(10)

    with db.connection():  # what the previous release's PUT {"enabled": false} does
        Callback.update(enabled=False).where(Callback.id == callback.id).execute()
    report(account, 2)
    sender.fan_out_waiting(10)

    assert transport.urls == ["http://127.0.0.1:9/h"]


# 410 Gone for callbacks of two accounts in two record transactions: the
# accounts are locked in account order, whatever the callbacks' order.

def gone_outcome(callback: Callback) -> Outcome:
    record = AttemptRecord(started_at=utcnow(), duration=0.0, status_code=410,
                           error=None, excerpt="", truncated=False)
    delivery = loaded(Delivery, id=f"msg_{callback.id}", callback=callback.id)
    return Outcome(delivery, record, "failed")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_records_disabling_callbacks_of_two_accounts_do_not_deadlock(
        database, monkeypatch):
    a = accounts.create_account("a").account
    b = accounts.create_account("b").account
    cb1, cb2, cb3, cb4 = (make_callback(a), make_callback(b), make_callback(b),
                          make_callback(a))
    sender = Sender(SETTINGS, Recording())
    barrier = threading.Barrier(2, timeout=2)
    real_drop = deliveries.drop_pending
    first = threading.local()

    def drop_then_meet(callback_id):
        dropped = real_drop(callback_id)
        if not getattr(first, "met", False):
            first.met = True
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return dropped

    monkeypatch.setattr(sender_module.deliveries, "drop_pending", drop_then_meet)
    errors = []

    def record(gone):
        try:
            with db.connection():
                db.atomic(lambda: sender._apply_gone([gone_outcome(c) for c in gone]))
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=record, args=([cb1, cb3],)),
               threading.Thread(target=record, args=([cb2, cb4],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert errors == []


# The retry after a refused insert loads every account afresh, even one that
# another thread of the same Sender has kept again meanwhile.

@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_retried_batch_loads_every_account_afresh(database, monkeypatch):
    a = accounts.create_account("a").account
    b = accounts.create_account("b").account
    a_cb, b_cb = make_callback(a), make_callback(b)
    make_callback(a), make_callback(b)
    sender = Sender(SETTINGS, Recording())
    report(a, 1), report(b, 1)
    sender.fan_out_waiting(10)  # both accounts kept

    def delete_elsewhere(account, callback):
        def run():
            with db.connection():
                callbacks.delete(account, callback.id)
        thread = threading.Thread(target=run)
        thread.start()
        started.append(thread)
        # Done at once when nothing locks the callback; with it locked (a
        # fresh load's FOR KEY SHARE) it waits for the batch, as it should.
        thread.join(1)

    real_create = deliveries.create_claimed
    calls, started = [], []

    def create_after_a_delete(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            delete_elsewhere(a, a_cb)   # the first take's kept callback goes
        elif len(calls) == 2:
            delete_elsewhere(b, b_cb)   # and, during the retry, one of b's
        return real_create(*args, **kwargs)

    monkeypatch.setattr(sender_module.deliveries, "create_claimed",
                        create_after_a_delete)
    real_forget = sender.callbacks.forget_all

    def forget_then_another_thread_keeps_b():
        real_forget()
        with db.connection():  # another thread's batch for b, meanwhile
            stamp = db.execute("SELECT callbacks_stamp FROM accounts WHERE id = %s",
                               (b.id,)).fetchone()[0]
            sender.callbacks.matching(b.id, stamp)

    monkeypatch.setattr(sender.callbacks, "forget_all",
                        forget_then_another_thread_keeps_b)
    report(a, 2), report(b, 2)

    try:
        batch = sender.fan_out_waiting(10)
    finally:
        for thread in started:
            thread.join(10)

    assert batch.events == 2


# A PUT that read the callback before a 410 Gone disable committed must not
# write enabled back.

def test_an_edit_racing_a_410_does_not_enable_the_callback_again(
        database, monkeypatch):
    account = accounts.create_account("acme").account
    callback = make_callback(account)
    real_check = callbacks._check

    def check_while_gone_lands(data, settings, resolve):
        real_check(data, settings, resolve)
        with db.connection():
            callbacks.disable(callback.id, "the receiver answered 410 Gone")

    monkeypatch.setattr(callbacks, "_check", check_while_gone_lands)
    with db.connection():
        callbacks.update(account, callback.id,
                         {"url": "http://127.0.0.1:9/moved"}, SETTINGS)
        stored = Callback.get_by_id(callback.id)

    assert stored.enabled is False


# A report recorded inside a larger transaction: its insert carries no COMMIT.

@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_report_recorded_inside_a_larger_transaction_commits_nothing_early(
        database):
    account = accounts.create_account("acme").account

    def larger():
        events.record(account, {"project_name": "p", "name": "m", "version": 1,
                                "status": "complete"},
                      frozenset({"complete"}))
        Callback.update(url="http://127.0.0.1:9/later").execute()  # noqa
        raise RuntimeError("the larger transaction fails")

    with db.connection():
        with pytest.raises(RuntimeError):
            db.atomic(larger)
        assert Event.select().count() == 0


# A first statement that carries BEGIN ... COMMIT is never run again after
# its connection died: the server may have committed it.

@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_committed_first_statement_is_not_run_again(database, monkeypatch):
    with db.connection():
        db.database.execute_sql("CREATE TABLE IF NOT EXISTS committed_rows (n int)")
        db.database.execute_sql("DELETE FROM committed_rows")
    pool = db.database.obj
    real_execute_sql = peewee.PostgresqlDatabase.execute_sql
    died = []

    def commits_then_dies(self, sql, params=None):
        cursor = real_execute_sql(self, sql, params)
        if "COMMIT" in sql and not died:
            died.append(sql)
            self._state.conn.close()   # the answer is lost on the way back
            raise peewee.OperationalError("server closed the connection")
        return cursor

    monkeypatch.setattr(peewee.PostgresqlDatabase, "execute_sql", commits_then_dies)
    if not db.database.is_closed():
        db.database.close()  # a fresh check-out, as every request and task has
    with db.connection():
        try:
            with pool.atomic():
                pool.commit_with_next()
                pool.execute_sql("INSERT INTO committed_rows VALUES (1)")
        except (peewee.OperationalError, peewee.InterfaceError) as error:
            print("raised", repr(error))
    monkeypatch.undo()
    with db.connection():
        [rows] = db.database.execute_sql(
            "SELECT count(*) FROM committed_rows").fetchone()
        db.database.execute_sql("DROP TABLE committed_rows")

    assert died and rows == 1


# SET LOCAL enable_bitmapscan ends with the batch's transaction.

@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_bitmap_scans_come_back_after_a_batch(database):
    account = accounts.create_account("acme").account
    make_callback(account)
    report(account, 1)
    sender = Sender(SETTINGS, Recording())
    with db.connection():
        sender.fan_out_waiting(10)
        with pytest.raises(peewee.IntegrityError):  # and after a failed one
            db.atomic(lambda: (db.execute(sender_module.outbox.TAKE_AND_MARK,
                                          (utcnow(), 1)),
                               db.execute("INSERT INTO callbacks (id) VALUES (NULL)")))
        assert db.execute("SHOW enable_bitmapscan").fetchone()[0] == "on"
