"""What receivers do to real worker processes, and what the worker does back.

Each receiver here is a raw-socket server on loopback (``servers``) that stops
by itself. The worker is a real ``celery -A workers worker`` process; its
memory is read from /proc, and every duration from the deliveries log.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.e2e.receiver import Script
from tests.e2e.stack import wait_until
from tests.hostile import servers
from tests.hostile.conftest import MAX_RETRY_INTERVAL, sending_process_pid

pytestmark = pytest.mark.e2e

EXCERPT_CAP = 1024
MIB = 1024 * 1024
# Reading a capped excerpt needs a few hundred KiB at most; 20 MiB is far below
# the hundreds of MiB a worker would need to hold any of these bodies.
MEMORY_BOUND = 20 * MIB


def settled(service, callback_id: int, timeout: float = 30.0) -> list[dict]:
    """The callback's deliveries once none is pending or being sent."""

    def done():
        found = service.deliveries(callback_id)
        finished = all(d["state"] not in ("pending", "sending") for d in found)
        return found if found and finished else None

    return wait_until(done, timeout, what=f"deliveries of callback {callback_id}")


def one_attempt(service, receiver: servers.RawReceiver, **attempt) -> dict:
    """Send one event to ``receiver`` (one attempt only); its logged attempt."""
    callback = service.add_callback(receiver.url(), attempt={"count": 1, **attempt})
    service.report(f"model_{callback['id']}", "complete")

    [delivery] = settled(service, callback["id"])
    [logged] = delivery["attempts"]
    return logged


class Memory:
    """The resident memory of one process, in bytes, from /proc/<pid>/status."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def rss(self) -> int:
        return self._field("VmRSS")

    def peak(self) -> int:
        return self._field("VmHWM")

    def reset_peak(self) -> None:
        # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def _field(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"/proc/{self.pid}/status has no {name}")


@pytest.fixture
def worker_memory(service) -> Memory:
    """The worker's memory, after a warm-up that loads the whole sending path."""
    warm = servers.RawReceiver(servers.answer(200, b"w" * 4096))
    try:
        for _ in range(3):
            one_attempt(service, warm)
    finally:
        warm.stop()
    return Memory(sending_process_pid(service))


BIG_BODIES = {
    "announced-2-GiB": (servers.announced_body(2 * 1024 * MIB, 50 * MIB), 200, "x"),
    "endless-chunked": (servers.endless_chunks(), 200, "y"),
    "500-with-5-MB": (servers.answer(500, b"e" * (5 * MIB)), 500, "e"),
}


@pytest.mark.parametrize("case", list(BIG_BODIES))
def test_a_huge_body_costs_the_worker_no_memory_and_only_an_excerpt_is_kept(
    service, worker_memory, case, record_property
):
    behaviour, status, letter = BIG_BODIES[case]
    receiver = servers.RawReceiver(behaviour, time_cap=15)
    baseline = worker_memory.rss()
    worker_memory.reset_peak()

    try:
        logged = one_attempt(service, receiver, http_timeout=5)
    finally:
        receiver.stop()

    growth = worker_memory.rss() - baseline
    peak_growth = worker_memory.peak() - baseline
    record_property("rss_growth_kib", growth // 1024)
    record_property("peak_growth_kib", peak_growth // 1024)
    print(
        f"\n{case}: RSS {baseline // 1024} KiB, growth {growth // 1024} KiB, "
        f"peak growth {peak_growth // 1024} KiB, "
        f"receiver sent {receiver.arrivals[0].bytes_sent} bytes"
    )
    assert (logged["status_code"], logged["error"]) == (status, None)
    assert logged["response_excerpt"] == letter * EXCERPT_CAP
    assert logged["response_truncated"] is True
    assert logged["duration_ms"] < 5000
    assert growth < MEMORY_BOUND
    assert peak_growth < MEMORY_BOUND


@pytest.mark.parametrize(
    ("case", "behaviour"),
    [
        ("never-answers", servers.silence()),
        ("headers-a-byte-every-2-s", servers.trickled_headers(2.0)),
    ],
    ids=["never-answers", "headers-a-byte-every-2-s"],
)
def test_a_stalling_receiver_is_cut_at_http_timeout(service, case, behaviour):
    receiver = servers.RawReceiver(behaviour, time_cap=20)

    try:
        logged = one_attempt(service, receiver, http_timeout=3)
    finally:
        receiver.stop()

    assert logged["status_code"] is None
    assert logged["error"] == "Timeout: no response within 3.0 s"
    assert 2900 <= logged["duration_ms"] <= 4000
    assert receiver.arrivals[0].ended_by == "client closed"


def _http_date_from_now(seconds: float) -> str:
    return format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True
    )


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z"))


RETRY_AFTER = [
    ("429-asks-120-s", 429, lambda: "120", MAX_RETRY_INTERVAL),
    (
        "503-asks-until-an-http-date",
        503,
        lambda: _http_date_from_now(60),
        MAX_RETRY_INTERVAL,
    ),
    ("429-asks-nonsense", 429, lambda: "soon, maybe", 1.0),
]


@pytest.mark.parametrize(
    ("case", "status", "header", "expected"),
    RETRY_AFTER,
    ids=[case for case, *_ in RETRY_AFTER],
)
def test_retry_after_stretches_the_wait_up_to_the_maximum_interval(
    service, receiver, case, status, header, expected
):
    path = f"/{case}"
    receiver.scripts[path] = Script([status, 200], headers={"Retry-After": header()})
    callback = service.add_callback(
        receiver.url(path), attempt={"count": 2, "interval": 1}
    )
    service.report(f"model_{callback['id']}", "complete")

    [waiting] = wait_until(
        lambda: [
            d
            for d in service.deliveries(callback["id"])
            if d["attempts_made"] == 1 and d["state"] == "pending"
        ],
        timeout=10,
        interval=0.02,
        what="a delivery waiting",
    )
    [delivery] = settled(service, callback["id"])

    first, second = delivery["attempts"]
    ended = _parse_iso(first["started_at"]) + timedelta(
        milliseconds=first["duration_ms"]
    )
    planned = (_parse_iso(waiting["next_attempt_at"]) - ended).total_seconds()
    gap = receiver.at(path)[1].at - receiver.at(path)[0].at
    assert (first["status_code"], second["status_code"]) == (status, 200)
    assert expected - 0.05 <= planned <= expected + 0.5
    assert expected - 0.05 <= gap < expected + 5


def test_410_gone_drops_another_delivery_waiting_for_its_retry(service, receiver):
    path = "/gone-later"
    receiver.scripts[path] = Script([500, 410, 200])
    callback = service.add_callback(
        receiver.url(path), attempt={"count": 5, "interval": 2}
    )
    service.report("first_model", "complete")
    wait_until(
        lambda: [
            d
            for d in service.deliveries(callback["id"])
            if d["attempts_made"] == 1 and d["state"] == "pending"
        ],
        what="the first delivery waiting for its retry",
    )

    service.report("second_model", "complete")

    [second, first] = settled(service, callback["id"])
    time.sleep(2 + 2)  # The dropped retry's due time, and more.
    service.add_callback(receiver.script("/alive", 200))
    service.report("third_model", "complete")
    wait_until(lambda: receiver.at("/alive"), what="a later event delivered")
    shown = service.call("GET", f"/cloud/callback/model_status/{callback['id']}").json()
    assert len(receiver.at(path)) == 2
    assert len(service.deliveries(callback["id"])) == 2
    assert (first["state"], first["attempts_made"]) == ("dropped", 1)
    assert (second["state"], second["attempts_made"]) == ("failed", 1)
    assert second["attempts"][0]["status_code"] == 410
    assert (shown["enabled"], shown["disabled_reason"]) == (
        False,
        "the receiver answered 410 Gone",
    )


@pytest.mark.parametrize("status", [201, 202, 204])
def test_a_2xx_with_an_empty_body_succeeds_at_the_first_attempt(service, status):
    receiver = servers.RawReceiver(
        servers.answer(status, b"", with_length=status != 204)
    )
    callback = service.add_callback(receiver.url(), attempt={"count": 3})

    try:
        service.report(f"model_{callback['id']}", "complete")
        [delivery] = settled(service, callback["id"])
    finally:
        receiver.stop()

    [logged] = delivery["attempts"]
    assert (delivery["state"], delivery["attempts_made"]) == ("succeeded", 1)
    assert (logged["status_code"], logged["error"]) == (status, None)
    assert (logged["response_excerpt"], logged["response_truncated"]) == ("", False)
    assert len(receiver.arrivals) == 1


NUL_ANSWERS = {
    "in-the-body": (
        servers.answer(500, b"bad\x00news\x00"),
        "bad\ufffdnews\ufffd",
        None,
    ),
    "in-the-status-line": (
        servers.raw(b"\x00TTP/1.1 200 OK\r\n\r\n"),
        "",
        "ProtocolError: BadStatusLine: \ufffdTTP/1.1 200 OK\r\n",
    ),
}


@pytest.mark.parametrize("case", list(NUL_ANSWERS))
def test_a_nul_byte_from_a_receiver_is_logged_and_spoils_no_other_delivery(
    service, receiver, case
):
    behaviour, excerpt, error = NUL_ANSWERS[case]
    hostile = servers.RawReceiver(behaviour)
    nul = service.add_callback(hostile.url(), attempt={"count": 1})
    fine = service.add_callback(receiver.script("/fine", 200))

    try:
        service.report(f"model_{nul['id']}", "complete")
        [logged_delivery] = settled(service, nul["id"], timeout=15)
        settled(service, fine["id"])
    finally:
        hostile.stop()

    [logged] = logged_delivery["attempts"]
    assert logged_delivery["state"] == "failed"
    assert (logged["response_excerpt"], logged["error"]) == (excerpt, error)
    assert len(hostile.arrivals) == 1
    assert len(receiver.at("/fine")) == 1
