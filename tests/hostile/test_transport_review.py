"""The batch transport against receivers that break HTTP's rules on purpose.

Bytes left on a keep-alive connection, unasked answers, slow name lookups,
``close()`` racing with a batch, framing edge cases, loopback in every
spelling. Real receivers on loopback only (tests/receivers.py); names are
answered by fake resolvers. Every receiver, loop and sleep here is bounded
and stops by itself.
"""

from __future__ import annotations

import concurrent.futures
import gc
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from tests.receivers import (
    Receiver,
    answering,
    flooding_when_idle,
    response,
    scripted,
    silent,
    streaming,
)
from tests.test_transport import BODY, HEADERS, StartReceiver, start, to_loopback
from workers.batch_transport import BatchTransport, PostRequest

__all__ = ["start"]  # the fixture, shared with tests/test_transport.py

MIB = 1 << 20


@pytest.fixture
def transport() -> Iterator[BatchTransport]:
    transport = BatchTransport(allow_private=True, resolve=to_loopback)
    yield transport
    transport.close()


def status_and_excerpt(result) -> tuple[int | None, str | None, str]:
    return (result.status_code, result.error, result.excerpt)


# --- 1. What is left on a keep-alive connection answers the next request ---

SECOND = response(200, b"second")

LEFT_ON_THE_CONNECTION = {
    # A second, unasked answer in the same write as the first.
    "two-answers-at-once": (
        response(200, b"first") + response(410, b"gone"), b"", 0.0),
    # The same, sent a moment later, while the connection sits idle.
    "second-answer-while-idle": (
        response(200, b"first"), response(410, b"gone"), 0.3),
    # A 204 has no body; bytes after its head belong to nothing.
    "204-with-a-body": (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nbody", b"", 0.0),
    # Two Content-Length headers that disagree (RFC 9112 6.3: unrecoverable).
    "conflicting-content-lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 20\r\n\r\n"
        b"firstHTTP/1.1 410 Gone\r\n\r\n", b"", 0.0),
    # Bytes after the last chunk and its trailer section.
    "bytes-after-the-last-chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nfirst\r\n0\r\n\r\nHTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n",
        b"", 0.0),
}


@pytest.mark.parametrize("case", list(LEFT_ON_THE_CONNECTION))
def test_bytes_left_on_a_connection_never_answer_the_next_request(
    start: StartReceiver, transport: BatchTransport, case: str
) -> None:
    first_answer, unasked, after = LEFT_ON_THE_CONNECTION[case]
    receiver = start(scripted([first_answer, SECOND], then=unasked, after=after))

    first = transport.post(receiver.url("/a"), BODY, HEADERS, timeout=5)
    time.sleep(after + 0.2)  # what the receiver sends unasked has arrived
    second = transport.post(receiver.url("/b"), BODY, HEADERS, timeout=5)

    assert first.status_code in (200, 204)
    # The second request's own answer, never what was left of the first.
    assert status_and_excerpt(second) == (200, None, "second")
    assert len(receiver.requests) == 2


def test_a_desynchronised_connection_disables_the_wrong_callback(
    start: StartReceiver, transport: BatchTransport
) -> None:
    """One extra answer shifts every later answer by one: /b reads /a's 410."""
    receiver = start(scripted(
        [response(200, b"a"), response(410, b"b is gone"), response(200, b"c")],
        then=response(200, b"a again")))

    results = []
    for path in ("/a", "/b", "/c"):
        results.append(transport.post(receiver.url(path), BODY, HEADERS, timeout=5))
        # What is sent unasked has arrived before the next request goes out.
        # An answer that arrives in the very instant the next request is sent
        # is, as with any HTTP/1.1 client, taken for that request's.
        time.sleep(0.2)

    assert [status_and_excerpt(r) for r in results] == [
        (200, None, "a"), (410, None, "b is gone"), (200, None, "c"),
    ]


# --- 2. Unasked bytes pile up in idle connections ---------------------------


def test_idle_connections_do_not_hoard_what_a_receiver_pushes(
    start: StartReceiver,
) -> None:
    receiver = start(flooding_when_idle(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", cap=4 * MIB))
    transport = BatchTransport(allow_private=True, resolve=to_loopback,
                               concurrency=16)
    try:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        results = transport.post_many(
            [PostRequest(receiver.url(), BODY, HEADERS, 5) for _ in range(16)])
        time.sleep(1.5)  # the receiver pushes into the 16 idle connections
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    finally:
        transport.close()

    assert [r.ok for r in results] == [True] * 16
    assert receiver.connections == 16
    # Nothing was asked for: an idle connection should hold next to nothing
    # (the default pools may keep 50 x 100 of them).
    assert held < 1 * MIB, f"{held / MIB:.1f} MiB held by 16 idle connections"


# --- 3. A Content-Length too long for int() ---------------------------------


def test_a_content_length_of_5000_digits_is_the_receivers_fault_not_ours(
    start: StartReceiver, transport: BatchTransport
) -> None:
    # http.client reads such a body to the close (int() fails, length unknown);
    # int() refuses more than 4300 digits since Python 3.11.
    answer = (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: "
              + b"9" * 5000 + b"\r\n\r\nabc")
    receiver = start(answering(answer, limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.error is None or not result.error.startswith("InternalError")
    assert result.status_code == 200


# --- 4. The name lookup is outside the deadline -----------------------------


def slow_resolver(seconds: float, slow_prefix: str = "slow"):
    def resolve(host: str, port: int) -> list[str]:
        if host.startswith(slow_prefix):
            time.sleep(seconds)  # a receiver's own DNS server answering late
        return ["127.0.0.1"]

    return resolve


def test_a_slow_name_lookup_is_cut_at_the_deadline(
    start: StartReceiver,
) -> None:
    receiver = start(answering(response(200)))
    transport = BatchTransport(allow_private=True, resolve=slow_resolver(4.0))
    try:
        began = time.monotonic()
        result = transport.post(f"http://slow.test:{receiver.port}/", BODY,
                                HEADERS, timeout=1.0)
        took = time.monotonic() - began
    finally:
        transport.close()

    assert result.error == "Timeout: no response within 1.0 s"
    assert took < 1.0 + 1, f"the attempt took {took:.1f} s"


def test_slow_lookups_of_one_user_delay_everyone_elses_attempts(
    start: StartReceiver,
) -> None:
    """The loop's default executor has min(32, CPUs + 4) threads for lookups."""
    receiver = start(answering(response(200, b"ok")))
    transport = BatchTransport(allow_private=True, resolve=slow_resolver(4.0))
    threads = min(32, (os.cpu_count() or 1) + 4)
    hostile = [PostRequest(f"http://slow{n}.test:{receiver.port}/", BODY, HEADERS,
                           1.0) for n in range(threads)]
    innocent = PostRequest(f"http://fine.test:{receiver.port}/", BODY, HEADERS, 2.0)
    try:
        hostile_batch = threading.Thread(target=transport.post_many,
                                         args=(hostile,))
        hostile_batch.start()
        time.sleep(0.3)  # its lookups have taken every executor thread
        began = time.monotonic()
        [result] = transport.post_many([innocent])
        took = time.monotonic() - began
        hostile_batch.join(timeout=15)
    finally:
        transport.close()

    assert (result.ok, result.error) == (True, None)
    assert took < 1.0, f"another batch's attempt waited {took:.1f} s"


# --- Pins: behaviour worth keeping (these pass) -------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]",
        "[0:0:0:0:0:ffff:127.0.0.1]", "[64:ff9b::127.0.0.1]", "[::ffff:10.0.0.1]",
        "[fe80::1%25lo]", "0x7f.1", "2130706433", "0177.0.0.1", "127.1",
        "localhost", "[::]", "0.0.0.0",
    ],
)
def test_loopback_in_any_spelling_opens_no_socket(
    start: StartReceiver, host: str
) -> None:
    receiver = start(answering(response(200)))
    transport = BatchTransport(allow_private=False, resolve=to_loopback)
    try:
        result = transport.post(f"http://{host}:{receiver.port}/", BODY, HEADERS,
                                timeout=2)
    finally:
        transport.close()

    assert result.error is not None
    assert result.error.startswith("DestinationNotAllowed: destination not allowed: ")
    assert receiver.connections == 0


@pytest.mark.parametrize(
    "answer", ["::ffff:127.0.0.1", "::1", "::ffff:7f00:1", "fe80::1%lo", "127.0.0.2"])
def test_a_name_resolving_to_loopback_in_any_spelling_opens_no_socket(
    start: StartReceiver, answer: str
) -> None:
    receiver = start(answering(response(200)))
    transport = BatchTransport(allow_private=False,
                               resolve=lambda host, port: ["93.184.216.34", answer])
    try:
        result = transport.post(f"http://rebind.test:{receiver.port}/", BODY,
                                HEADERS, timeout=2)
    finally:
        transport.close()

    assert result.error is not None
    assert result.error.startswith("DestinationNotAllowed: destination not allowed: ")
    assert receiver.connections == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}/a\r\nX-Injected: 1", "http://127.0.0.1:{port}/a\n",
            "http://127.0.0.1:{port}/a b", "http://127.0.0.1:{port}/\x00"])
def test_a_url_with_a_line_break_never_reaches_the_wire(
    start: StartReceiver, transport: BatchTransport, url: str
) -> None:
    receiver = start(answering(response(200)))

    result = transport.post(url.format(port=receiver.port), BODY, HEADERS, timeout=2)

    assert result.error.startswith(
        "DestinationNotAllowed: destination not allowed: URL must not contain "
        "spaces or control characters")
    assert receiver.connections == 0


def test_a_path_and_query_are_sent_quoted_on_one_line(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200)))

    transport.post(receiver.url("/é?q=ü#frag"), BODY, HEADERS, timeout=2)

    assert receiver.requests[0].line == "POST /%C3%A9?q=%C3%BC HTTP/1.1"


@pytest.mark.parametrize(
    "answer, expected",
    [
        pytest.param(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
            (202, None, "ok"), id="several-1xx"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2;ext=\"a;b\";x\r\nab\r\n1 ; y=z\r\nc\r\n0;last\r\nT: 1\r\nU: 2\r\n\r\n",
            (200, None, "abc"), id="chunk-extensions-and-trailers"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc",
            (200, "ProtocolError: IncompleteRead: IncompleteRead(0 bytes read)", ""),
            id="negative-chunk-size"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"ffffffffffffffffffffffff\r\n" + b"h" * 2000,
            (200, None, "h" * 1024), id="huge-chunk-size"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
            (200, None, "abc"), id="no-final-crlf-then-close"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nto the close",
            (200, None, "to the close"), id="negative-content-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n2\r\nab\r\n0\r\n\r\n",
            (200, None, "ab"), id="chunked-wins-over-content-length"),
        pytest.param(b"hello, this is HTTP/0.9\n",
                     (None, "ProtocolError: BadStatusLine: hello, this is HTTP/0.9\n",
                      ""), id="http-0.9"),
        pytest.param(b"",
                     (None, "ConnectionClosed: 127.0.0.1 port {port} closed the "
                      "connection without a response", ""), id="nothing"),
        pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n",
                     (None, "ConnectionClosed: 127.0.0.1 port {port} closed the "
                      "connection without a response", ""), id="only-100"),
    ],
)
def test_framing_edge_cases(
    start: StartReceiver, transport: BatchTransport, answer: bytes, expected
) -> None:
    receiver = start(answering(answer, limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=3)

    status, error, excerpt = expected
    error = error and error.format(port=receiver.port)
    assert status_and_excerpt(result) == (status, error, excerpt)
    assert result.duration < 3


def test_endless_1xx_answers_are_cut_at_the_deadline(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(streaming(b"", b"HTTP/1.1 102 Processing\r\n\r\n" * 100,
                               cap=64 * MIB))

    tracemalloc.start()
    result = transport.post(receiver.url(), BODY, HEADERS, timeout=1.5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert (result.status_code, result.error) == (
        None, "Timeout: no response within 1.5 s")
    assert result.duration < 1.5 + 1
    assert peak < 2 * MIB


def test_https_to_a_plain_http_receiver_is_a_tls_error(
    start: StartReceiver, transport: BatchTransport
) -> None:
    def plain_at_once(conn: socket.socket, receiver: Receiver) -> None:
        conn.sendall(response(400, b"plain HTTP here"))  # answers the ClientHello
        receiver.stopping.wait(1)

    receiver = start(plain_at_once)

    result = transport.post(receiver.url(scheme="https"), BODY, HEADERS, timeout=3)

    assert result.error is not None
    assert result.error.startswith("TLSError: ")
    assert result.status_code is None


def test_post_many_never_raises_and_keeps_the_order(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"ok")))

    def broken_headers() -> dict[str, str]:
        raise RuntimeError("signing failed")

    requests = [
        PostRequest(receiver.url(), BODY, HEADERS, 2),
        PostRequest("ftp://127.0.0.1/", BODY, HEADERS, 2),
        PostRequest(receiver.url(), "not bytes", HEADERS, 2),  # type: ignore[arg-type]
        PostRequest(receiver.url(), BODY, broken_headers, 2),
        PostRequest(receiver.url(), BODY, {"X-\u20ac": "v"}, 2),
        PostRequest(receiver.url(), BODY, HEADERS, 0),
        PostRequest("http://[::1", BODY, HEADERS, 2),
        PostRequest(receiver.url(), BODY, HEADERS, 2),
    ]

    results = transport.post_many(requests)

    assert [(r.ok, (r.error or "").split(":")[0]) for r in results] == [
        (True, ""), (False, "DestinationNotAllowed"), (False, "InternalError"),
        (False, "InternalError"), (False, "InternalError"), (False, "Timeout"),
        (False, "DestinationNotAllowed"), (True, ""),
    ]


def test_a_pooled_connection_is_never_handed_to_another_address(
    start: StartReceiver,
) -> None:
    """Same name and port, the DNS answer changes: a new connection to the new IP."""

    def tagged(tag: bytes):
        return answering(response(200, tag))

    first = start(tagged(b"127.0.0.1"))
    try:
        second = Receiver(tagged(b"127.0.0.2"), host="127.0.0.2",
                          bind_port=first.port)
    except OSError:
        pytest.skip("127.0.0.2 is not available here")
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    transport = BatchTransport(allow_private=True,
                               resolve=lambda host, port: next(answers))
    try:
        one = transport.post(f"http://same.test:{first.port}/", BODY, HEADERS,
                             timeout=2)
        two = transport.post(f"http://same.test:{first.port}/", BODY, HEADERS,
                             timeout=2)
    finally:
        transport.close()
        second.stop()

    assert (one.excerpt, two.excerpt) == ("127.0.0.1", "127.0.0.2")
    assert (first.connections, second.connections) == (1, 1)


def test_slow_silent_receivers_are_cut_even_with_many_threads(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(silent)
    durations: list[float] = []

    def one_batch() -> None:
        durations.extend(r.duration for r in transport.post_many(
            [PostRequest(receiver.url(), BODY, HEADERS, 1.0) for _ in range(3)]))

    threads = [threading.Thread(target=one_batch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(durations) == 12
    assert max(durations) < 2.0


# --- 5b. close() racing with a batch, its interleavings made certain ----------
# post_many takes the running loop and schedules its batch on it in one step
# (_schedule, under the lock close() takes), then waits for the result. The
# hooks below pause a thread between the two; any scheduler may do the same.


def _post_in_thread(transport: BatchTransport, url: str, timeout: float):
    outcome: list[str] = []

    def post() -> None:
        try:
            results = transport.post_many([PostRequest(url, BODY, HEADERS, timeout)])
            outcome.append(f"results {[r.error for r in results]}")
        except concurrent.futures.CancelledError:
            outcome.append("CancelledError")
        except BaseException as error:  # noqa: BLE001 - what a caller sees
            outcome.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, outcome


def test_a_batch_scheduled_just_after_close_is_not_a_runtime_error(
    start: StartReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = start(answering(response(200, b"ok")))
    transport = BatchTransport(allow_private=True, resolve=to_loopback)
    transport.post(receiver.url(), BODY, HEADERS, timeout=2)  # the loop runs
    took_the_loop, closed = threading.Event(), threading.Event()
    real_schedule = BatchTransport._schedule

    def schedule_then_pause(self, requests):
        scheduled = real_schedule(self, requests)
        took_the_loop.set()
        closed.wait(5)
        return scheduled

    monkeypatch.setattr(BatchTransport, "_schedule", schedule_then_pause)
    thread, outcome = _post_in_thread(transport, receiver.url(), 2)
    assert took_the_loop.wait(5)
    transport.close()
    closed.set()
    thread.join(timeout=10)
    monkeypatch.undo()
    transport.close()

    # Documented: a batch in flight at close() ends with CancelledError.
    assert outcome in (["CancelledError"], ["results [None]"])


def test_a_batch_scheduled_while_close_winds_down_never_hangs(
    start: StartReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = start(silent)
    transport = BatchTransport(allow_private=True, resolve=to_loopback)
    transport.post(receiver.url(), BODY, HEADERS, timeout=0.2)  # the loop runs
    took_the_loop, winding_down = threading.Event(), threading.Event()
    real_schedule = BatchTransport._schedule

    def schedule_then_pause(self, requests):
        scheduled = real_schedule(self, requests)
        took_the_loop.set()
        winding_down.wait(5)
        return scheduled

    from workers import connections as connections_module
    real_close = connections_module.ConnectionPool.close

    def close_slowly(pool):
        # Runs on the loop once close() has cancelled every task.
        winding_down.set()
        time.sleep(0.3)  # the other thread schedules its batch meanwhile
        real_close(pool)

    monkeypatch.setattr(BatchTransport, "_schedule", schedule_then_pause)
    monkeypatch.setattr(connections_module.ConnectionPool, "close", close_slowly)
    thread, outcome = _post_in_thread(transport, receiver.url(), 2)
    assert took_the_loop.wait(5)
    transport.close()
    thread.join(timeout=10)  # the attempt's own deadline is 2 s
    hung = thread.is_alive()
    monkeypatch.undo()
    transport.close()
    if hung:
        # The hung batch counts as in flight for ever, and the fork hook waits
        # for it: every later fork of this process would block (seen: the
        # fork tests of tests/test_batch_transport.py hang after this one).
        # Forget this transport so that the rest of the session can fork.
        from workers import batch_transport

        batch_transport._transports.discard(transport)

    timed_out = "results ['Timeout: no response within 2.0 s']"
    assert (hung, outcome) in ((False, ["CancelledError"]), (False, [timed_out]))
