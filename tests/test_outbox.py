"""The outbox and its drain: waiting events are fanned out in batches, each once.

The transport answers 200 without sending: what is under test is which events
a batch takes and which deliveries it makes (tests/e2e sends them for real).
"""

from __future__ import annotations

import threading

import pytest

from app import accounts, db, events, outbox
from app.config import Settings
from app.models import Delivery, DeliveryState, Event, utcnow
from tests.conftest import POSTGRES_URL, make_callback
from tests.test_sender import ScriptedTransport, answer
from workers.sender import Sender

SETTINGS = Settings(allow_private_targets=True)
TRIGGERS = frozenset({"complete", "error"})


@pytest.fixture
def account(database):
    account = accounts.create_account("acme").account
    make_callback(account)
    return account


def report(account, version: int, status: str = "complete") -> str | None:
    return events.record(account, {"project_name": "p", "name": "m",
                                   "version": version, "status": status},
                         TRIGGERS).event_id


def test_a_drain_takes_the_oldest_waiting_events_up_to_its_limit(account):
    stored = [report(account, version) for version in range(1, 6)]
    sender = Sender(SETTINGS, ScriptedTransport(answer(200)))

    batches = [sender.fan_out_waiting(3) for _ in range(3)]

    assert [(b.events, b.more) for b in batches] == [(3, True), (2, False), (0, False)]
    with db.connection():
        made = {d.event_id: d.state for d in Delivery.select()}
        waiting = Event.select().where(Event.fanned_out_at.is_null()).count()
    assert made == {event_id: DeliveryState.SUCCEEDED for event_id in stored}
    assert waiting == 0


def test_events_that_do_not_trigger_stay_out_of_the_drain(account):
    report(account, 1, status="training")
    triggering = report(account, 1, status="complete")
    sender = Sender(SETTINGS, ScriptedTransport(answer(200)))

    batch = sender.fan_out_waiting(10)

    assert batch.events == 1
    with db.connection():
        assert [d.event_id for d in Delivery.select()] == [triggering]
    assert [a.state for a in batch.attempted] == [DeliveryState.SUCCEEDED]


def test_one_batch_matches_each_event_against_its_own_account(account):
    other = accounts.create_account("globex").account
    make_callback(other, model_name="^other$")
    mine = report(account, 1)
    theirs_unmatched = report(other, 1)
    sender = Sender(SETTINGS, ScriptedTransport(answer(200)))

    batch = sender.fan_out_waiting(10)

    assert batch.events == 2
    with db.connection():
        pairs = sorted((d.event_id, d.callback.account_id) for d in Delivery.select())
        unmatched = Event.get_by_id(theirs_unmatched)
    assert pairs == [(mine, account.id)]
    assert unmatched.fanned_out_at is not None
    assert len(batch.attempted) == 1


def test_two_workers_draining_at_once_fan_each_event_out_once(account):
    stored = {report(account, version) for version in range(1, 41)}
    transports = [ScriptedTransport(answer(200)), ScriptedTransport(answer(200))]
    start = threading.Barrier(2)
    taken: list[int] = []

    def drain(transport) -> None:
        sender = Sender(SETTINGS, transport)
        start.wait(timeout=10)
        for _ in range(40):
            batch = sender.fan_out_waiting(4)
            taken.append(batch.events)
            if batch.events == 0:
                return

    threads = [threading.Thread(target=drain, args=(t,)) for t in transports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(taken) == 40
    assert sum(t.posts for t in transports) == 40
    with db.connection():
        per_event = [d.event_id for d in Delivery.select()]
    assert sorted(per_event) == sorted(stored)


def test_a_batch_stops_at_one_wave_of_deliveries_and_never_splits_an_event(database):
    account = accounts.create_account("acme").account
    for _ in range(3):
        make_callback(account)
    stored = [report(account, version) for version in range(1, 5)]
    two_per_wave = Settings(allow_private_targets=True, fan_out_concurrency=7)
    sender = Sender(two_per_wave, ScriptedTransport(answer(200)))

    batches = [sender.fan_out_waiting(10) for _ in range(3)]

    assert [(b.events, len(b.attempted), b.more) for b in batches] == [
        (2, 6, True), (2, 6, False), (0, 0, False)]
    with db.connection():
        assert Event.select().where(Event.fanned_out_at.is_null()).count() == 0
        assert Delivery.select().count() == 3 * len(stored)


def test_an_event_larger_than_a_wave_goes_alone_and_whole(database):
    account = accounts.create_account("acme").account
    for _ in range(3):
        make_callback(account)
    report(account, 1)
    second = report(account, 2)
    small_wave = Settings(allow_private_targets=True, fan_out_concurrency=2)
    sender = Sender(small_wave, ScriptedTransport(answer(200)))

    first = sender.fan_out_waiting(10)

    assert (first.events, len(first.attempted), first.more) == (1, 3, True)
    with db.connection():
        # The second event was taken with the first and put back, untouched.
        waiting = [e.id for e in Event.select().where(Event.fanned_out_at.is_null())]
    assert waiting == [second]


def test_failures_of_one_batch_wait_for_the_same_next_attempt(database):
    account = accounts.create_account("acme").account
    for _ in range(3):
        make_callback(account)
    report(account, 1)
    sender = Sender(SETTINGS, ScriptedTransport(answer(500)))

    batch = sender.fan_out_waiting(10)

    with db.connection():
        waits = {d.next_attempt_at for d in Delivery.select()}
        states = [d.state for d in Delivery.select()]
    assert len(batch.attempted) == 3
    assert states == [DeliveryState.PENDING] * 3
    assert len(waits) == 1


# Copies of one event, taken at once: dead entries in the index of waiting
# events, as a burst leaves them before a vacuum.
BURST_TAKEN = (
    "INSERT INTO events (id, account_id, model_version_id, old_status, new_status,"
    " changed_at, triggered, body, created_at, fanned_out_at)"
    " SELECT 'evt_' || n, account_id, model_version_id, old_status, new_status,"
    " changed_at, triggered, body, created_at, NULL"
    " FROM events, generate_series(1, 5000) AS n"
)


@pytest.mark.parametrize("database_url", [POSTGRES_URL])
def test_on_postgres_a_take_walks_the_index_of_waiting_events_in_order(account):
    # A bitmap scan would read the dead entries of every event taken before,
    # in every batch, until a vacuum; walked in order, the index marks them.
    report(account, 1)
    with db.connection():
        # No statistics: as just after a burst, before autovacuum analyses it.
        db.database.execute_sql("ALTER TABLE events SET (autovacuum_enabled = off)")
        db.database.execute_sql(BURST_TAKEN)
        db.database.execute_sql("UPDATE events SET fanned_out_at = now()")
    setting, take = outbox.TAKE_AND_MARK.split(";", 1)

    def plan(*settings: str) -> str:
        with db.connection(), db.database.atomic():
            for statement in settings:
                db.database.execute_sql(statement)
            rows = db.execute("EXPLAIN " + take, (utcnow(), 50)).fetchall()
            db.database.rollback()
        return "\n".join(row[0] for row in rows)

    assert "Bitmap Index Scan on events_waiting" in plan()
    assert "Index Scan using events_waiting" in plan(setting)
    assert "Bitmap" not in plan(setting)


def test_an_event_waiting_again_with_its_deliveries_made_is_not_sent_twice(account):
    event_id = report(account, 1)
    Sender(SETTINGS, ScriptedTransport(answer(200))).fan_out_waiting(10)
    with db.connection():
        # Back in the outbox by hand, though its delivery exists: the
        # batch's insert meets it.
        Event.update(fanned_out_at=None).where(Event.id == event_id).execute()
    transport = ScriptedTransport(answer(200))

    batch = Sender(SETTINGS, transport).fan_out_waiting(10)

    assert (batch.events, batch.attempted, transport.posts) == (1, [], 0)
    with db.connection():
        assert Delivery.select().where(Delivery.event == event_id).count() == 1
        assert Event.get_by_id(event_id).fanned_out_at is not None


class StatementsSeen:
    """A cursor that notes the text of every statement it sends."""

    def __init__(self, cursor, seen: list[str]) -> None:
        self._cursor = cursor
        self._seen = seen

    def execute(self, sql, params=None):
        self._seen.append(sql)
        return self._cursor.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class PostsAfter(ScriptedTransport):
    """Answers 200, noting how many statements had been sent before its POSTs."""

    def __init__(self, seen: list[str]) -> None:
        super().__init__(answer(200))
        self.seen = seen
        self.statements_before: list[list[str]] = []

    def post_many(self, requests):
        self.statements_before.append(list(self.seen))
        return super().post_many(requests)


@pytest.mark.parametrize("database_url", [POSTGRES_URL])
def test_on_postgres_a_batch_sends_two_statements_before_its_posts_and_one_after(
    account, monkeypatch
):
    seen: list[str] = []
    transport = PostsAfter(seen)
    sender = Sender(SETTINGS, transport)
    report(account, 1)
    sender.fan_out_waiting(10)  # the account's callbacks are now kept
    report(account, 2)
    pool_class = type(db.database.obj)
    cursor = pool_class.cursor
    monkeypatch.setattr(pool_class, "cursor", lambda self, *args, **kwargs:
                        StatementsSeen(cursor(self, *args, **kwargs), seen))

    sender.fan_out_waiting(10)

    before = transport.statements_before[1]
    assert len(before) == 2
    assert before[0].startswith("BEGIN; SET LOCAL enable_bitmapscan = off; UPDATE")
    assert before[1].endswith("; COMMIT")
    assert before[1].startswith("EXECUTE insert_all_claimed_deliveries")
    # The record is a transaction of its own: no BEGIN, no COMMIT.
    assert [statement.split(" (")[0] for statement in seen[2:]] == [
        "EXECUTE record_attempts"]
