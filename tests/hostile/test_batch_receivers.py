"""What hostile receivers do to the batch transport, and what it does back.

The same raw-socket receivers as ``test_receivers`` (loopback only, each stops
by itself), sent to by ``BatchTransport.post_many`` in this process, so that
the memory an attempt costs is traced by ``tracemalloc`` and what each
receiver managed to send is counted on its side.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from tests.hostile import servers
from workers.batch_transport import BatchTransport, PostRequest
from workers.transport import AttemptResult

EXCERPT_CAP = 1024
MIB = 1024 * 1024
BODY = b'{"name":"home_rentals","new_status":"complete"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "msg_hostile"}
# Loopback socket buffers hold a few MiB at most: what a receiver can push
# before the transport drops the connection. Draining would be hundreds.
SENT_BOUND = 16 * MIB
# The stream's buffer and one capped excerpt: a few hundred KiB.
MEMORY_BOUND = 2 * MIB


@pytest.fixture
def transport() -> Iterator[BatchTransport]:
    transport = BatchTransport(allow_private=True, excerpt_limit=EXCERPT_CAP)
    yield transport
    transport.close()


@pytest.fixture
def receivers() -> Iterator[list[servers.RawReceiver]]:
    started: list[servers.RawReceiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def post_one(
    transport: BatchTransport, receiver: servers.RawReceiver, timeout: float
) -> AttemptResult:
    [result] = transport.post_many(
        [PostRequest(receiver.url(), BODY, HEADERS, timeout)]
    )
    return result


BIG_BODIES = {
    "announced-2-GiB": (servers.announced_body(2 * 1024 * MIB, 50 * MIB), 200, "x"),
    "endless-chunked": (servers.endless_chunks(), 200, "y"),
    "500-with-5-MB": (servers.answer(500, b"e" * (5 * MIB)), 500, "e"),
}


@pytest.mark.parametrize("case", list(BIG_BODIES))
def test_a_huge_body_is_dropped_after_the_excerpt_not_drained(
    transport, receivers, case
):
    behaviour, status, letter = BIG_BODIES[case]
    receiver = servers.RawReceiver(behaviour, time_cap=15)
    receivers.append(receiver)

    tracemalloc.start()
    result = post_one(transport, receiver, timeout=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    receiver.stop()

    assert (result.status_code, result.error) == (status, None)
    assert (result.excerpt, result.truncated) == (letter * EXCERPT_CAP, True)
    assert result.duration < 5
    assert peak < MEMORY_BOUND
    [arrival] = receiver.arrivals
    assert arrival.ended_by == "client closed"
    assert arrival.bytes_sent < SENT_BOUND


@pytest.mark.parametrize(
    ("case", "behaviour"),
    [
        ("never-answers", servers.silence()),
        ("headers-a-byte-every-2-s", servers.trickled_headers(2.0)),
    ],
    ids=["never-answers", "headers-a-byte-every-2-s"],
)
def test_a_stalling_receiver_is_cut_at_the_timeout(
    transport, receivers, case, behaviour
):
    receiver = servers.RawReceiver(behaviour, time_cap=20)
    receivers.append(receiver)

    result = post_one(transport, receiver, timeout=3)
    receiver.stop()

    assert (result.status_code, result.error) == (
        None,
        "Timeout: no response within 3.0 s",
    )
    assert 2.9 <= result.duration <= 4.0
    assert receiver.arrivals[0].ended_by == "client closed"


def test_a_nul_byte_in_the_status_line_is_a_protocol_error(transport, receivers):
    receiver = servers.RawReceiver(servers.raw(b"\x00TTP/1.1 200 OK\r\n\r\n"))
    receivers.append(receiver)

    result = post_one(transport, receiver, timeout=5)

    assert (result.status_code, result.excerpt) == (None, "")
    assert result.error == "ProtocolError: BadStatusLine: \x00TTP/1.1 200 OK\r\n"


def test_hostile_receivers_in_a_batch_cost_the_others_nothing(transport, receivers):
    hostile = [
        servers.silence(),
        servers.trickled_headers(0.5),
        servers.endless_chunks(),
        servers.announced_body(2 * 1024 * MIB, 50 * MIB),
        servers.raw(b"SMTP ready\r\n\r\n"),
    ]
    fine = [servers.answer(200, b"fine") for _ in range(10)]
    for behaviour in hostile + fine:
        receivers.append(servers.RawReceiver(behaviour, time_cap=15))
    requests = [PostRequest(r.url(), BODY, HEADERS, 3.0) for r in receivers]

    results = transport.post_many(requests)

    assert [(r.status_code, r.error) for r in results[: len(hostile)]] == [
        (None, "Timeout: no response within 3.0 s"),
        (None, "Timeout: no response within 3.0 s"),
        (200, None),
        (200, None),
        (None, "ProtocolError: BadStatusLine: SMTP ready\r\n"),
    ]
    assert [(r.ok, r.excerpt) for r in results[len(hostile) :]] == [(True, "fine")] * 10
    assert max(result.duration for result in results) <= 4.0
