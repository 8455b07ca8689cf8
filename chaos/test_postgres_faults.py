"""PostgreSQL sessions cut, and PostgreSQL restarted, under load.

Meanwhile the API answers 503 with the JSON error envelope, never 500; the
same worker processes carry on once the database is back, and every status
change the API accepted with 202 is delivered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from app import db
from chaos.helpers import Arrivals, since
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.chaos

SWEEP = {"MODELHOOKS_SWEEP_INTERVAL": "1", "MODELHOOKS_SWEEP_GRACE": "2"}
PROBE_LIMIT = 5000


class Prober:
    """Posts status changes and lists callbacks without pause, noting each answer.

    Bounded: it stops when told to, or after ``PROBE_LIMIT`` rounds.
    """

    def __init__(self, stack) -> None:
        self.stack = stack
        self.accepted: list[str] = []
        self.answers: Counter = Counter()
        self.phase = "before"
        self.bad: list[tuple[int, str]] = []
        self.first_ok_after: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        for n in range(PROBE_LIMIT):
            if self._stop.is_set():
                return
            name = f"probe_{n}"
            answer = self.stack.call("POST", "/cloud/model_status", {
                "project_name": "mindsdb", "name": name, "version": 1,
                "status": "complete"})
            self._note(answer)
            if answer.status_code == 202:
                self.accepted.append(name)
            self._note(self.stack.call("GET", "/cloud/callback/model_status"))
            time.sleep(0.02)

    def _note(self, answer) -> None:
        self.answers[f"{self.phase} {answer.status_code}"] += 1
        if answer.status_code in (200, 202):
            return
        body = answer.json() if answer.headers.get("Content-Type", "").startswith(
            "application/json") else None
        code = body and body.get("error", {}).get("code")
        if answer.status_code != 503 or code != "service_unavailable":
            self.bad.append((answer.status_code, answer.text[:300]))


def accepted_all_delivered(receiver, prober) -> bool:
    arrived = {name for _path, name in Arrivals.of(receiver.requests).sends}
    return set(prober.accepted) <= arrived


def test_cut_sessions_and_a_restart_give_503s_and_lose_no_accepted_event(
    stack_factory, own_postgres, receiver, figures
):
    stack = stack_factory(own_postgres.url, **SWEEP)
    worker = stack.start_worker("survivor", pool="prefork", concurrency=2)
    stack.start_beat()
    stack.add_callback(receiver.script("/pg", 200, delay=0.02))
    prober = Prober(stack)
    prober.start()
    wait_until(lambda: len(receiver.requests) >= 20, what="deliveries under way")

    prober.phase = "sessions cut"
    figures["sessions_terminated"] = own_postgres.terminate_sessions()
    time.sleep(2)
    prober.phase = "restart"
    down_at = time.monotonic()
    own_postgres.stop()
    time.sleep(3)
    own_postgres.start()
    figures["postgres_down_s"] = since(down_at)
    up_at = time.monotonic()
    accepted_before = len(prober.accepted)
    wait_until(lambda: len(prober.accepted) > accepted_before, timeout=30,
               what="the API accepting again")
    figures["api_recovered_after_s"] = since(up_at)
    prober.phase = "after"
    time.sleep(2)
    prober.stop()

    wait_until(lambda: accepted_all_delivered(receiver, prober), timeout=90,
               interval=0.2, what="every accepted status change delivered")
    figures["all_delivered_after_s"] = since(up_at)
    arrivals = Arrivals.of(receiver.requests)
    figures.update(answers=dict(prober.answers), accepted=len(prober.accepted),
                   delivered=len(arrivals.sends), duplicates=arrivals.duplicates,
                   worker_restarted=worker.popen.poll() is not None)
    assert prober.bad == []
    assert prober.answers["restart 503"] > 0
    assert prober.answers["after 503"] == 0
    assert worker.popen.poll() is None
    assert arrivals.one_id_per_delivery


def test_a_pooled_connection_whose_session_was_terminated_is_replaced(own_postgres):
    database = db.open_database(own_postgres.url)
    with db.connection():
        first = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]

    own_postgres.terminate_sessions()
    with db.connection():
        second = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]

    assert second != first
