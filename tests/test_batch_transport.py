"""What only the batch transport does: batches, places in flight, threads, fork.

Every attempt's own behaviour is pinned by tests/test_transport.py (one
attempt at a time); the receivers here are the same loopback ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.receivers import (
    Receiver,
    answering,
    dripping,
    read_request,
    response,
    silent,
)
from tests.test_transport import BODY, HEADERS, StartReceiver, start, to_loopback
from workers.batch_transport import BatchTransport, PostRequest

__all__ = ["start"]  # the fixture, shared with tests/test_transport.py

LOOP_THREAD = "modelhooks-batch-transport"


@pytest.fixture
def transport() -> Iterator[BatchTransport]:
    transport = BatchTransport(allow_private=True, resolve=to_loopback)
    yield transport
    transport.close()


def requests_to(url: str, count: int, timeout: float = 5) -> list[PostRequest]:
    return [PostRequest(url, BODY, HEADERS, timeout) for _ in range(count)]


class InFlight:
    """A receiver behaviour answering after ``hold`` s, counting requests at once."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket, receiver: Receiver) -> None:
        while (request := read_request(conn)) is not None:
            receiver.record(request)
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(self.hold)
            with self._lock:
                self.now -= 1
            conn.sendall(response(200, b"ok"))


def test_results_come_in_the_order_of_the_requests(
    start: StartReceiver, transport: BatchTransport
) -> None:
    fine = start(answering(response(200, b"fine")))
    failing = start(answering(response(500, b"broken")))
    stalled = start(silent)
    requests = [
        PostRequest(stalled.url(), BODY, HEADERS, 1.0),
        PostRequest(fine.url(), BODY, HEADERS, 5),
        PostRequest(failing.url(), BODY, HEADERS, 5),
        PostRequest(fine.url(), BODY, HEADERS, 5),
    ]

    results = transport.post_many(requests)

    assert [(r.status_code, r.error, r.excerpt) for r in results] == [
        (None, "Timeout: no response within 1.0 s", ""),
        (200, None, "fine"),
        (500, None, "broken"),
        (200, None, "fine"),
    ]


def test_an_empty_batch_starts_nothing(transport: BatchTransport) -> None:
    assert transport.post_many([]) == []
    assert LOOP_THREAD not in [thread.name for thread in threading.enumerate()]


def test_at_most_concurrency_attempts_are_in_flight(start: StartReceiver) -> None:
    behaviour = InFlight(hold=0.3)
    receiver = start(behaviour)
    transport = BatchTransport(allow_private=True, concurrency=3)

    results = transport.post_many(requests_to(receiver.url(), 9))
    transport.close()

    assert [result.ok for result in results] == [True] * 9
    assert behaviour.most == 3
    assert receiver.connections == 3


def test_the_deadline_starts_when_an_attempt_gets_its_place(
    start: StartReceiver,
) -> None:
    receiver = start(InFlight(hold=0.4))
    transport = BatchTransport(allow_private=True, concurrency=1)

    # Three attempts one after the other take 1.2 s, each well within 1 s.
    results = transport.post_many(requests_to(receiver.url(), 3, timeout=1.0))
    transport.close()

    assert [(result.ok, result.error) for result in results] == [(True, None)] * 3


def test_batches_from_several_threads_share_the_loop_and_its_connections(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"ok")))
    results: dict[int, list[bool]] = {}

    def post_batch(number: int) -> None:
        batch = transport.post_many(requests_to(receiver.url(), 10))
        results[number] = [result.ok for result in batch]

    threads = [threading.Thread(target=post_batch, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results == {number: [True] * 10 for number in range(4)}
    assert len(receiver.requests) == 40
    assert [t.name for t in threading.enumerate()].count(LOOP_THREAD) == 1


def test_a_name_is_looked_up_once_per_batch(start: StartReceiver) -> None:
    receiver = start(answering(response(200)))
    lookups: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return ["127.0.0.1"]

    transport = BatchTransport(allow_private=True, resolve=resolve)
    url = f"http://receiver.test:{receiver.port}/hook"
    first = transport.post_many(requests_to(url, 5))
    second = transport.post_many(requests_to(url, 5))
    transport.close()

    assert [r.ok for r in first + second] == [True] * 10
    assert lookups == [("receiver.test", receiver.port)] * 2


def test_connections_are_kept_apart_per_host_on_one_address(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200)))

    for name in ["one.test", "two.test", "one.test", "two.test"]:
        transport.post(f"http://{name}:{receiver.port}/", BODY, HEADERS, timeout=5)

    hosts = [request.headers["host"] for request in receiver.requests]
    assert hosts == [f"{name}.test:{receiver.port}" for name in ["one", "two"] * 2]
    assert receiver.connections == 2


def test_a_header_that_would_break_the_request_fails_its_attempt_alone(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200)))
    smuggling = {"X-Note": "a\r\nX-Injected: yes"}
    requests = [
        PostRequest(receiver.url(), BODY, smuggling, 5),
        PostRequest(receiver.url(), BODY, HEADERS, 5),
    ]

    first, second = transport.post_many(requests)

    assert (first.ok, first.status_code, first.error) == (
        False,
        None,
        "InternalError: ValueError: header must be one line, with no colon in "
        "its name, got 'X-Note': 'a\\r\\nX-Injected: yes'",
    )
    assert second.ok
    assert [request.headers.get("x-note") for request in receiver.requests] == [None]


def test_a_status_of_other_scripts_digits_is_a_bad_status_line(
    start: StartReceiver, transport: BatchTransport
) -> None:
    # "\xb2" ("²") passes str.isdigit(), and int() then raises ValueError.
    receiver = start(answering(b"HTTP/1.1 \xb200 OK\r\n\r\n", limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.status_code, result.error) == (
        None,
        "ProtocolError: BadStatusLine: HTTP/1.1 \xb200 OK\r\n",
    )


def test_close_stops_the_loop_and_a_later_batch_starts_it_again(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200)))
    transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    transport.close()
    running_after_close = LOOP_THREAD in [t.name for t in threading.enumerate()]
    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert running_after_close is False
    assert result.ok
    assert receiver.connections == 2


def test_close_cancels_a_batch_in_flight_and_its_caller_hears_of_it(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(silent)
    raised: list[BaseException] = []

    def post_and_keep_the_error() -> None:
        try:
            transport.post_many(requests_to(receiver.url(), 2))
        except BaseException as error:
            raised.append(error)

    posting = threading.Thread(target=post_and_keep_the_error)
    posting.start()
    for _ in range(500):  # both connections arrive within 5 s
        if receiver.connections == 2:
            break
        time.sleep(0.01)
    transport.close()
    posting.join(timeout=10)

    assert [type(error) for error in raised] == [concurrent.futures.CancelledError]
    assert LOOP_THREAD not in [thread.name for thread in threading.enumerate()]


def _post_in_child(transport: BatchTransport, url: str, answers) -> None:
    result = transport.post(url, BODY, HEADERS, timeout=5)
    answers.put((result.ok, result.excerpt))


def fork_and_post(transport: BatchTransport, url: str) -> tuple[bool, str]:
    """Fork a child that posts through ``transport``; what it got, once it ended."""
    forking = multiprocessing.get_context("fork")
    answers = forking.Queue()
    child = forking.Process(target=_post_in_child, args=(transport, url, answers))
    child.start()
    got = answers.get(timeout=20)
    child.join(timeout=20)
    assert child.exitcode == 0
    return got


def test_a_fork_closes_the_loop_and_each_side_starts_its_own(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"ok")))
    before = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    in_child = fork_and_post(transport, receiver.url())
    after = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (before.ok, in_child, after.ok) == (True, (True, "ok"), True)
    # Nothing was shared: the child and then the parent dialled afresh.
    assert (len(receiver.requests), receiver.connections) == (3, 3)


def test_a_fork_waits_for_the_batch_in_flight(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(InFlight(hold=0.5))
    in_flight: list[bool] = []
    posting = threading.Thread(
        target=lambda: in_flight.extend(
            result.ok for result in transport.post_many(requests_to(receiver.url(), 2))
        )
    )
    posting.start()
    for _ in range(500):  # the batch's first request arrives within 5 s
        if receiver.requests:
            break
        time.sleep(0.01)

    in_child = fork_and_post(transport, receiver.url())
    posting.join(timeout=20)

    assert (in_flight, in_child) == ([True, True], (True, "ok"))


def test_headers_given_as_a_function_are_made_when_the_attempt_gets_its_place(
    start: StartReceiver,
) -> None:
    order: list[str] = []

    def arrive(conn: socket.socket, receiver: Receiver) -> None:
        while (request := read_request(conn)) is not None:
            receiver.record(request)
            order.append(f"arrived {request.headers['x-attempt']}")
            conn.sendall(response(200, b"ok"))

    def headers_of(attempt: str):
        def made_now() -> dict[str, str]:
            order.append(f"signed {attempt}")
            return {**HEADERS, "X-Attempt": attempt}
        return made_now

    receiver = start(arrive)
    one_at_a_time = BatchTransport(allow_private=True, resolve=to_loopback,
                                   concurrency=1)
    try:
        results = one_at_a_time.post_many(
            [PostRequest(receiver.url(), BODY, headers_of(n), 5) for n in "12"])
    finally:
        one_at_a_time.close()

    assert [r.status_code for r in results] == [200, 200]
    assert order == ["signed 1", "arrived 1", "signed 2", "arrived 2"]
    assert results[0].started_at <= results[1].started_at


# --- The answer read as it arrives, under one deadline per attempt ----------


def test_an_answer_arriving_a_byte_at_a_time_is_read_whole(
    start: StartReceiver, transport: BatchTransport
) -> None:
    answer = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    receiver = start(dripping(b"", answer, every=0.002))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.status_code, result.error, result.excerpt) == (
        200, None, "hello world")


@pytest.mark.parametrize(
    "padding, error",
    [(0, None),
     (1, "ProtocolError: LineTooLong: got more than 65536 bytes when reading "
         "header line")],
)
def test_a_header_line_of_65536_bytes_is_read_and_a_longer_one_refused(
    start: StartReceiver, transport: BatchTransport, padding: int, error: str | None
) -> None:
    # "X-Long: " and "\r\n" included, as http.client counts.
    line = b"X-Long: " + b"a" * (65536 - 10 + padding) + b"\r\n"
    answer = b"HTTP/1.1 200 OK\r\n" + line + b"Content-Length: 2\r\n\r\nok"
    receiver = start(answering(answer, limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.error == error
    assert result.status_code == (200 if error is None else None)


def test_an_answer_after_the_deadline_never_answers_a_later_request(
    start: StartReceiver, transport: BatchTransport
) -> None:
    def late_first(conn: socket.socket, receiver: Receiver) -> None:
        while (request := read_request(conn)) is not None:
            receiver.record(request)
            if len(receiver.requests) == 1 and receiver.stopping.wait(0.6):
                return
            conn.sendall(response(200, f"to {request.line}".encode()))

    receiver = start(late_first)

    first = transport.post(receiver.url("/first"), BODY, HEADERS, timeout=0.3)
    time.sleep(0.6)  # the late answer has been sent by now
    second = transport.post(receiver.url("/second"), BODY, HEADERS, timeout=5)

    assert first.error == "Timeout: no response within 0.3 s"
    assert (second.status_code, second.excerpt) == (
        200, "to POST /second HTTP/1.1")
    assert receiver.connections == 2


def test_a_kept_connection_sends_nothing_once_the_deadline_has_passed(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"ok")))

    first = transport.post(receiver.url(), BODY, HEADERS, timeout=5)
    expired = transport.post(receiver.url(), BODY, HEADERS, timeout=0)
    third = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (first.ok, expired.error, third.ok) == (
        True, "Timeout: no response within 0.0 s", True)
    assert (len(receiver.requests), receiver.connections) == (2, 1)


def test_a_batch_runs_no_task_per_request(start: StartReceiver) -> None:
    receiver = start(answering(response(200, b"ok"), limit=1000))
    transport = BatchTransport(allow_private=True, resolve=to_loopback,
                               concurrency=4)
    most: list[int] = []

    def count_tasks() -> dict[str, str]:
        # Called on the loop's thread as each attempt starts.
        most.append(len(asyncio.all_tasks()))
        return HEADERS

    try:
        results = transport.post_many(
            [PostRequest(receiver.url(), BODY, count_tasks, 5) for _ in range(40)])
    finally:
        transport.close()

    assert [r.ok for r in results] == [True] * 40
    # The batch's own task and its four places, whatever the batch's size;
    # while the first four connect, each connection is a task of its own too.
    assert max(most) <= 5 + 4
    assert max(most[8:]) <= 5
