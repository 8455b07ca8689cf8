"""Publishing on the real Redis: one drain message serves every event stored
while it waits in the queue."""

from __future__ import annotations

from app.broker import DRAIN_QUEUED_KEY, DRAIN_TASK, Broker
from tests.conftest import UNCONSUMED_REDIS_URL as REDIS_URL
from tests.conftest import queued_tasks

QUEUE = "modelhooks"


def test_events_stored_while_a_drain_is_queued_publish_nothing_more(queue_redis):
    broker = Broker(REDIS_URL)

    answers = [broker.publish_fan_out(f"evt_{n}") for n in range(5)]

    assert answers == [True] * 5
    assert queued_tasks(queue_redis) == [DRAIN_TASK]


def test_an_event_stored_after_the_flag_went_down_publishes_another(queue_redis):
    broker = Broker(REDIS_URL)
    broker.publish_fan_out("evt_1")

    broker.release_flag()
    broker.publish_fan_out("evt_2")
    broker.publish_fan_out("evt_3")

    assert queued_tasks(queue_redis) == [DRAIN_TASK, DRAIN_TASK]


def test_the_queued_flag_expires_so_a_lost_drain_stops_holding_events_back(
        queue_redis):
    broker = Broker(REDIS_URL)
    broker.publish_fan_out("evt_1")

    ttl_ms = queue_redis.pttl(DRAIN_QUEUED_KEY)

    assert 0 < ttl_ms <= 5_000


def test_publish_drain_queues_one_even_when_the_flag_is_set(queue_redis):
    broker = Broker(REDIS_URL)
    broker.publish_fan_out("evt_1")

    assert broker.publish_drain() is True

    assert queued_tasks(queue_redis) == [DRAIN_TASK, DRAIN_TASK]


def test_a_broker_that_is_down_answers_false_and_the_event_waits_for_the_sweep(
        caplog):
    broker = Broker("redis://127.0.0.1:1/0")

    assert broker.publish_fan_out("evt_9") is False

    assert "event evt_9: could not publish its fan-out; the sweep will" in caplog.text


def test_the_flag_survives_redis_closing_the_connection_it_kept(queue_redis):
    broker = Broker(REDIS_URL)
    broker.publish_fan_out("evt_1")
    broker.release_flag()
    kept = [client["id"] for client in queue_redis.client_list()
            if client["cmd"] in ("set", "ltrim", "del")]
    assert kept
    for client_id in kept:
        queue_redis.client_kill_filter(_id=client_id)

    assert broker.publish_fan_out("evt_2") is True

    assert queued_tasks(queue_redis) == [DRAIN_TASK, DRAIN_TASK]
    assert 0 < queue_redis.pttl(DRAIN_QUEUED_KEY) <= 5_000


def test_reports_from_many_short_lived_threads_use_no_connection_each(queue_redis):
    # A server that starts a thread per request (werkzeug's, in tests and
    # development): each report's thread ends, its connection must not stay.
    import threading

    broker = Broker(REDIS_URL)
    answers = []
    for number in range(200):
        thread = threading.Thread(
            target=lambda n=number: answers.append(broker.publish_fan_out(f"evt_{n}")))
        thread.start()
        thread.join()

    pool = broker._flags.connection_pool
    assert answers == [True] * 200
    assert pool._created_connections <= 2
