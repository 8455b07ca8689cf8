"""The outbox and its drain: waiting events are fanned out in batches, each once.

The transport answers 200 without sending: what is under test is which events
a batch takes and which deliveries it makes (tests/e2e sends them for real).
"""

from __future__ import annotations

import threading

import pytest

from app import accounts, callbacks, db, events, outbox
from app.config import Settings
from app.models import Delivery, DeliveryState, Event
from tests.test_sender import ScriptedTransport, answer
from workers.sender import Sender

SETTINGS = Settings(allow_private_targets=True)
TRIGGERS = frozenset({"complete", "error"})


def make_callback(account, model_name: str = ".*") -> None:
    callbacks.create(account, {"url": "http://127.0.0.1:9/h",
                               "filter": {"model_name": model_name,
                                          "project_name": ".*"},
                               "attempt": {"count": 3, "interval": 7,
                                           "http_timeout": 1}}, SETTINGS)


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

    first = sender.fan_out_waiting(3)
    second = sender.fan_out_waiting(3)
    third = sender.fan_out_waiting(3)

    assert [first[0], second[0], third[0]] == [3, 2, 0]
    with db.connection():
        made = {d.event_id: d.state for d in Delivery.select()}
        waiting = Event.select().where(Event.fanned_out_at.is_null()).count()
    assert made == {event_id: DeliveryState.SUCCEEDED for event_id in stored}
    assert waiting == 0


def test_events_that_do_not_trigger_stay_out_of_the_drain(account):
    report(account, 1, status="training")
    triggering = report(account, 1, status="complete")
    sender = Sender(SETTINGS, ScriptedTransport(answer(200)))

    taken, attempted = sender.fan_out_waiting(10)

    assert taken == 1
    with db.connection():
        assert [d.event_id for d in Delivery.select()] == [triggering]
    assert [a.state for a in attempted] == [DeliveryState.SUCCEEDED]


def test_one_batch_matches_each_event_against_its_own_account(account):
    other = accounts.create_account("globex").account
    make_callback(other, model_name="^other$")
    mine = report(account, 1)
    theirs_unmatched = report(other, 1)
    sender = Sender(SETTINGS, ScriptedTransport(answer(200)))

    taken, attempted = sender.fan_out_waiting(10)

    assert taken == 2
    with db.connection():
        pairs = sorted((d.event_id, d.callback.account_id) for d in Delivery.select())
        unmatched = Event.get_by_id(theirs_unmatched)
    assert pairs == [(mine, account.id)]
    assert unmatched.fanned_out_at is not None
    assert len(attempted) == 1


def test_two_workers_draining_at_once_fan_each_event_out_once(account):
    stored = {report(account, version) for version in range(1, 41)}
    transports = [ScriptedTransport(answer(200)), ScriptedTransport(answer(200))]
    start = threading.Barrier(2)
    taken: list[int] = []

    def drain(transport) -> None:
        sender = Sender(SETTINGS, transport)
        start.wait(timeout=10)
        for _ in range(40):
            count, _ = sender.fan_out_waiting(4)
            taken.append(count)
            if count == 0:
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


def test_take_waiting_can_be_narrowed_to_named_events(account):
    report(account, 1)
    second = report(account, 2)

    with db.connection():
        taken = db.atomic(lambda: outbox.take_waiting(10, [second]))

    assert [event.id for event in taken] == [second]
