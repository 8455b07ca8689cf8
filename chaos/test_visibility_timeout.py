"""Retries that wait far longer than Redis's visibility timeout.

Redis hands a message that is not acknowledged within the timeout to a worker
again, so a retry waiting for its countdown is handed out again and again.
Each copy first claims its delivery, and a copy that is early claims nothing:
exactly ``attempt.count`` POSTs, never one more.
"""

from __future__ import annotations

import pytest

from app import db
from app.models import Attempt
from chaos.conftest import size
from chaos.helpers import Arrivals, all_settled, report_many, states
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.chaos

SHORT = {"MODELHOOKS_VISIBILITY_TIMEOUT": "2", "MODELHOOKS_SWEEP_INTERVAL": "1",
         "MODELHOOKS_SWEEP_GRACE": "2"}
INTERVAL, COUNT = 6, 3


def test_retries_outwaiting_the_visibility_timeout_make_exactly_count_attempts(
    stack_factory, own_postgres, receiver, figures
):
    stack = stack_factory(own_postgres.url, **SHORT)
    workers = [stack.start_worker(f"w{n}", concurrency=4) for n in range(2)]
    stack.start_beat()
    deliveries = size("VISIBILITY_DELIVERIES", 20)
    stack.add_callback(receiver.script("/refuses", 500),
                       attempt={"count": COUNT, "interval": INTERVAL})

    report_many(stack, [f"model_{n}" for n in range(deliveries)])

    wait_until(lambda: all_settled(deliveries), timeout=120, interval=0.5,
               what="every delivery failed for good")
    arrivals = Arrivals.of(receiver.requests)
    received = sum(w.log().count("Task modelhooks.deliver[") for w in workers)
    with db.connection():
        numbers = sorted(a.number for a in Attempt.select())
    figures.update(visibility_timeout_s=2, interval_s=INTERVAL, count=COUNT,
                   deliveries=len(arrivals.sends), requests=len(receiver.requests),
                   duplicates=len(receiver.requests) - deliveries * COUNT,
                   retry_messages_received=received,
                   retry_messages_needed=deliveries * (COUNT - 1))
    assert states() == {"failed": deliveries}
    assert set(arrivals.sends.values()) == {COUNT}
    assert numbers == sorted(list(range(1, COUNT + 1)) * deliveries)
    assert received > deliveries * (COUNT - 1)
