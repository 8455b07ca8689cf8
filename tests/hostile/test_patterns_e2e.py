"""A callback filter that backtracks catastrophically holds no worker.

Matching runs under a 5 ms limit (``app.patterns``); past it, the filter counts
as no match. Celery on Redis and PostgreSQL, with a real worker process.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.stack import wait_until

pytestmark = pytest.mark.e2e

HOSTILE_NAME = "a" * 40 + "!"
HOSTILE_EVENTS = 10
# A loopback delivery normally lands well within a second; this bound only
# tells "delivered as usual" from "stuck behind the hostile pattern".
NORMAL_LATENCY = 5.0


@pytest.mark.parametrize("pattern", ["(a+)+", "(a|aa)+"], ids=["nested", "alternation"])
def test_a_backtracking_filter_delays_no_other_account(service, receiver, pattern):
    hostile_key = service.key
    hostile = service.add_callback(
        receiver.script("/hostile", 200), filter={"model_name": pattern}
    )
    service.add_callback(receiver.script("/witness", 200), filter={"model_name": "a+!"})
    service.new_account()
    service.add_callback(
        receiver.script("/calm", 200), filter={"model_name": "calm_model"}
    )

    for version in range(1, HOSTILE_EVENTS + 1):
        report = {
            "project_name": "p",
            "name": HOSTILE_NAME,
            "version": version,
            "status": "complete",
        }
        service.call("POST", "/cloud/model_status", report, key=hostile_key)
    reported = time.monotonic()
    service.report("calm_model", "complete")

    [calm] = wait_until(
        lambda: receiver.at("/calm"),
        timeout=NORMAL_LATENCY,
        what="the calm account's delivery",
    )
    wait_until(
        lambda: len(receiver.at("/witness")) == HOSTILE_EVENTS,
        what="every hostile event fanned out",
    )
    hostile_log = service.call(
        "GET",
        f"/cloud/callback/model_status/{hostile['id']}/deliveries",
        key=hostile_key,
    ).json()
    assert calm.at - reported < NORMAL_LATENCY
    assert json.loads(calm.body)["name"] == "calm_model"
    assert receiver.at("/hostile") == []
    assert hostile_log["deliveries"] == []


def test_the_time_limit_is_what_stops_a_really_backtracking_filter(
    service, receiver, celery_stack
):
    service.add_callback(
        receiver.script("/limited", 200), filter={"model_name": "(a|aa)+"}
    )
    service.add_callback(receiver.script("/witness", 200))

    name = "a" * 39 + "!"  # A name of its own, seen in no other test's log.

    service.report(name, "complete")

    wait_until(lambda: receiver.at("/witness"), what="the event fanned out")
    [worker] = [p for p in celery_stack.processes if p.name == "hostile"]
    assert f"pattern '(a|aa)+' ran past 0.005 s on '{name}'" in worker.log()
    assert receiver.at("/limited") == []
