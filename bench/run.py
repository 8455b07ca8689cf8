"""``python -m bench.run``: start everything on loopback, run the workloads, print
one table, stop everything.

Sizes come from the environment (``BENCH_W1_EVENTS=...``); ``BENCH_QUICK=1``
shrinks every default for a smoke run. ``BENCH_ONLY=W1,W2`` picks workloads
(``peer`` is W1's load on django-webhook). The limit rows and the peer are
measured in the same run against the same receiver, so the ratios mean
something on a busy machine even when the absolute figures do not.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable

from app import db
from bench import targets
from bench.peer_workload import peer_deliveries
from bench.rows import Row
from bench.services import BIN, ROOT, Process, Services
from bench.workloads import Bench, MemoryWatch

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

# name: (full size, quick size)
SIZES = {
    "LIMIT_SYNC": (2000, 300),
    "LIMIT_ASYNC": (5000, 1000),
    "LIMIT_SLOW": (1000, 200),
    "W1_EVENTS": (5000, 300),
    "W1P_EVENTS": (1000, 200),
    "W2_CALLBACKS": (2000, 300),
    "W2X_CALLBACKS": (10000, 1000),
    "W3_EVENTS": (300, 30),
    "W4_EVENTS": (200, 50),
    "W5_CALLBACKS": (100_000, 10_000),
    "W6_REQUESTS": (300, 50),
    "W7_RETRIES": (10_000, 500),
    # One fan-out lasts a fraction of a second, so a hiccup of the VM moves
    # its rate by half: W2 and W2x report the median of a few.
    "FAN_OUT_RUNS": (3, 1),
}


def size(name: str) -> int:
    full, quick = SIZES[name]
    return int(os.environ.get(f"BENCH_{name}", quick if QUICK else full))


def chosen(workload: str) -> bool:
    only = os.environ.get("BENCH_ONLY")
    return not only or workload.lower() in only.lower().split(",")


def peer_chosen() -> bool:
    if not chosen("peer"):
        return False
    # django-webhook 0.0.15 needs Python 3.11; the bench extra leaves it out
    # below that.
    if importlib.util.find_spec("django_webhook") is None:
        print("django-webhook is not installed: the peer row is left out",
              file=sys.stderr)
        return False
    return True


def median_of(runs: int, measure: Callable[[str], Row]) -> Row:
    """The row of the median rate among ``runs`` runs, noting every rate.

    ``measure`` is given a tag of its own for each run, so that the receiver
    counts each run's arrivals apart.
    """
    rows = sorted((measure(f"run{number}") for number in range(runs)),
                  key=lambda row: row.rate or 0)
    median = rows[len(rows) // 2]
    if runs > 1:
        rates = ", ".join(f"{row.rate:,.0f}" for row in rows)
        median.notes.insert(0, f"median of {runs} runs ({rates}/s)")
    if all(row.halves for row in rows):
        until_first = ", ".join(f"{row.halves[0]:.0f}" for row in rows)
        the_rest = ", ".join(f"{row.halves[1]:.0f}" for row in rows)
        median.notes.insert(1, f"first arrival after {until_first} ms, "
                               f"the last {the_rest} ms later")
    return median


def run(bench: Bench) -> list[Row]:
    rows: list[Row] = []

    def add(new):
        for row in new if isinstance(new, list) else [new]:
            rows.append(row)
            print(format_row(row), file=sys.stderr, flush=True)

    add(bench.limit_sync(size("LIMIT_SYNC")))
    fast = bench.limit_async(size("LIMIT_ASYNC"))
    add(fast)
    if chosen("W4"):
        slow = bench.limit_async(size("LIMIT_SLOW"), mode="slow")
        add(slow)

    if chosen("W1"):
        add(bench.deliveries("W1", events=size("W1_EVENTS"), callbacks=1,
                             limit=fast.rate))
    if bench.services.peer:
        add(peer_deliveries(bench, targets.PEER_ROW, events=size("W1_EVENTS")))
    if chosen("W1p"):
        add(bench.deliveries("W1p", events=size("W1P_EVENTS"), callbacks=1, pace=100))
    if chosen("W2"):
        add(median_of(size("FAN_OUT_RUNS"), lambda run: bench.deliveries(
            "W2", events=1, callbacks=size("W2_CALLBACKS"), limit=fast.rate,
            tag=f"w2-{run}")))
    if chosen("W2x"):
        add(median_of(size("FAN_OUT_RUNS"), lambda run: bench.deliveries(
            "W2x", events=1, callbacks=size("W2X_CALLBACKS"), limit=fast.rate,
            tag=f"w2x-{run}")))
    if chosen("W3"):
        add(bench.deliveries("W3", events=size("W3_EVENTS"), callbacks=1, mode="fail2",
                             attempt={"attempt_count": 3, "attempt_interval": 1.0},
                             expect_attempts=3))
    if chosen("W4"):
        add(bench.deliveries("W4", events=size("W4_EVENTS"), callbacks=1, mode="slow",
                             limit=slow.rate))
        add(bench.deliveries("W4f", events=1, callbacks=size("W4_EVENTS"), mode="slow",
                             limit=slow.rate))
    if chosen("W5"):
        add(bench.matching(size("W5_CALLBACKS")))
    if chosen("W6"):
        add(bench.management(size("W6_REQUESTS")))
    if chosen("W7"):
        add(bench.retries_waiting(size("W7_RETRIES")))
    return rows


HEADER = (f"{'workload':<26} {'system':<24} {'deliveries/s':>12} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'worker MB':>9} {'ratio':>7}  notes")


def format_row(row: Row) -> str:
    def number(value, spec):
        return format(value, spec) if value is not None else "-"

    ratio = f"{row.ratio:.0%}" if row.ratio is not None else "-"
    return (f"{row.workload:<26} {row.system:<24} {number(row.rate, ',.0f'):>12} "
            f"{number(row.p50_ms, '.1f'):>8} {number(row.p99_ms, '.1f'):>8} "
            f"{number(row.rss_mb, '.0f'):>9} {ratio:>7}  {'; '.join(row.notes)}")


def start_profilers(services: Services) -> list[Process]:
    """py-spy on the processes named in ``BENCH_PROFILE`` (web, worker, receiver).

    Only the thread holding the GIL is sampled: the profile shows CPU, not waits.

    Each writes collapsed stacks to ``bench/profiles/<name>.txt``; see
    ``python -m bench.profile`` for a summary by function.
    """
    wanted = [name for name in os.environ.get("BENCH_PROFILE", "").split(",") if name]
    out = ROOT / "bench" / "profiles"
    profilers = []
    for name in wanted:
        target = getattr(services, name)
        out.mkdir(exist_ok=True)
        profilers.append(Process(f"py-spy-{name}", [
            str(BIN / "py-spy"), "record", "--subprocesses", "--gil", "--rate", "200",
            "--format", "raw", "-o", str(out / f"{name}.txt"), "-p", str(target.pid)],
            services.tmp))
    return profilers


def main() -> None:
    options = {
        "worker_pool": os.environ.get("BENCH_WORKER_POOL", "threads"),
        "worker_concurrency": int(os.environ.get("BENCH_WORKER_CONCURRENCY", "16")),
        "web_workers": int(os.environ.get("BENCH_WEB_WORKERS", "2")),
        "web_threads": int(os.environ.get("BENCH_WEB_THREADS", "8")),
        "peer": peer_chosen(),
    }
    load_before = os.getloadavg()
    started = time.monotonic()
    with Services(**options) as services:
        db.open_database(services.env["DATABASE_URL"])
        memory = MemoryWatch(services)
        profilers = start_profilers(services)
        try:
            rows = run(Bench(services, memory))
        finally:
            memory.close()
            for profiler in profilers:
                profiler.stop(signal.SIGINT)
    load_after = os.getloadavg()

    print()
    print(f"modelhooks benchmark{' (quick)' if QUICK else ''}: worker pool "
          f"{options['worker_pool']} x{options['worker_concurrency']}, gunicorn "
          f"{options['web_workers']} workers x{options['web_threads']} threads; "
          f"{os.cpu_count()} CPUs")
    print(HEADER)
    for row in rows:
        print(format_row(row))
    print()
    print("targets (share of the target reached; 100% or more meets it):")
    if QUICK:
        # Smaller sizes spend a larger share in start-up and tails, so a
        # quick run's verdicts do not say whether the targets are met.
        print("  (quick sizes: the targets are set for the full sizes)")
    for verdict in targets.verdicts(rows):
        print(targets.target_line(verdict))
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f}; run took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
