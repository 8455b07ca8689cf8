"""The PostgreSQL pool: no ping on check-out, and a dead connection found by
the first statement is replaced without the request noticing."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta

import peewee
import psycopg2
import pytest

from app import accounts, callbacks, db, deliveries, events
from app.config import Settings
from app.deliveries import AttemptRecord, Outcome
from app.models import Account, Attempt, Callback, Delivery, DeliveryState, Event
from app.statement import Statement
from tests.conftest import POSTGRES_URL, make_pending_deliveries
from tests.test_sender import SETTINGS, ScriptedTransport, answer
from workers.sender import Sender


@pytest.fixture
def database_url() -> str:
    return POSTGRES_URL


@pytest.fixture
def pool(database):
    with db.connection():
        key = accounts.create_account("acme").secret
    # The migration left this thread a connection open, which every
    # db.connection() below would reuse: the pooled ones would never be met.
    db.database.close()
    return key


@pytest.fixture
def killer():
    connection = psycopg2.connect(POSTGRES_URL)
    connection.autocommit = True
    yield connection
    connection.close()


def _pooled_backends(count: int = 1) -> list[int]:
    """Check out ``count`` connections at once and hand them back: their pids."""
    pids, done, ready = [], threading.Event(), threading.Barrier(count + 1)

    def hold() -> None:
        with db.connection():
            pids.append(db.database.connection().info.backend_pid)
            ready.wait(5)
            done.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    ready.wait(5)
    done.set()
    for thread in threads:
        thread.join(5)
    return pids


def _terminate(killer, pid: int) -> None:
    cursor = killer.cursor()
    cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        if cursor.fetchone() == (0,):
            return
        time.sleep(0.01)


def test_a_check_out_sends_no_statement(pool, monkeypatch):
    _pooled_backends()
    pings = []
    adapter = db.database.obj._adapter
    monkeypatch.setattr(adapter, "is_connection_closed",
                        lambda conn: pings.append(conn) or False)
    with db.connection():
        accounts.authenticate(f"Bearer {pool}")
    assert pings == []


def test_a_key_lookup_on_a_dead_connection_runs_again_on_a_new_one(pool, killer):
    [pid] = _pooled_backends()
    _terminate(killer, pid)

    with db.connection():
        assert accounts.authenticate(f"Bearer {pool}").name == "acme"
        assert db.database.connection().info.backend_pid != pid


def test_a_write_first_on_a_dead_connection_is_sent_once_on_a_new_one(pool, killer):
    [pid] = _pooled_backends()
    _terminate(killer, pid)

    with db.connection():
        Account.create(name="written-once")
    with db.connection():
        assert Account.select().where(Account.name == "written-once").count() == 1


def test_a_transaction_on_a_dead_connection_begins_on_a_new_one(pool, killer):
    with db.connection():
        account = accounts.authenticate(f"Bearer {pool}")
    [pid] = _pooled_backends()
    _terminate(killer, pid)

    with db.connection():
        change = events.record(account, {"project_name": "p", "name": "m",
                                         "version": 1, "status": "complete"},
                               frozenset({"complete"}))
        assert Event.get_by_id(change.event_id).new_status == "complete"


def test_when_every_pooled_connection_is_dead_a_new_one_is_made(pool, killer):
    pids = _pooled_backends(3)
    for pid in pids:
        _terminate(killer, pid)

    with db.connection():
        assert accounts.authenticate(f"Bearer {pool}").name == "acme"
        assert db.database.connection().info.backend_pid not in pids


def test_a_termination_racing_the_first_statement_never_fails_the_request(
        pool, killer):
    failures = []
    for _ in range(100):
        [pid] = _pooled_backends()
        kill = threading.Timer(random.uniform(0, 0.003), _terminate, (killer, pid))
        kill.start()
        try:
            with db.connection():
                accounts.authenticate(f"Bearer {pool}")
        except Exception as error:
            failures.append(error)
        kill.join(5)
    assert failures == []


def test_a_session_that_forgot_its_statements_prepares_them_again(pool):
    with db.connection():
        accounts.authenticate(f"Bearer {pool}")
        db.database.execute_sql("DEALLOCATE ALL")
        assert accounts.authenticate(f"Bearer {pool}").name == "acme"


IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE
IN_TRANSACTION = psycopg2.extensions.TRANSACTION_STATUS_INTRANS


def _transaction_status() -> int:
    return db.database.connection().info.transaction_status


def test_a_transaction_begins_with_its_first_statement(pool):
    with db.connection():
        with db.database.atomic():
            assert _transaction_status() == IDLE
            Account.create(name="inside")
            assert _transaction_status() == IN_TRANSACTION
        assert _transaction_status() == IDLE


def test_a_transaction_that_fails_after_its_first_statement_leaves_nothing(pool):
    with db.connection():
        with pytest.raises(RuntimeError), db.database.atomic():
            Account.create(name="rolled-back")
            raise RuntimeError("the transaction fails")
        assert _transaction_status() == IDLE
        assert not Account.select().where(Account.name == "rolled-back").exists()


def test_a_transaction_without_statements_sends_nothing(pool):
    with db.connection():
        with db.database.atomic():
            pass
        with pytest.raises(RuntimeError), db.database.atomic():
            raise RuntimeError("nothing ran")
        assert _transaction_status() == IDLE
        assert Account.select().count() == 1


def _seen_elsewhere(name: str) -> bool:
    """Whether a connection outside the pool sees the account: committed."""
    with psycopg2.connect(POSTGRES_URL) as other, other.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts WHERE name = %s", (name,))
        return cursor.fetchone() == (1,)


def _add_account(name: str) -> None:
    db.execute("INSERT INTO accounts (name, created_at) VALUES (%s, now())", (name,))


def test_a_last_statement_can_carry_the_commit(pool, monkeypatch):
    sent = []
    with db.connection():
        with db.database.atomic():
            _add_account("first")
            db.commit_with_next()
            _add_account("last")
            assert _transaction_status() == IDLE
            assert _seen_elsewhere("first") and _seen_elsewhere("last")
            monkeypatch.setattr(db.database.obj, "_execute",
                                lambda sql, params: sent.append(sql))
        monkeypatch.undo()
        assert _transaction_status() == IDLE
    assert sent == []


def test_a_last_statement_that_fails_commits_nothing(pool):
    with db.connection():
        with pytest.raises(peewee.IntegrityError), db.database.atomic():
            _add_account("before")
            db.commit_with_next()
            _add_account("acme")  # the fixture's: a duplicate name
        assert _transaction_status() == IDLE
        assert not _seen_elsewhere("before")
        with db.database.atomic():
            Account.create(name="after")
            Account.create(name="after-2")
    assert _seen_elsewhere("after-2")


def test_a_commit_is_carried_only_by_the_outermost_transaction(pool):
    with db.connection():
        with pytest.raises(RuntimeError), db.database.transaction():
            with db.database.transaction():
                db.commit_with_next()
                _add_account("nested")
            assert _transaction_status() == IN_TRANSACTION
            raise RuntimeError("the outer transaction fails")
    assert not _seen_elsewhere("nested")


def test_a_transaction_keeps_its_isolation_level(pool):
    with db.connection(), db.database.atomic(isolation_level=3):
        level = db.database.execute_sql("SHOW transaction_isolation").fetchone()
    assert level == ("serializable",)


def test_a_transaction_begun_without_a_connection_opens_one_and_keeps_going(pool):
    db.database.close()
    with db.database.atomic():
        Account.create(name="autoconnected")
    assert Account.select().where(Account.name == "autoconnected").exists()
    db.database.close()


RATIO = Statement("select_pool_ratio", "SELECT 10 / %s", ("integer",))


def test_a_statement_that_fails_on_the_connection_replacing_a_dead_one_stays_known(
        pool, killer):
    # Its first run met a dead connection and ran again on a new one, where
    # the PREPARE stayed although the EXECUTE failed: that one must know it.
    [pid] = _pooled_backends()
    _terminate(killer, pid)

    with db.connection():
        with pytest.raises(peewee.DataError), db.database.atomic():
            RATIO.run((0,))
        assert db.database.connection().info.backend_pid != pid

        assert RATIO.run((2,)).fetchone() == (5,)


def test_a_dead_connection_whose_server_refuses_a_new_one_is_a_database_error(
        pool, killer):
    # The server went away: the first statement meets a terminated session,
    # and the connection made to replace it is refused.
    [pid] = _pooled_backends()
    _terminate(killer, pid)
    params = db.database.obj.connect_params
    real_port = params.get("port")
    params["port"] = _closed_port()

    try:
        with pytest.raises(peewee.OperationalError), db.connection():
            accounts.authenticate(f"Bearer {pool}")
    finally:
        params["port"] = real_port


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _claimed_deliveries(count: int) -> list:
    ids = _pending_deliveries(count)
    with db.connection():
        claimed = deliveries.claim_loaded(ids, timedelta(seconds=30))
    db.database.close()
    return claimed


def _pending_deliveries(count: int) -> list[str]:
    """One event's deliveries to ``count`` new callbacks of "acme", pending."""
    with db.connection():
        account = Account.get(Account.name == "acme")
        callback_ids = [callbacks.create(
            account, {"url": "http://127.0.0.1:9/h",
                      "filter": {"model_name": ".*", "project_name": ".*"},
                      "attempt": {"count": 3, "interval": 1, "http_timeout": 1}},
            Settings(allow_private_targets=True)).id for _ in range(count)]
        change = events.record(account, {"project_name": "p", "name": "m",
                                         "version": 1, "status": "complete"},
                               frozenset({"complete"}))
        make_pending_deliveries(Event.get_by_id(change.event_id), callback_ids)
        ids = [Delivery.get(Delivery.callback == c).id for c in callback_ids]
    db.database.close()
    return ids


def _record(delivery) -> list[str]:
    record = AttemptRecord(datetime(2026, 12, 4, 9, 0), 0.1, 200, None, "ok", False)
    with db.connection():
        return deliveries.finish_attempts(
            [Outcome(delivery, record, DeliveryState.SUCCEEDED)])


def test_a_record_first_on_a_check_out_sends_no_ping(pool, monkeypatch):
    first, second = _claimed_deliveries(2)
    _record(first)  # prepared on the pooled connection
    pings = []
    adapter = db.database.obj._adapter
    monkeypatch.setattr(adapter, "is_connection_closed",
                        lambda conn: pings.append(conn) or False)

    assert _record(second) == [second.id]
    assert pings == []


@pytest.mark.parametrize("prepared", [True, False])
def test_a_record_first_on_a_dead_connection_is_made_once_on_a_new_one(
        pool, killer, prepared):
    first, second = _claimed_deliveries(2)
    if prepared:
        _record(first)
    [pid] = _pooled_backends()
    _terminate(killer, pid)

    assert _record(second) == [second.id]
    with db.connection():
        assert [a.number for a in Attempt.select().where(
            Attempt.delivery == second.id)] == [1]
        assert Delivery.get_by_id(second.id).state == DeliveryState.SUCCEEDED


def test_a_410_after_a_database_restart_during_the_posts_is_recorded_at_once(
        pool, killer, caplog):
    first, second = _pending_deliveries(2)
    # A record on this thread's pooled connection prepares record_attempts.
    Sender(SETTINGS, ScriptedTransport(answer(503))).attempt([first])

    class RestartDuringPosts(ScriptedTransport):
        def post_many(self, requests):
            [pid] = _pooled_backends()
            _terminate(killer, pid)
            return super().post_many(requests)

    attempted = Sender(SETTINGS, RestartDuringPosts(answer(410))).attempt([second])

    assert [a.state for a in attempted] == [DeliveryState.FAILED]
    assert "recording 1 attempts failed" not in caplog.text
    with db.connection():
        gone = Delivery.get_by_id(second)
        assert gone.state == DeliveryState.FAILED
        assert not Callback.get_by_id(gone.callback_id).enabled
        assert [c.id for c in callbacks.enabled_for(gone.event.account_id)] == [
            Delivery.get_by_id(first).callback_id]
        assert Attempt.select().count() == 2
