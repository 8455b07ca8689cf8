"""SIGKILL during a long run of deliveries to a slow receiver loses none.

A killed pool process gives its message back (``task_reject_on_worker_lost``)
and a killed worker leaves its deliveries leased; either way every delivery
arrives, and one sent twice carries the same ``webhook-id`` both times.
``CHAOS_EVENTS`` x ``CHAOS_CALLBACKS`` sets the number of deliveries.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from chaos.conftest import size
from chaos.helpers import (
    Arrivals,
    all_settled,
    busiest,
    children_of,
    report_many,
    since,
)
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.chaos

RECEIVER_DELAY = 0.03


def start_run(stack, receiver) -> tuple[list[str], list[str]]:
    """Callbacks on a slow receiver and the model names to report."""
    callbacks = size("CALLBACKS", 10)
    paths = [f"/slow{n}" for n in range(callbacks)]
    for path in paths:
        stack.add_callback(receiver.script(path, 200, delay=RECEIVER_DELAY),
                           attempt={"http_timeout": 2})
    return paths, [f"model_{n}" for n in range(size("EVENTS", 50))]


def finish_run(stack, receiver, figures, expected: int, killed_at: float) -> Arrivals:
    wait_until(lambda: len(Arrivals.of(receiver.requests).sends) >= expected,
               timeout=240, interval=0.2, what=f"{expected} deliveries")
    figures["recovered_after_s"] = since(killed_at)
    wait_until(lambda: all_settled(expected), timeout=60, what="every delivery settled")

    arrivals = Arrivals.of(receiver.requests)
    figures.update(deliveries=len(arrivals.sends), requests=len(receiver.requests),
                   requests_cut_short=receiver.cut_short,
                   duplicates=arrivals.duplicates,
                   deliveries_sent_twice=arrivals.deliveries_sent_twice,
                   one_webhook_id_per_delivery=arrivals.one_id_per_delivery)
    return arrivals


def test_a_killed_pool_process_loses_no_delivery(pg_stack, receiver, figures):
    worker = pg_stack.start_worker("prefork", pool="prefork", concurrency=4)
    pg_stack.start_beat()
    paths, names = start_run(pg_stack, receiver)
    expected = len(paths) * len(names)

    report_many(pg_stack, names)
    wait_until(lambda: len(receiver.requests) >= expected // 3, timeout=120,
               what="a third of the deliveries")
    # The busiest pool process is the one most likely to be mid-POST.
    victim = busiest(children_of(worker.pid))
    figures["delivered_before_kill"] = len(receiver.requests)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()

    arrivals = finish_run(pg_stack, receiver, figures, expected, killed_at)
    assert victim not in children_of(worker.pid)
    assert len(arrivals.sends) == expected
    assert arrivals.one_id_per_delivery


def test_a_killed_worker_loses_no_delivery_after_a_restart(pg_stack, receiver,
                                                           figures):
    worker = pg_stack.start_worker("doomed", pool="prefork", concurrency=4)
    pg_stack.start_beat()
    paths, names = start_run(pg_stack, receiver)
    expected = len(paths) * len(names)

    report_many(pg_stack, names)
    wait_until(lambda: len(receiver.requests) >= expected // 3, timeout=120,
               what="a third of the deliveries")
    figures["delivered_before_kill"] = len(receiver.requests)
    worker.kill()
    killed_at = time.monotonic()
    pg_stack.start_worker("replacement", pool="prefork", concurrency=4)

    arrivals = finish_run(pg_stack, receiver, figures, expected, killed_at)
    assert len(arrivals.sends) == expected
    assert arrivals.one_id_per_delivery
