"""The workloads and the limit clients, each giving rows of the final table.

Every client here talks to 127.0.0.1 only: the API and the receiver that
``bench.services`` started. Every loop has a fixed count and a deadline.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import Counter

import aiohttp
import requests

from app import accounts, callbacks, db
from app.models import Attempt, Callback, Delivery, DeliveryState, Event
from app.patterns import Matcher
from app.signing import new_secret
from bench.rows import Row
from bench.services import Process, Services

BODY = (b'{"name":"home_rentals","version":1,"active":true,"predictor_id":1,'
        b'"project_name":"mindsdb","predictor_created_at":"Fri, 09 Sep 2023 '
        b'11:50:27 GMT","old_status":"training","new_status":"complete",'
        b'"changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class MemoryWatch:
    """Samples a worker tree's resident memory; ``peak`` since ``reset``."""

    def __init__(self, services: Services, every: float = 0.2) -> None:
        self._services = services
        self._every = every
        self._stop = threading.Event()
        self._worker = services.worker
        self.peak = 0
        self.last = 0
        threading.Thread(target=self._run, daemon=True).start()

    def reset(self, worker: Process | None = None) -> None:
        """Watch ``worker`` (modelhooks' by default) from now on."""
        self._worker = worker or self._services.worker
        self.peak = self._worker.tree_rss()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.last = self._worker.tree_rss()
            self.peak = max(self.peak, self.last)


class Bench:
    """Runs workloads against started ``services``; see ``bench.run``."""

    def __init__(self, services: Services, memory: MemoryWatch) -> None:
        self.services = services
        self.memory = memory
        self.api = f"http://127.0.0.1:{services.web_port}"
        self.receiver = f"http://127.0.0.1:{services.receiver_port}"
        self._accounts = 0

    # -- limits -----------------------------------------------------------

    def limit_sync(self, count: int) -> Row:
        """One ``requests.Session`` posting in a loop: one request at a time."""
        url = f"{self.receiver}/ok/limit-sync"
        session = requests.Session()
        latencies = []
        started = time.perf_counter()
        for _ in range(count):
            sent = time.perf_counter()
            session.post(url, data=BODY, headers={"Content-Type": "application/json"},
                         timeout=10)
            latencies.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - started
        return _timed_row("limit", "requests.Session loop", count / elapsed, latencies)

    def limit_async(self, count: int, mode: str = "ok", in_flight: int = 50) -> Row:
        """An aiohttp client keeping ``in_flight`` POSTs going."""
        url = f"{self.receiver}/{mode}/limit-async-{mode}"
        cpu_before = self.services.receiver.cpu_seconds()
        latencies, elapsed = asyncio.run(_post_many(url, count, in_flight))
        cpu = self.services.receiver.cpu_seconds() - cpu_before
        row = _timed_row(f"limit ({mode})", f"aiohttp, {in_flight} in flight",
                         count / elapsed, latencies)
        if mode == "ok" and cpu > 0:
            row.notes.append(f"receiver ceiling {count / cpu:,.0f}/s per core")
        return row

    # -- delivery workloads -------------------------------------------------

    def deliveries(self, name: str, *, events: int, callbacks: int, mode: str = "ok",
                   pace: float | None = None, in_flight: int = 32,
                   attempt: dict | None = None, expect_attempts: int = 1,
                   limit: float | None = None, timeout: float = 300.0,
                   tag: str | None = None) -> Row:
        """``events`` status changes each matching ``callbacks`` callbacks.

        Latency runs from the start of the producer's request to the arrival
        of the delivery's last expected attempt at the receiver.
        """
        tag = tag or name.lower()
        key, account_id = self._new_account()
        self._add_callbacks(account_id, callbacks, f"{self.receiver}/{mode}/{tag}",
                            attempt or {})
        expected = events * callbacks * expect_attempts
        self.memory.reset()
        cpu_before = self.services.cpu_seconds()

        sent_at, ingest = asyncio.run(
            _report_statuses(self.api, key, tag, events, pace, in_flight))
        arrivals = self._wait_for_arrivals(tag, expected, timeout)
        row = self._delivery_row(name, tag, sent_at, arrivals, expect_attempts, limit)
        row.rss_mb = self.memory.peak / 2**20
        row.notes.append(self._cpu_note(cpu_before, len(arrivals)))
        if pace is None and events > 1:
            row.notes.insert(0, f"ingest {events / ingest:,.0f}/s")
        if expect_attempts > 1:
            row.notes.append(self._check_attempts(
                account_id, arrivals, events * callbacks, expect_attempts))
        return row

    def retries_waiting(self, count: int, timeout: float = 300.0) -> Row:
        """Worker memory while ``count`` retries wait out a long countdown."""
        tag = "retries"
        key, account_id = self._new_account()
        self._add_callbacks(account_id, count, f"{self.receiver}/fail/{tag}",
                            {"attempt_count": 2, "attempt_interval": 600.0})
        self.memory.reset()
        at_start = self.memory.peak
        asyncio.run(_report_statuses(self.api, key, tag, 1, None, 1))
        self._wait_for_arrivals(tag, count, timeout)

        def waiting() -> int:
            return (Delivery.select().join(Event)
                    .where((Event.account == account_id)
                           & (Delivery.state == DeliveryState.PENDING)
                           & (Delivery.attempts_made == 1)).count())

        deadline = time.monotonic() + timeout
        with db.connection():
            while waiting() < count and time.monotonic() < deadline:
                time.sleep(0.2)
            now_waiting = waiting()
        # Let the worker take in the retry messages it prefetches.
        time.sleep(3)
        row = Row("W7 retries waiting", "celery", rss_mb=self.memory.peak / 2**20)
        row.notes.append(f"{now_waiting:,} retries waiting; RSS "
                         f"{at_start / 2**20:.0f} MB "
                         f"before, {self.memory.last / 2**20:.0f} MB now")
        return row

    # -- matching -----------------------------------------------------------

    def matching(self, count: int, repeats: int = 5) -> list[Row]:
        """W5: an account with ``count`` callbacks, one event's matches decided."""
        _, account_id = self._new_account()
        self._add_callbacks(account_id, count, f"{self.receiver}/ok/never", {},
                            mixed_filters=True)
        loads, full_loads, builds, matches = [], [], [], []
        found = 0
        with db.connection():
            for _ in range(repeats):
                started = time.perf_counter()
                callbacks.enabled_for(account_id)
                full_loads.append(time.perf_counter() - started)

                started = time.perf_counter()
                rows = list(Callback.select(Callback.id, Callback.model_name_pattern,
                                            Callback.project_name_pattern)
                            .where((Callback.account == account_id) & Callback.enabled)
                            .order_by(Callback.id).tuples())
                loaded = time.perf_counter()
                matcher = Matcher(rows)
                built = time.perf_counter()
                found = len(matcher.match("churn_17", "sales"))
                matched = time.perf_counter()
                loads.append(loaded - started)
                builds.append(built - loaded)
                matches.append(matched - built)
        note = f"{count:,} callbacks, {found:,} match, {repeats} runs"
        return [
            _time_row("W5 match (Matcher.match)", matches, note),
            _time_row("W5 build (Matcher())", builds, note),
            _time_row("W5 DB load, 3 columns", loads, note),
            _time_row("W5 DB load, fan-out", full_loads,
                      "callbacks.enabled_for, as the fan-out loads them; " + note),
        ]

    # -- management API -------------------------------------------------------

    def management(self, count: int, in_flight: int = 8) -> list[Row]:
        """W6: create, list (100 callbacks), get, edit, delete under gunicorn."""
        key, account_id = self._new_account()
        self._add_callbacks(account_id, 100, f"{self.receiver}/ok/w6", {})
        return asyncio.run(_management(self.api, key, self.receiver, count, in_flight))

    # -- helpers ----------------------------------------------------------------

    def _cpu_note(self, before: dict[str, float], requests_seen: int,
                  system: str = "modelhooks") -> str:
        """CPU milliseconds per request reaching the receiver, by service."""
        after = self.services.cpu_seconds(system)
        spent = {name: after[name] - before.get(name, 0.0) for name in after}
        per = max(requests_seen, 1)
        shares = ", ".join(f"{name} {seconds * 1000 / per:.2f}"
                           for name, seconds in spent.items())
        return f"CPU ms/request: {shares}"

    def _new_account(self) -> tuple[str, int]:
        self._accounts += 1
        with db.connection():
            new_key = accounts.create_account(f"bench-{self._accounts}-{time.time()}")
        return new_key.secret, new_key.account.id

    @staticmethod
    def _add_callbacks(account_id: int, count: int, url: str, attempt: dict,
                       mixed_filters: bool = False) -> None:
        rows = []
        for index in range(count):
            model, project = ".*", ".*"
            if mixed_filters and index % 10 == 0:
                model = f"churn_{index % 1000}"
            elif mixed_filters and index % 10 == 1:
                model, project = rf"churn_{index % 997}\d*", "sales|marketing"
            rows.append({"account": account_id, "url": url, "secret": new_secret(),
                         "model_name_pattern": model, "project_name_pattern": project,
                         "attempt_http_timeout": 10.0, **attempt})
        with db.connection():
            with db.database.atomic():
                for start in range(0, len(rows), 1000):
                    Callback.insert_many(rows[start:start + 1000]).execute()

    def _wait_for_arrivals(self, tag: str, expected: int, timeout: float) -> list:
        session = requests.Session()
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            count = session.get(f"{self.receiver}/_count/{tag}", timeout=10).json()
            if count >= expected:
                break
            time.sleep(0.1)
        # A short grace so that duplicates, if any, are seen too.
        time.sleep(0.5)
        return session.get(f"{self.receiver}/_arrivals/{tag}", timeout=30).json()

    @staticmethod
    def _delivery_row(name, tag, sent_at, arrivals, expect_attempts, limit,
                      system: str = "modelhooks") -> Row:
        finals: dict[str, float] = {}
        per_delivery = Counter(webhook_id for _, webhook_id, _, _ in arrivals)
        for arrived, webhook_id, _model, status in arrivals:
            if 200 <= status < 300:
                finals[webhook_id] = arrived
        by_id_name = {webhook_id: model for _, webhook_id, model, _ in arrivals}
        latencies = [arrived - sent_at[by_id_name[webhook_id]]
                     for webhook_id, arrived in finals.items()
                     if by_id_name[webhook_id] in sent_at]
        first_sent = min(sent_at.values())
        last = max(finals.values(), default=first_sent)
        rate = len(finals) / (last - first_sent) if finals and last > first_sent else 0
        row = _timed_row(name, system, rate, latencies)
        row.limit = limit
        row.notes.append(f"{len(finals):,} delivered")
        if len(sent_at) == 1 and finals:
            first = min(finals.values())
            row.halves = ((first - first_sent) * 1000, (last - first) * 1000)
        duplicates = sum(1 for n in per_delivery.values() if n > expect_attempts)
        if duplicates:
            row.notes.append(f"{duplicates} sent more than {expect_attempts}x")
        return row

    @staticmethod
    def _check_attempts(account_id: int, arrivals: list, deliveries: int,
                        attempts: int) -> str:
        at_receiver = Counter(webhook_id for _, webhook_id, _, _ in arrivals)
        with db.connection():
            logged = Counter(
                delivery_id for (delivery_id,) in
                Attempt.select(Attempt.delivery).join(Delivery).join(Event)
                .where(Event.account == account_id).tuples())
            states = Counter(state for (state,) in
                             Delivery.select(Delivery.state).join(Event)
                             .where(Event.account == account_id).tuples())
        exact = sum(1 for n in at_receiver.values() if n == attempts)
        logged_exact = sum(1 for n in logged.values() if n == attempts)
        ok = (len(at_receiver) == deliveries == exact == logged_exact
              and states.get(DeliveryState.SUCCEEDED) == deliveries)
        verdict = "PASS" if ok else "FAIL"
        return (f"{verdict}: {exact}/{deliveries} received exactly {attempts}x, "
                f"{logged_exact} logged {attempts} attempts, states {dict(states)}")


def _timed_row(workload: str, system: str, rate: float, latencies: list[float]) -> Row:
    if not latencies:
        return Row(workload, system, rate)
    return Row(workload, system, rate, percentile(latencies, 0.5) * 1000,
               percentile(latencies, 0.99) * 1000)


def _time_row(workload: str, durations: list[float], note: str) -> Row:
    row = Row(workload, "in process", None, statistics.median(durations) * 1000,
              max(durations) * 1000)
    row.notes.append(note + " (p50 = median, p99 = worst)")
    return row


async def _post_many(url: str, count: int, in_flight: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(_index: int) -> None:
            sent = time.perf_counter()
            async with session.post(url, data=BODY,
                                    headers={"Content-Type": "application/json"}) as r:
                await r.read()
            latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await _bounded(count, in_flight, one)
        return latencies, time.perf_counter() - started


async def _bounded(count: int, in_flight: int, job) -> None:
    """Run ``job(i)`` for i < count with at most ``in_flight`` at once."""
    queue = iter(range(count))

    async def lane() -> None:
        for index in queue:
            await job(index)

    await asyncio.gather(*(lane() for _ in range(in_flight)))


async def _report_statuses(api: str, key: str, tag: str, events: int,
                           pace: float | None, in_flight: int
                           ) -> tuple[dict[str, float], float]:
    """POST ``events`` status changes; the wall time each was sent, by model name."""
    sent_at: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=max(in_flight, 64))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def one(index: int) -> None:
            name = f"{tag}-{index}"
            body = {"project_name": "bench", "name": name, "version": 1,
                    "status": "complete"}
            sent_at[name] = time.time()
            async with session.post(f"{api}/cloud/model_status", json=body,
                                    headers=headers) as answer:
                if answer.status != 202:
                    raise RuntimeError(f"{answer.status}: {await answer.text()}")

        started = time.perf_counter()
        if pace is None:
            await _bounded(events, in_flight, one)
        else:
            tasks = []
            for index in range(events):
                delay = started + index / pace - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(index)))
            await asyncio.gather(*tasks)
        return sent_at, time.perf_counter() - started


async def _management(api: str, key: str, receiver: str, count: int,
                      in_flight: int) -> list[Row]:
    headers = {"Authorization": f"Bearer {key}"}
    path = f"{api}/cloud/callback/model_status"
    created: list[int] = []
    rows = []
    async with aiohttp.ClientSession(headers=headers) as session:
        async def timed(name: str, job) -> None:
            latencies: list[float] = []

            async def one(index: int) -> None:
                sent = time.perf_counter()
                await job(index)
                latencies.append(time.perf_counter() - sent)

            started = time.perf_counter()
            await _bounded(count, in_flight, one)
            elapsed = time.perf_counter() - started
            row = _timed_row(f"W6 {name}", "gunicorn", count / elapsed, latencies)
            row.notes.append(f"requests/s, {in_flight} in flight")
            rows.append(row)

        async def call(method: str, url: str, expect: int, body=None) -> dict:
            async with session.request(method, url, json=body) as answer:
                if answer.status != expect:
                    raise RuntimeError(f"{method} {url}: {answer.status}")
                return await answer.json()

        async def create(_index: int) -> None:
            made = await call("POST", path, 200, {"url": f"{receiver}/ok/w6"})
            created.append(made["id"])

        # Listed first, while the account has exactly its 100 callbacks.
        await timed("list (100)", lambda i: call("GET", path, 200))
        await timed("create", create)
        await timed("get", lambda i: call("GET", f"{path}/{created[i]}", 200))
        await timed("edit", lambda i: call(
            "PUT", f"{path}/{created[i]}", 200, {"attempt": {"count": 3}}))
        await timed("delete", lambda i: call("DELETE", f"{path}/{created[i]}", 200))
    return rows
