"""``python -m bench.stages``: where the latency of one paced event goes.

Starts the benchmark's services on 127.0.0.1 (``bench.services``), reports
``BENCH_STAGE_EVENTS`` (500) status changes at 100 a second to an account with
one callback, and splits each event's time from the producer's request to the
receiver's arrival into stages, from the times the database and the receiver
recorded (one clock: everything runs on this machine):

- web: the request until the event row was made (``events.created_at``);
- to drain: until the drain made its delivery (``deliveries.created_at``);
- to POST: until the attempt started (``attempts.started_at``);
- to arrival: until the receiver got it.
"""

from __future__ import annotations

import asyncio
import calendar
import os
from datetime import datetime

from app import db
from app.models import Attempt, Delivery, Event, ModelVersion
from bench.services import Services
from bench.workloads import Bench, MemoryWatch, _report_statuses

EVENTS = int(os.environ.get("BENCH_STAGE_EVENTS", "500"))
PACE = 100.0
STAGES = ("web", "to drain", "to POST", "to arrival", "total")


def epoch(moment: datetime) -> float:
    return calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1e6


def measure(bench: Bench) -> dict[str, list[float]]:
    key, account_id = bench._new_account()
    bench._add_callbacks(account_id, 1, f"{bench.receiver}/ok/stages", {})
    sent_at, _ = asyncio.run(
        _report_statuses(bench.api, key, "stages", EVENTS, PACE, 32))
    arrived = {webhook_id: at for at, webhook_id, _model, _status in
               bench._wait_for_arrivals("stages", EVENTS, 120)}

    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    with db.connection():
        started = {a.delivery_id: epoch(a.started_at) for a in Attempt.select()}
        query = (Delivery.select(Delivery, Event, ModelVersion)
                 .join(Event).join(ModelVersion))
        for delivery in query:
            name = delivery.event.model_version.name
            if name not in sent_at or delivery.id not in arrived:
                continue
            times = [sent_at[name], epoch(delivery.event.created_at),
                     epoch(delivery.created_at), started[delivery.id],
                     arrived[delivery.id]]
            for index, stage in enumerate(STAGES[:-1]):
                stages[stage].append(times[index + 1] - times[index])
            stages["total"].append(times[-1] - times[0])
    return stages


def main() -> None:
    with Services(worker_pool="threads", worker_concurrency=16, web_workers=2,
                  web_threads=8) as services:
        db.open_database(services.env["DATABASE_URL"])
        memory = MemoryWatch(services)
        try:
            stages = measure(Bench(services, memory))
        finally:
            memory.close()

    print(f"{EVENTS} events at {PACE:.0f}/s; load average {os.getloadavg()[0]:.2f}")
    for stage in STAGES:
        values = sorted(stages[stage])
        p50, p90 = values[len(values) // 2], values[int(len(values) * 0.9)]
        print(f"{stage:12} p50 {p50 * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
