"""A worker with four prefork processes on PostgreSQL shares no connection.

Each pool process opens its own session after the fork; 200 events times 3
callbacks are all delivered once, and every attempt is in the log.
"""

from __future__ import annotations

import re

import pytest

from app import db
from app.broker import Broker
from app.models import Attempt, Delivery
from chaos.conftest import size
from chaos.helpers import Arrivals, all_settled, children_of, report_many, states
from chaos.probe import BACKEND_PID_TASK
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.chaos

PROBE_LINE = re.compile(r"probe: process (\d+) uses backend (\d+)")


def sessions_by_process(log: str) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for process, backend in PROBE_LINE.findall(log):
        found.setdefault(int(process), set()).add(int(backend))
    return found


def test_four_pool_processes_each_use_their_own_sessions_for_600_deliveries(
    pg_stack, receiver, figures
):
    worker = pg_stack.start_worker("four", pool="prefork", concurrency=4,
                                   app="chaos.probe")
    events = size("PREFORK_EVENTS", 200)
    for n in range(3):
        pg_stack.add_callback(receiver.script(f"/fork{n}", 200, delay=0.01))
    publisher = Broker(pg_stack.settings.redis_url).celery

    for _ in range(16):
        publisher.send_task(BACKEND_PID_TASK, args=[0.3])
    report_many(pg_stack, [f"model_{n}" for n in range(events)])
    for _ in range(16):
        publisher.send_task(BACKEND_PID_TASK, args=[0.3])

    wait_until(lambda: all_settled(events * 3), timeout=180, interval=0.3,
               what=f"{events * 3} deliveries settled")
    wait_until(lambda: worker.log().count("probe: process") >= 32, what="32 probes")
    sessions = sessions_by_process(worker.log())
    backends = [b for found in sessions.values() for b in found]
    with db.connection():
        attempts = Attempt.select().count()
        made = sorted({d.attempts_made for d in Delivery.select()})
    arrivals = Arrivals.of(receiver.requests)
    figures.update(pool_processes=len(sessions), sessions=len(backends),
                   sessions_by_process={str(k): sorted(v) for k, v in sessions.items()},
                   deliveries=len(arrivals.sends), duplicates=arrivals.duplicates,
                   states=dict(states()), attempts_logged=attempts)
    assert set(sessions) == set(children_of(worker.pid))
    assert len(sessions) == 4
    assert len(backends) == len(set(backends))
    assert states() == {"succeeded": events * 3}
    assert attempts == events * 3 and made == [1]
    assert len(arrivals.sends) == events * 3 and arrivals.duplicates == 0
