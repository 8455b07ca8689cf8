"""Accepted status changes survive dead workers and an emptied Redis, and
workers share the load. Celery on the real Redis and PostgreSQL only."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.e2e.receiver import Receiver
from tests.e2e.stack import CeleryStack, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path):
    service = CeleryStack(POSTGRES_URL, REDIS_URL, tmp_path)
    yield service
    service.stop()


@pytest.fixture
def receiver():
    listening = Receiver()
    yield listening
    listening.stop()


def names_at(receiver, path) -> Counter:
    return Counter(json.loads(r.body)["name"] for r in receiver.at(path))


def test_a_worker_killed_mid_batch_loses_no_delivery(stack, receiver):
    worker = stack.start_worker("doomed", concurrency=4)
    stack.add_callback(receiver.script("/batch", 200, delay=0.05),
                       attempt={"http_timeout": 1})
    models = [f"model_{n}" for n in range(200)]

    for name in models:
        stack.report(name, "complete")
    wait_until(lambda: len(receiver.at("/batch")) >= 40, what="40 deliveries")
    worker.kill()
    stack.start_worker("replacement", concurrency=4)
    stack.start_beat()

    wait_until(lambda: set(names_at(receiver, "/batch")) == set(models),
               timeout=90, what="all 200 models delivered")
    requests = receiver.at("/batch")
    ids_by_name: dict[str, set[str]] = {}
    for request in requests:
        name = json.loads(request.body)["name"]
        ids_by_name.setdefault(name, set()).add(request.headers["webhook-id"])
    duplicates = sum(n - 1 for n in names_at(receiver, "/batch").values())
    print(f"200 deliveries, {duplicates} sent twice after the kill")
    assert all(len(ids) == 1 for ids in ids_by_name.values())


def test_deliveries_survive_redis_losing_every_message(stack, receiver):
    worker = stack.start_worker("before-flush")
    retried = stack.add_callback(receiver.script("/retried", 500, 200),
                                 attempt={"count": 3, "interval": 5})
    stack.report("waiting_retry", "complete")
    # The worker dies with the retry waiting in it: the interval leaves the
    # kill seconds ahead of the second attempt, however loaded the machine.
    wait_until(lambda: [d["attempts_made"] for d in stack.deliveries(retried["id"])]
               == [1], what="the first attempt recorded")
    worker.kill()

    stack.report("accepted_1", "complete")
    stack.report("accepted_2", "complete")
    stack.redis.flushdb()
    stack.start_worker("after-flush")
    stack.start_beat()

    wait_until(lambda: len(receiver.at("/retried")) >= 4, timeout=60,
               what="the retry and both accepted events")
    assert names_at(receiver, "/retried") == Counter(
        {"waiting_retry": 2, "accepted_1": 1, "accepted_2": 1})
    states = {d["id"]: (d["state"], d["attempts_made"])
              for d in stack.deliveries(retried["id"])}
    by_name = {json.loads(r.body)["name"]: r.headers["webhook-id"]
               for r in receiver.at("/retried")}
    assert states[by_name["waiting_retry"]] == ("succeeded", 2)
    assert states[by_name["accepted_1"]] == ("succeeded", 1)


def test_two_workers_share_1000_deliveries_each_sent_exactly_once(stack, receiver):
    first = stack.start_worker("w1", concurrency=4)
    second = stack.start_worker("w2", concurrency=4)
    for n in range(10):
        stack.add_callback(receiver.script(f"/share{n}", 200))

    for n in range(100):
        stack.report(f"model_{n}", "complete")

    wait_until(lambda: len(receiver.requests) >= 1000, timeout=120,
               what="1000 deliveries")
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 1000 and set(ids.values()) == {1}

    def done_by_each() -> list[int]:
        return [worker.log().count(": 200 -> succeeded")
                for worker in (first, second)]

    wait_until(lambda: sum(done_by_each()) >= 1000, what="both workers' logs")
    print(f"deliveries made by w1 and w2: {done_by_each()}")
    assert sum(done_by_each()) == 1000 and min(done_by_each()) > 0
