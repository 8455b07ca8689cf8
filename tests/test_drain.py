"""The drain's watch, on the real Redis: who holds the flag when, and which
events reach a drain without a task message of their own.

The outbox here is scripted (each look answers the next batch of a list), so
that the test decides what every look finds and records whether the flag
stood at that moment; the database side of a batch has tests of its own.
"""

from __future__ import annotations

import threading
import time

from app.broker import DRAIN_QUEUED_KEY, DRAIN_TASK, DRAIN_WAKE_KEY, Broker
from tests.conftest import UNCONSUMED_REDIS_URL as REDIS_URL
from tests.conftest import queued_tasks
from workers import drain as drain_module
from workers.drain import Drain
from workers.sender import FanOutBatch


class ScriptedOutbox:
    """Stands in for ``Sender.fan_out_waiting``: look number n takes
    ``events[n]`` events (none once the list runs out)."""

    def __init__(self, redis_client, events: list[int],
                 while_sending=None, sending_seconds: float = 0.0) -> None:
        self.redis = redis_client
        self.events = list(events)
        self.while_sending = while_sending
        self.sending_seconds = sending_seconds
        self.flag_at_look: list[bool] = []
        self.flag_while_sending: list[bool] = []
        self.looked = threading.Event()

    def fan_out_waiting(self, limit, before_sending=None) -> FanOutBatch:
        self.flag_at_look.append(bool(self.redis.exists(DRAIN_QUEUED_KEY)))
        taken = self.events.pop(0) if self.events else 0
        if taken and before_sending is not None:
            before_sending()
        if taken:
            time.sleep(self.sending_seconds)
            self.flag_while_sending.append(bool(self.redis.exists(DRAIN_QUEUED_KEY)))
            if self.while_sending is not None:
                self.while_sending()
        self.looked.set()
        return FanOutBatch(taken, [], more=False)


def start(outbox, linger: float, stopping=None) -> tuple[Drain, threading.Thread]:
    run = Drain(outbox, Broker(REDIS_URL), linger, schedule=lambda attempted: None,
                stopping=stopping or threading.Event())
    thread = threading.Thread(target=run.run, daemon=True)
    thread.start()
    return run, thread


def wait_for_looks(outbox: ScriptedOutbox, count: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while len(outbox.flag_at_look) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(outbox.flag_at_look) >= count, (
        f"the drain looked {len(outbox.flag_at_look)} times, not {count}")


def test_an_event_stored_while_a_drain_watches_is_taken_without_a_message(
        queue_redis):
    api = Broker(REDIS_URL)
    api.publish_fan_out("evt_1")
    queue_redis.delete("modelhooks")  # the drain's message, as a worker took it
    stopping = threading.Event()
    outbox = ScriptedOutbox(queue_redis, [1, 0, 1])
    _, thread = start(outbox, linger=10, stopping=stopping)
    wait_for_looks(outbox, 2)  # the first batch, then the look that found none

    answered = api.publish_fan_out("evt_2")
    wait_for_looks(outbox, 3)
    stopping.set()
    thread.join(timeout=5)

    assert answered is True
    assert queued_tasks(queue_redis) == []
    assert outbox.flag_at_look[:3] == [True, True, True]
    assert not thread.is_alive()


def test_an_event_stored_while_a_quick_batch_sends_waits_for_that_drain(
        queue_redis):
    api = Broker(REDIS_URL)
    api.publish_fan_out("evt_1")
    queue_redis.delete("modelhooks")
    answers = []
    stopping = threading.Event()
    outbox = ScriptedOutbox(queue_redis, [1, 1],
                            while_sending=lambda: answers.append(
                                api.publish_fan_out("evt_2")))
    _, thread = start(outbox, linger=10, stopping=stopping)

    wait_for_looks(outbox, 3)
    stopping.set()
    thread.join(timeout=5)

    # The first batch sent within SLOW_SENDING: the flag stood throughout,
    # evt_2 left a wake-up, and the same drain's next look took it.
    assert outbox.flag_while_sending[0] is True
    assert answers[0] is True
    assert queued_tasks(queue_redis) == []
    assert not thread.is_alive()


def test_the_flag_goes_down_while_a_slow_batch_sends_and_an_event_gets_a_drain(
        queue_redis):
    api = Broker(REDIS_URL)
    api.publish_fan_out("evt_1")
    queue_redis.delete("modelhooks")
    answers = []
    outbox = ScriptedOutbox(queue_redis, [1],
                            while_sending=lambda: answers.append(
                                api.publish_fan_out("evt_2")),
                            sending_seconds=drain_module.SLOW_SENDING + 0.1)
    _, thread = start(outbox, linger=10)

    thread.join(timeout=5)

    # evt_2 raised the flag and published a drain: that drain now looks after
    # the rest, so this one ends instead of watching.
    assert outbox.flag_while_sending == [False]
    assert answers == [True]
    assert queued_tasks(queue_redis) == [DRAIN_TASK]
    assert not thread.is_alive()
    assert outbox.flag_at_look == [True]


def test_after_a_slow_batch_the_drain_takes_the_flag_up_again_and_watches(
        queue_redis):
    Broker(REDIS_URL).publish_fan_out("evt_1")
    stopping = threading.Event()
    outbox = ScriptedOutbox(queue_redis, [1],
                            sending_seconds=drain_module.SLOW_SENDING + 0.1)
    _, thread = start(outbox, linger=10, stopping=stopping)

    wait_for_looks(outbox, 2)
    held = bool(queue_redis.exists(DRAIN_QUEUED_KEY))
    stopping.set()
    thread.join(timeout=5)

    assert outbox.flag_while_sending == [False]
    assert held is True
    assert not queue_redis.exists(DRAIN_QUEUED_KEY)


def test_after_lingering_the_drain_puts_the_flag_down_then_looks_once_more(
        queue_redis):
    Broker(REDIS_URL).publish_fan_out("evt_1")
    outbox = ScriptedOutbox(queue_redis, [1, 0])

    started = time.monotonic()
    _, thread = start(outbox, linger=0.3)
    thread.join(timeout=5)
    took = time.monotonic() - started

    # The last look comes after the flag went down: an event stored just
    # before saw the flag up, left only a wake-up, and is found by it.
    assert not thread.is_alive()
    assert outbox.flag_at_look == [True, True, False]
    assert took >= 0.3
    assert not queue_redis.exists(DRAIN_QUEUED_KEY)


def test_a_wake_up_makes_the_drain_look_at_once(queue_redis, monkeypatch):
    Broker(REDIS_URL).publish_fan_out("evt_1")
    queue_redis.delete(DRAIN_WAKE_KEY)
    stopping = threading.Event()
    outbox = ScriptedOutbox(queue_redis, [0])
    # Waits long enough that only a wake-up can explain a quick second look.
    monkeypatch.setattr(drain_module, "WAKE_WAIT", 30.0)
    _, thread = start(outbox, linger=30, stopping=stopping)
    wait_for_looks(outbox, 1)
    time.sleep(0.1)

    woke_at = time.monotonic()
    Broker(REDIS_URL).publish_fan_out("evt_2")
    wait_for_looks(outbox, 2, timeout=5)
    delay = time.monotonic() - woke_at
    queue_redis.lpush(DRAIN_WAKE_KEY, 1)  # lets the last wait end
    stopping.set()
    thread.join(timeout=5)

    assert delay < 5
    assert queued_tasks(queue_redis) == [DRAIN_TASK]  # evt_1's only
    assert not thread.is_alive()


def test_without_linger_the_flag_goes_down_before_the_first_look(queue_redis):
    Broker(REDIS_URL).publish_fan_out("evt_1")
    outbox = ScriptedOutbox(queue_redis, [1])

    _, thread = start(outbox, linger=0)
    thread.join(timeout=5)

    assert outbox.flag_at_look == [False]
    assert not thread.is_alive()


def test_a_failed_batch_puts_the_flag_down_so_new_events_get_a_drain(queue_redis):
    Broker(REDIS_URL).publish_fan_out("evt_1")

    class Failing(ScriptedOutbox):
        def fan_out_waiting(self, limit, before_sending=None):
            raise RuntimeError("the database went away")

    run = Drain(Failing(queue_redis, []), Broker(REDIS_URL), 10,
                schedule=lambda attempted: None, stopping=threading.Event())
    try:
        run.run()
    except RuntimeError as error:
        raised = str(error)

    assert raised == "the database went away"
    assert not queue_redis.exists(DRAIN_QUEUED_KEY)


def test_slow_sending_puts_the_flag_down_once_per_armed_batch(monkeypatch):
    monkeypatch.setattr(drain_module, "SLOW_SENDING", 0.0)
    released: list[int] = []
    slow = drain_module.SlowSending(lambda: released.append(1))

    slow.arm()
    deadline = time.monotonic() + 5
    while not released and time.monotonic() < deadline:
        time.sleep(0.01)
    first = slow.disarm()
    second = slow.disarm()  # a batch that took no event is never armed
    slow.close()

    assert (first, second, released) == (True, False, [1])


def test_a_batch_done_before_slow_sending_keeps_the_flag(monkeypatch):
    monkeypatch.setattr(drain_module, "SLOW_SENDING", 30.0)
    released: list[int] = []
    slow = drain_module.SlowSending(lambda: released.append(1))

    slow.arm()
    answer = slow.disarm()
    slow.close()

    assert (answer, released) == (False, [])


def test_a_drain_that_loses_redis_stops_watching_and_looks_once_more(caplog):
    lost = Broker("redis://127.0.0.1:1/0")  # nothing listens there
    looks: list[int] = []

    class Outbox:
        def fan_out_waiting(self, limit, before_sending=None):
            looks.append(limit)
            return FanOutBatch(0, [], more=False)

    run = Drain(Outbox(), lost, 10, schedule=lambda attempted: None,
                stopping=threading.Event())
    run.run()

    assert len(looks) == 2
    assert "the drain stopped watching for events: Error 111 connecting" in caplog.text
