"""The sender's bookkeeping when things go wrong around an attempt.

The transport here is a stand-in that answers as told: what is under test is
what the sender records, not HTTP (tests/test_transport.py and tests/e2e do
that against real receivers).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import accounts, callbacks, deliveries, events
from app.config import Settings
from app.models import Attempt, Delivery, DeliveryState, Event, utcnow
from tests.conftest import make_pending_deliveries
from workers.sender import Sender
from workers.transport import AttemptResult, failure

SETTINGS = Settings(allow_private_targets=True, sweep_grace=5.0)


class ScriptedTransport:
    """Answers every post with ``answer``, or raises ``error``."""

    def __init__(self, answer: AttemptResult | None = None,
                 error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.posts = 0
        self.headers: list[dict[str, str]] = []

    def post(self, url, body, headers, *, timeout):
        self.posts += 1
        if self.error is not None:
            raise self.error
        return self.answer

    def post_many(self, requests):
        # As the batch transport promises: a fault in one attempt is that
        # attempt's result, never an exception out of the batch.
        results = []
        for request in requests:
            try:
                self.headers.append(dict(request.headers_now()))
                results.append(self.post(request.url, request.body,
                                         request.headers_now(),
                                         timeout=request.timeout))
            except Exception as error:
                results.append(failure(f"InternalError: {type(error).__name__}: "
                                       f"{error}"))
        return results

    def close(self) -> None:
        return None


def answer(status: int, retry_after: str | None = None) -> AttemptResult:
    return AttemptResult(ok=200 <= status < 300, status_code=status, error=None,
                         excerpt="", truncated=False, duration=0.01,
                         retry_after=retry_after)


@pytest.fixture
def delivery_id(database) -> str:
    account = accounts.create_account("acme").account
    callback = callbacks.create(
        account, {"url": "http://127.0.0.1:9/h",
                  "filter": {"model_name": ".*", "project_name": ".*"},
                  "attempt": {"count": 3, "interval": 7, "http_timeout": 1}},
        SETTINGS)
    change = events.record(account, {"project_name": "p", "name": "m", "version": 1,
                                     "status": "complete"}, frozenset({"complete"}))
    make_pending_deliveries(Event.get_by_id(change.event_id), [callback.id])
    return Delivery.get(Delivery.callback == callback.id).id


def test_an_attempt_whose_claim_ran_out_is_not_logged_and_the_next_one_is(
    delivery_id
):
    deliveries.claim([delivery_id], timedelta(seconds=5))
    [stale] = deliveries.load_claimed([delivery_id])
    Delivery.update(lease_until=utcnow() - timedelta(seconds=1)).execute()
    deliveries.reclaim_abandoned()
    deliveries.claim([delivery_id], timedelta(seconds=5))
    [fresh] = deliveries.load_claimed([delivery_id])
    record = deliveries.AttemptRecord(utcnow(), 0.1, 200, None, "", False)

    late = deliveries.finish_attempts(
        [deliveries.Outcome(stale, record, DeliveryState.SUCCEEDED)])
    current = deliveries.finish_attempts(
        [deliveries.Outcome(fresh, record, DeliveryState.SUCCEEDED)])

    assert (late, current) == ([], [delivery_id])
    assert [a.number for a in Attempt.select()] == [1]
    assert Delivery.get_by_id(delivery_id).attempts_made == 1


def test_a_fault_inside_the_attempt_is_a_failed_attempt_that_will_be_retried(
    delivery_id
):
    sender = Sender(SETTINGS, ScriptedTransport(error=RuntimeError("boom")))

    [attempted] = sender.attempt([delivery_id])

    [attempt] = Attempt.select()
    assert attempt.error == "InternalError: RuntimeError: boom"
    assert attempt.status_code is None
    assert attempted.state == DeliveryState.PENDING
    assert 6.0 <= attempted.retry_in <= 7.0


def test_a_retry_after_past_the_last_datetime_falls_back_to_the_interval(
    delivery_id
):
    far = "Fri, 31 Dec 9999 23:00:00 -0500"
    sender = Sender(SETTINGS, ScriptedTransport(answer(503, retry_after=far)))

    [attempted] = sender.attempt([delivery_id])

    assert attempted.state == DeliveryState.PENDING
    assert 6.0 <= attempted.retry_in <= 7.0
    assert Attempt.get().status_code == 503


def test_the_last_allowed_attempt_fails_the_delivery(delivery_id):
    transport = ScriptedTransport(answer(500))
    sender = Sender(SETTINGS, transport)

    for _ in range(3):
        Delivery.update(next_attempt_at=utcnow()).execute()
        sender.attempt([delivery_id])
    Delivery.update(next_attempt_at=utcnow()).execute()
    extra = sender.attempt([delivery_id])

    delivery = Delivery.get_by_id(delivery_id)
    assert (delivery.state, delivery.attempts_made) == (DeliveryState.FAILED, 3)
    assert extra == [] and transport.posts == 3


def test_an_overdue_delivery_is_handed_out_once_per_grace_period(delivery_id):
    Delivery.update(next_attempt_at=utcnow() - timedelta(minutes=5)).execute()

    first = deliveries.take_overdue(timedelta(seconds=60))
    second = deliveries.take_overdue(timedelta(seconds=60))

    assert (first, second) == ([delivery_id], [])
    assert deliveries.seconds_until_due(delivery_id) == 0.0


def test_every_lease_in_a_batch_covers_its_longest_attempts(database):
    account = accounts.create_account("acme").account
    ids = []
    for http_timeout in (0.5, 4.0):
        callback = callbacks.create(
            account, {"url": "http://127.0.0.1:9/h",
                      "filter": {"model_name": ".*", "project_name": ".*"},
                      "attempt": {"count": 1, "interval": 1,
                                  "http_timeout": http_timeout}}, SETTINGS)
        ids.append(callback.id)
    change = events.record(account, {"project_name": "p", "name": "m", "version": 1,
                                     "status": "complete"}, frozenset({"complete"}))
    make_pending_deliveries(Event.get_by_id(change.event_id), ids)
    before = utcnow()

    claimed = deliveries.claim([d.id for d in Delivery.select()],
                               timedelta(seconds=5), rounds=3)

    leases = {d.lease_until for d in Delivery.select()}
    assert len(claimed) == 2 and len(leases) == 1
    [lease] = leases
    assert before + timedelta(seconds=17) <= lease <= utcnow() + timedelta(seconds=17)


def test_a_sweep_does_not_undo_a_claim_made_after_the_lease_it_found_expired(
    delivery_id
):
    deliveries.claim([delivery_id], timedelta(seconds=5))
    Delivery.update(lease_until=utcnow() - timedelta(seconds=1)).execute()
    assert deliveries.reclaim_abandoned() == [delivery_id]
    deliveries.claim([delivery_id], timedelta(seconds=5))
    fresh = Delivery.get_by_id(delivery_id).lease_until

    again = deliveries.reclaim_abandoned()

    delivery = Delivery.get_by_id(delivery_id)
    assert again == []
    assert (delivery.state, delivery.lease_until) == (DeliveryState.SENDING, fresh)


def test_a_delivery_waiting_for_its_retry_is_not_overdue(delivery_id):
    later = utcnow() + timedelta(minutes=10)
    Delivery.update(next_attempt_at=later).execute()

    taken = deliveries.take_overdue(timedelta(seconds=1))

    assert taken == []
    assert Delivery.get_by_id(delivery_id).next_attempt_at == later
