"""The deliveries store under concurrent change: deletes and parallel writers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from app import accounts, callbacks, db, deliveries, events
from app.config import Settings
from app.deliveries import AttemptRecord, Outcome
from app.models import Attempt, Delivery, DeliveryState, Event
from tests.conftest import make_callback, make_pending_deliveries

RECORD = AttemptRecord(started_at=datetime(2026, 12, 4, 9, 0), duration=0.1,
                       status_code=200, error=None, excerpt="ok", truncated=False)


def one_delivery(account) -> tuple[int, str]:
    callback = callbacks.create(
        account, {"url": "http://127.0.0.1:9/h",
                  "filter": {"model_name": ".*", "project_name": ".*"},
                  "attempt": {"count": 3, "interval": 1, "http_timeout": 1}},
        Settings(allow_private_targets=True))
    change = events.record(account, {"project_name": "p", "name": "m", "version": 1,
                                     "status": "complete"}, frozenset({"complete"}))
    make_pending_deliveries(Event.get_by_id(change.event_id), [callback.id])
    return callback.id, Delivery.get(Delivery.callback == callback.id).id


def report(account, version: int) -> str:
    return events.record(account, {"project_name": "p", "name": "m",
                                   "version": version, "status": "complete"},
                         frozenset({"complete"})).event_id


def test_an_attempt_finished_after_its_callback_was_deleted_logs_nothing(database):
    account = accounts.create_account("acme").account
    callback_id, delivery_id = one_delivery(account)
    deliveries.claim([delivery_id], timedelta(seconds=5))
    [claimed] = deliveries.load_claimed([delivery_id])

    callbacks.delete(account, callback_id)
    deliveries.finish_attempts([Outcome(claimed, RECORD, DeliveryState.SUCCEEDED)])

    assert Attempt.select().count() == 0
    assert Delivery.select().count() == 0


def test_a_second_claim_of_a_claimed_delivery_takes_nothing(database):
    account = accounts.create_account("acme").account
    _, delivery_id = one_delivery(account)

    first = deliveries.claim([delivery_id], timedelta(seconds=5))
    second = deliveries.claim([delivery_id], timedelta(seconds=5))

    assert (first, second) == ([delivery_id], [])
    assert Delivery.get_by_id(delivery_id).state == DeliveryState.SENDING


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_parallel_status_reports_on_sqlite_never_meet_a_locked_database(
    client, auth
):
    failures: list[int] = []

    def report(worker: int) -> None:
        with db.connection():
            for n in range(15):
                answer = client.post("/cloud/model_status", headers=auth, json={
                    "project_name": "p", "name": f"m{worker}", "version": n,
                    "status": "complete"})
                if answer.status_code != 202:
                    failures.append(answer.status_code)

    threads = [threading.Thread(target=report, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    with db.connection():
        assert Event.select().count() == 8 * 15


def test_a_fan_out_makes_each_event_and_callback_pair_once(database):
    account = accounts.create_account("acme").account
    first, second, later = (make_callback(account) for _ in range(3))
    events_made = [Event.get_by_id(report(account, version)) for version in (1, 2)]
    margin = timedelta(seconds=5)

    with db.connection():
        enabled = {c.id: c for c in callbacks.enabled_for(account.id)}
        made = db.atomic(lambda: deliveries.create_claimed(
            [(event, [enabled[first.id], enabled[second.id]])
             for event in events_made], margin))
        again = db.atomic(lambda: deliveries.create_claimed(
            [(event, list(enabled.values())) for event in events_made], margin))
        stored = [(d.event_id, d.callback_id, d.state, d.attempts_made)
                  for d in Delivery.select()]

    assert sorted((d.event.id, d.callback.id) for d in made) == sorted(
        (e.id, c.id) for e in events_made for c in (first, second))
    assert sorted((d.event.id, d.callback.id) for d in again) == sorted(
        (e.id, later.id) for e in events_made)
    assert sorted(stored) == sorted(
        (e.id, c.id, DeliveryState.SENDING, 0)
        for e in events_made for c in (first, second, later))
    assert {d.id for d in made}.isdisjoint(d.id for d in again)


def test_a_record_moves_each_delivery_as_its_outcome_says_and_logs_it_exactly(
    database
):
    account = accounts.create_account("acme").account
    callback_ids = [make_callback(account).id for _ in range(4)]
    event = Event.get_by_id(report(account, 1))
    make_pending_deliveries(event, callback_ids)
    by_callback = {d.callback_id: d.id for d in Delivery.select()}
    ok, later, failed, stale = (by_callback[c] for c in callback_ids)
    deliveries.claim(list(by_callback.values()), timedelta(seconds=5))
    loaded = {d.id: d for d in deliveries.load_claimed(list(by_callback.values()))}
    loaded[stale].lease_until -= timedelta(seconds=1)  # a claim since replaced
    next_at = datetime(2026, 12, 4, 9, 0, 7, 250000)
    answers = {
        ok: AttemptRecord(datetime(2026, 12, 4, 9, 0, 0, 1), 0.0125, 200, None,
                          'quoted "words", {braces}, back\\slash, NULL', False),
        later: AttemptRecord(datetime(2026, 12, 4, 9, 0), 1.5, 503, None,
                             "ünïcode and a NUL:\x00", True),
        failed: AttemptRecord(datetime(2026, 12, 4, 9, 0), 0.0, None,
                              "ConnectError: refused", "", False),
        stale: RECORD,
    }
    outcomes = [
        Outcome(loaded[ok], answers[ok], DeliveryState.SUCCEEDED),
        Outcome(loaded[later], answers[later], DeliveryState.PENDING, next_at),
        Outcome(loaded[failed], answers[failed], DeliveryState.FAILED),
        Outcome(loaded[stale], answers[stale], DeliveryState.SUCCEEDED),
    ]

    moved = deliveries.finish_attempts(outcomes)

    assert sorted(moved) == sorted([ok, later, failed])
    logged = {a.delivery_id: (a.number, a.started_at, a.duration_ms, a.status_code,
                              a.error, a.response_excerpt, a.response_truncated)
              for a in Attempt.select()}
    assert logged == {
        ok: (1, datetime(2026, 12, 4, 9, 0, 0, 1), 12.5, 200, None,
             'quoted "words", {braces}, back\\slash, NULL', False),
        later: (1, datetime(2026, 12, 4, 9, 0), 1500.0, 503, None,
                "ünïcode and a NUL:\ufffd", True),
        failed: (1, datetime(2026, 12, 4, 9, 0), 0.0, None,
                 "ConnectError: refused", "", False),
    }
    stored = {d.id: d for d in Delivery.select()}
    assert {i: (d.state, d.attempts_made, d.lease_until)
            for i, d in stored.items()} == {
        ok: (DeliveryState.SUCCEEDED, 1, None),
        later: (DeliveryState.PENDING, 1, None),
        failed: (DeliveryState.FAILED, 1, None),
        stale: (DeliveryState.SENDING, 0, stored[stale].lease_until),
    }
    assert stored[stale].lease_until is not None
    assert stored[later].next_attempt_at == next_at
    assert [stored[i].finished_at is None for i in (ok, later, failed, stale)] == [
        False, True, False, True]


def test_a_record_of_a_delivery_released_meanwhile_changes_nothing(database):
    account = accounts.create_account("acme").account
    _, delivery_id = one_delivery(account)
    deliveries.claim([delivery_id], timedelta(seconds=5))
    [claimed] = deliveries.load_claimed([delivery_id])

    deliveries.release([delivery_id], DeliveryState.DROPPED)
    moved = deliveries.finish_attempts(
        [Outcome(claimed, RECORD, DeliveryState.SUCCEEDED)])

    assert moved == []
    assert Attempt.select().count() == 0
    stored = Delivery.get_by_id(delivery_id)
    assert (stored.state, stored.attempts_made, stored.lease_until) == (
        DeliveryState.DROPPED, 0, None)
