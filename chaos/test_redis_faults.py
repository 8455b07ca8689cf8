"""Redis emptied or down: what the API accepted is still delivered.

The database is the outbox: a message Redis lost is published again by the
sweep, which finds events never fanned out and attempts that are overdue by
more than ``MODELHOOKS_SWEEP_GRACE``, every ``MODELHOOKS_SWEEP_INTERVAL``.
"""

from __future__ import annotations

import calendar
import time

import pytest

from app import db
from app.models import Delivery
from chaos.conftest import size, wall_clock
from chaos.helpers import Arrivals, report_many, since
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.chaos

SWEEP = {"MODELHOOKS_SWEEP_INTERVAL": "1", "MODELHOOKS_SWEEP_GRACE": "2"}
RETRY_INTERVAL = 6


def unix_time(naive_utc) -> float:
    return calendar.timegm(naive_utc.utctimetuple()) + naive_utc.microsecond / 1e6


def retry_times() -> dict[str, float]:
    """Each delivery waiting for its second attempt: ``next_attempt_at`` in Unix s."""
    with db.connection():
        query = Delivery.select(Delivery.id, Delivery.next_attempt_at).where(
            (Delivery.state == "pending") & (Delivery.attempts_made == 1))
        return {row.id: unix_time(row.next_attempt_at) for row in query}


def second_arrivals(receiver) -> dict[str, float]:
    """When each retried delivery's second request arrived, as Unix seconds."""
    seen: dict[str, list[float]] = {}
    for request in receiver.requests:
        if not request.path.startswith("/retry"):
            continue
        seen.setdefault(request.headers["webhook-id"], []).append(
            wall_clock(request.at))
    return {key: times[1] for key, times in seen.items() if len(times) > 1}


def test_flushall_loses_neither_accepted_events_nor_waiting_retries(
    stack_factory, own_postgres, own_redis, receiver, figures
):
    stack = stack_factory(own_postgres.url, **SWEEP)
    worker = stack.start_worker("before-flush")
    stack.start_beat()
    retrying, accepted = size("RETRIES", 20), size("ACCEPTED", 30)
    for n in range(retrying):
        # A path of its own per delivery: the receiver scripts answers per path.
        stack.add_callback(receiver.script(f"/retry{n}", 500, 200),
                           attempt={"count": 3, "interval": RETRY_INTERVAL},
                           filter={"model_name": f"retry_{n}"})
    stack.add_callback(receiver.script("/accepted", 200),
                       filter={"model_name": "accepted_.*"})
    report_many(stack, [f"retry_{n}" for n in range(retrying)])
    due = wait_until(lambda: len(retry_times()) == retrying and retry_times(),
                     what="every first attempt failed and recorded")

    worker.kill()
    accepted_at = time.time()
    report_many(stack, [f"accepted_{n}" for n in range(accepted)])
    own_redis.flushall()
    stack.start_worker("after-flush")
    ready_at = time.time()

    wait_until(lambda: len(second_arrivals(receiver)) >= retrying
               and len(receiver.at("/accepted")) >= accepted, timeout=60,
               what="every retry and every accepted event")
    late = [arrived - max(due[key], ready_at)
            for key, arrived in second_arrivals(receiver).items()]
    accepted_waits = [wall_clock(r.at) - accepted_at for r in receiver.at("/accepted")]
    bound = stack.settings.sweep_interval + stack.settings.sweep_grace
    figures.update(retries_waiting=retrying, retries_arrived=len(late),
                   retry_late_max_s=round(max(late), 2),
                   retry_late_mean_s=round(sum(late) / len(late), 2),
                   accepted=accepted, accepted_arrived=len(accepted_waits),
                   accepted_wait_max_s=round(max(accepted_waits), 2),
                   worker_ready_after_s=round(ready_at - accepted_at, 2),
                   sweep_interval_s=stack.settings.sweep_interval,
                   sweep_grace_s=stack.settings.sweep_grace)
    assert Arrivals.of(receiver.at("/accepted")).duplicates == 0
    assert len(Arrivals.of(receiver.at("/accepted")).sends) == accepted
    assert len(late) == retrying
    assert max(late) <= bound + 1.0


def test_a_status_posted_while_redis_is_down_is_accepted_and_delivered_later(
    stack_factory, own_postgres, own_redis, receiver, figures
):
    stack = stack_factory(own_postgres.url, **SWEEP)
    stack.start_worker("outlives-redis")
    stack.start_beat()
    stack.add_callback(receiver.script("/outage", 200))

    own_redis.stop()
    began = time.monotonic()
    answer = stack.call("POST", "/cloud/model_status", {
        "project_name": "mindsdb", "name": "during_outage", "version": 1,
        "status": "complete"})
    figures["post_during_outage_s"] = since(began)
    ready = stack.http.get(stack.base_url + "/readyz", timeout=10)
    listed = stack.call("GET", "/cloud/callback/model_status")
    time.sleep(size("OUTAGE_SECONDS", 3))
    own_redis.start()
    back_at = time.monotonic()

    wait_until(lambda: receiver.at("/outage"), timeout=90,
               what="the delivery after Redis came back")
    figures["delivered_after_redis_back_s"] = since(back_at)
    wait_until(lambda: stack.http.get(stack.base_url + "/readyz").status_code == 200,
               timeout=10, what="/readyz back to 200")
    after = time.monotonic()
    stack.report("after_outage", "complete")
    wait_until(lambda: len(receiver.at("/outage")) >= 2, timeout=30,
               what="a delivery posted after the outage")
    figures["next_delivery_after_outage_s"] = since(after)
    assert answer.status_code == 202 and answer.json()["triggered"] is True
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["broker"].startswith("broker unavailable")
    assert listed.status_code == 200
    assert len(receiver.at("/outage")) == 2
