"""The sweep: what it publishes again once the broker lost it."""

from __future__ import annotations

from datetime import timedelta

from app import accounts, db, events
from app.config import Settings
from app.models import Delivery, DeliveryState, Event, utcnow
from tests.conftest import make_callback, make_pending_deliveries
from workers import sweeper

SETTINGS = Settings(allow_private_targets=True, sweep_grace=5.0)
TRIGGERS = frozenset({"complete"})


class Published:
    def __init__(self) -> None:
        self.drains = 0
        self.deliveries: list[str] = []

    def drain(self) -> None:
        self.drains += 1

    def deliver(self, delivery_id: str) -> None:
        self.deliveries.append(delivery_id)


def stored_event(account, version: int, age: float) -> str:
    event_id = events.record(account, {"project_name": "p", "name": "m",
                                       "version": version, "status": "complete"},
                             TRIGGERS).event_id
    Event.update(created_at=utcnow() - timedelta(seconds=age)).where(
        Event.id == event_id).execute()
    return event_id


def test_events_waiting_past_the_grace_period_get_one_drain(database):
    account = accounts.create_account("acme").account
    with db.connection():
        for version in range(1, 4):
            stored_event(account, version, age=60)
        stored_event(account, 4, age=1)
        published = Published()

        counts = sweeper.sweep(SETTINGS, deliver=published.deliver,
                               drain=published.drain)

    assert counts == (3, 0)
    assert (published.drains, published.deliveries) == (1, [])


def test_a_fresh_event_gets_no_drain_from_the_sweep(database):
    account = accounts.create_account("acme").account
    with db.connection():
        stored_event(account, 1, age=1)
        published = Published()

        counts = sweeper.sweep(SETTINGS, deliver=published.deliver,
                               drain=published.drain)

    assert counts == (0, 0)
    assert published.drains == 0


def test_a_delivery_whose_worker_died_is_handed_out_at_once(database):
    account = accounts.create_account("acme").account
    callback = make_callback(account)
    with db.connection():
        event_id = stored_event(account, 1, age=1)
        make_pending_deliveries(Event.get_by_id(event_id), [callback.id])
        Delivery.update(state=DeliveryState.SENDING,
                        lease_until=utcnow() - timedelta(seconds=1)).execute()
        [delivery] = Delivery.select()
        published = Published()

        counts = sweeper.sweep(SETTINGS, deliver=published.deliver,
                               drain=published.drain)
        state = Delivery.get_by_id(delivery.id).state

    assert counts == (0, 1)
    assert published.deliveries == [delivery.id]
    assert state == DeliveryState.PENDING
