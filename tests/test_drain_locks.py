"""The drain among other transactions: what a batch does when others hold locks
around it, how long it holds its own, and what the queued-drain flag says
after a publish goes wrong or when there is no Redis (``modelhooks dev``).

The lock tests hold a second PostgreSQL session open by hand, as the API or a
user's request would, and run a batch of the drain against it in a thread.
"""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError

from app import accounts, callbacks, db, events
from app.broker import DRAIN_QUEUED_KEY, DRAIN_TASK, Broker
from app.config import Settings
from app.models import Delivery, Event
from tests.conftest import POSTGRES_URL, make_callback, queued_tasks
from tests.conftest import UNCONSUMED_REDIS_URL as REDIS_URL
from tests.test_sender import ScriptedTransport, answer
from workers.sender import Sender

SETTINGS = Settings(allow_private_targets=True)
TRIGGERS = frozenset({"complete", "error"})
QUEUE = "modelhooks"

on_postgres = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def report(account, version: int) -> str:
    return events.record(account, {"project_name": "p", "name": "m",
                                   "version": version, "status": "complete"},
                         TRIGGERS).event_id


class BatchInThread:
    """``fan_out_waiting`` run in a thread, so that the test can move on."""

    def __init__(self, sender: Sender, limit: int = 10) -> None:
        self.batch = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(sender, limit))
        self.thread.start()

    def _run(self, sender: Sender, limit: int) -> None:
        try:
            self.batch = sender.fan_out_waiting(limit)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def join(self, timeout: float = 15.0) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()


def wait_for_a_blocked_session(timeout: float = 10.0) -> bool:
    """True once some session of this database waits for a row lock."""
    watcher = psycopg2.connect(POSTGRES_URL)
    watcher.autocommit = True
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with watcher.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity"
                               " WHERE datname = current_database()"
                               " AND wait_event_type = 'Lock'")
                if cursor.fetchone()[0]:
                    return True
            time.sleep(0.05)
        return False
    finally:
        watcher.close()


@on_postgres
def test_a_callback_deleted_while_a_batch_is_made_does_not_abort_the_batch(database):
    account = accounts.create_account("acme").account
    kept = make_callback(account)
    deleted = make_callback(account)
    other = accounts.create_account("globex").account
    theirs = make_callback(other)
    stored = [report(account, 1), report(other, 1)]
    # A user's DELETE of one callback, not committed yet.
    deleting = psycopg2.connect(POSTGRES_URL)
    with deleting.cursor() as cursor:
        cursor.execute("DELETE FROM callbacks WHERE id = %s", (deleted.id,))

    try:
        running = BatchInThread(Sender(SETTINGS, ScriptedTransport(answer(200))))
        assert wait_for_a_blocked_session(), "the batch never waited for the DELETE"
        deleting.commit()
        assert running.join(), "the batch did not finish"
    finally:
        deleting.close()

    # Both events are fanned out to the callbacks that still exist: one
    # tenant's DELETE must not roll back the batch of every tenant in it.
    assert running.error is None, f"the batch failed: {running.error!r}"
    assert running.batch.events == 2
    with db.connection():
        assert all(Event.get_by_id(e).fanned_out_at for e in stored)
        made = sorted(d.callback_id for d in Delivery.select())
    assert made == sorted([kept.id, theirs.id])


@on_postgres
def test_a_report_holding_its_model_version_lock_does_not_block_the_drain(database):
    account = accounts.create_account("acme").account
    make_callback(account)
    waiting = report(account, 1)
    with db.connection():
        version_id = Event.get_by_id(waiting).model_version_id
    # A second report of the same version, mid-transaction: its version row is
    # locked and its event inserted but not committed.
    reporting = psycopg2.connect(POSTGRES_URL)
    with reporting.cursor() as cursor:
        cursor.execute("SELECT id FROM model_versions WHERE id = %s FOR UPDATE",
                       (version_id,))
        cursor.execute("UPDATE model_versions SET status = 'error' WHERE id = %s",
                       (version_id,))
        cursor.execute(
            "INSERT INTO events (id, account_id, model_version_id, old_status,"
            " new_status, changed_at, triggered, body, created_at)"
            " VALUES ('evt_uncommitted', %s, %s, 'complete', 'error', now(), true,"
            " '{}', now())", (account.id, version_id))

    try:
        running = BatchInThread(Sender(SETTINGS, ScriptedTransport(answer(200))))
        finished = running.join(timeout=10)
    finally:
        reporting.rollback()
        reporting.close()

    assert finished, "the drain waited for the API's model version lock"
    assert running.error is None
    assert running.batch.events == 1


def test_a_drain_that_could_not_be_published_does_not_hold_later_events_back(
        queue_redis, monkeypatch):
    broker = Broker(REDIS_URL)
    send_task = broker.celery.send_task
    sent: list[str] = []

    def fails_once(name, *args, **kwargs):
        sent.append(name)
        if len(sent) == 1:
            raise KombuOperationalError("Connection reset by peer")
        return send_task(name, *args, **kwargs)

    monkeypatch.setattr(broker.celery, "send_task", fails_once)

    first = broker.publish_fan_out("evt_1")
    second = broker.publish_fan_out("evt_2")

    # evt_1 is left to the sweep, as the API says. evt_2 is told a drain is
    # queued, so none must be missing: either it publishes one, or it answers
    # False and is left to the sweep too.
    assert first is False
    assert second is False or queued_tasks(queue_redis) == [DRAIN_TASK], (
        f"evt_2 was answered {second} with the queue {queued_tasks(queue_redis)} "
        f"and the flag set for {queue_redis.pttl(DRAIN_QUEUED_KEY)} ms more")


def test_without_redis_every_event_publishes_its_own_drain(monkeypatch):
    # ``modelhooks dev``: the in-memory broker, and no flag to share.
    memory = Celery("review-dev", broker="memory://localhost/")
    broker = Broker("memory://localhost/", celery_app=memory)
    sent: list[str] = []
    monkeypatch.setattr(memory, "send_task",
                        lambda name, *args, **kwargs: sent.append(name))

    answers = [broker.publish_fan_out(f"evt_{n}") for n in range(3)]
    broker.release_flag()

    assert answers == [True] * 3
    assert sent == [DRAIN_TASK] * 3


@on_postgres
def test_a_second_drain_skips_an_event_a_drain_holds_and_sends_nothing(database):
    account = accounts.create_account("acme").account
    make_callback(account)
    event_id = report(account, 1)
    # A drain's batch in progress: the event row locked, nothing committed yet.
    draining = psycopg2.connect(POSTGRES_URL)
    with draining.cursor() as cursor:
        cursor.execute("SELECT id FROM events WHERE id = %s FOR UPDATE", (event_id,))
    transport = ScriptedTransport(answer(200))

    try:
        started = time.monotonic()
        batch = Sender(SETTINGS, transport).fan_out_waiting(10)
        waited = time.monotonic() - started
    finally:
        draining.rollback()
        draining.close()

    assert (batch.events, batch.attempted, transport.posts) == (0, [], 0)
    assert waited < 2, "the second drain waited for the first one's lock"
    with db.connection():
        assert Delivery.select().count() == 0
        assert Event.get_by_id(event_id).fanned_out_at is None


on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@on_sqlite
def test_a_batch_matching_slow_filters_does_not_hold_the_write_lock_from_reports(
        database):
    # Thirty filters that each run to the matcher's timeout on a name of "a"s
    # (accepted: each is a valid, bounded regular expression).
    account = accounts.create_account("acme").account
    for n in range(30):
        callbacks.create(account, {"url": "http://127.0.0.1:9/h",
                                   "filter": {"model_name": f"(a|aa)+b{n}",
                                              "project_name": ".*"},
                                   "attempt": {"count": 1, "interval": 0,
                                               "http_timeout": 1}}, SETTINGS)
    name = "a" * 40
    for version in range(1, 21):
        events.record(account, {"project_name": "p", "name": name,
                                "version": version, "status": "complete"}, TRIGGERS)
    other = accounts.create_account("globex").account

    running = BatchInThread(Sender(SETTINGS, ScriptedTransport(answer(200))), 50)
    time.sleep(0.3)
    started = time.monotonic()
    with db.connection():
        report(other, 1)
    waited = time.monotonic() - started
    assert running.join(30)

    # Matching 20 events against 30 slow filters takes seconds; it need not
    # happen while the batch holds SQLite's write lock (the old fan-out
    # matched before its transaction began).
    assert running.error is None
    assert waited < 1.0, f"another tenant's report waited {waited:.1f} s"


def test_a_lease_on_a_whole_second_matches_whichever_writer_stored_it(
        database, monkeypatch):
    # The lease is the claim's token, compared as a value: written by the raw
    # bulk insert (drain) or by Peewee (claim), and compared by the raw UPDATE
    # of the record. A whole second is where a text form may drop ".000000".
    from datetime import timedelta

    from app import deliveries
    from app.deliveries import AttemptRecord, Outcome
    from app.models import DeliveryState, utcnow
    from tests.conftest import make_pending_deliveries

    account = accounts.create_account("acme").account
    born_claimed = make_callback(account)
    claimed_later = make_callback(account)
    event_id = report(account, 1)
    whole = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    monkeypatch.setattr(deliveries, "utcnow", lambda: whole)
    margin = timedelta(seconds=5)

    def finish(delivery) -> list[str]:
        record = AttemptRecord(started_at=whole, duration=0.1, status_code=200,
                               error=None, excerpt="", truncated=False)
        return deliveries.finish_attempts(
            [Outcome(delivery, record, DeliveryState.SUCCEEDED)])

    with db.connection():
        event = Event.get_by_id(event_id)
        made = db.atomic(lambda: deliveries.create_claimed(
            [(event, [callbacks.enabled_for(account.id)[0]])], margin))
        make_pending_deliveries(event, [claimed_later.id])
        pending = Delivery.get(Delivery.callback == claimed_later.id).id
        claimed = deliveries.claim_loaded([pending], margin)

        assert made[0].lease_until.microsecond == 0
        assert finish(made[0]) == [made[0].id]
        assert finish(claimed[0]) == [pending]
        states = {d.callback_id: (d.state, d.attempts_made) for d in Delivery.select()}
    assert states == {born_claimed.id: (DeliveryState.SUCCEEDED, 1),
                      claimed_later.id: (DeliveryState.SUCCEEDED, 1)}
