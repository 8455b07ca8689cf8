"""One delivery attempt against real receivers on 127.0.0.1, polite and hostile.

Loopback receivers need ``allow_private=True``; names are answered by fake
resolvers. Time bounds are generous upper limits on when an attempt is cut.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.targets import check_url
from tests.receivers import (
    Behaviour,
    Receiver,
    answering,
    dripping,
    read_request,
    response,
    silent,
    streaming,
)
from workers.batch_transport import BatchTransport
from workers.transport import AttemptResult

PUBLIC = "93.184.216.34"
BODY = b'{"name":"home_rentals","new_status":"complete"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "msg_1"}

StartReceiver = Callable[..., Receiver]
MakeTransport = Callable[..., BatchTransport]


def to_loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


@pytest.fixture
def start() -> Iterator[StartReceiver]:
    """Start receivers for one test and stop them all afterwards."""
    started: list[Receiver] = []

    def start_receiver(behave: Behaviour, host: str = "127.0.0.1") -> Receiver:
        receiver = Receiver(behave, host=host)
        started.append(receiver)
        return receiver

    yield start_receiver
    for receiver in started:
        receiver.stop()


@pytest.fixture
def make_transport() -> Iterator[MakeTransport]:
    """Make transports for one test and close them all afterwards.

    Each test posts one attempt (``post``, a batch of one); the batches
    themselves are tested in tests/test_batch_transport.py.
    """
    made: list[BatchTransport] = []

    def make(**options: object) -> BatchTransport:
        transport = BatchTransport(**options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def transport(make_transport: MakeTransport) -> BatchTransport:
    return make_transport(allow_private=True, resolve=to_loopback)


def without_duration(result: AttemptResult) -> AttemptResult:
    """The result without what varies between runs: its start and duration."""
    assert result.duration >= 0
    assert result.started_at is not None
    return replace(result, duration=0.0, started_at=None)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_with_an_empty_body_is_ok(
    start: StartReceiver, transport: BatchTransport, status: int
) -> None:
    receiver = start(answering(response(status)))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert without_duration(result) == AttemptResult(
        ok=True,
        status_code=status,
        error=None,
        excerpt="",
        truncated=False,
        duration=0.0,
    )


def test_the_request_names_the_host_and_carries_body_and_headers(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"thanks")))
    url = f"http://receiver.test:{receiver.port}/hooks/a?x=1#ignored"

    result = transport.post(url, BODY, HEADERS, timeout=5)

    assert (result.ok, result.excerpt) == (True, "thanks")
    [request] = receiver.requests
    assert request.line == "POST /hooks/a?x=1 HTTP/1.1"
    assert request.body == BODY
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["content-length"] == str(len(BODY))
    assert request.headers["accept-encoding"] == "identity"


def test_a_host_header_from_the_caller_is_replaced(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200)))

    transport.post(receiver.url(), BODY, {"Host": "elsewhere.test"}, timeout=5)

    assert receiver.requests[0].headers["host"] == f"127.0.0.1:{receiver.port}"


def test_a_500_with_a_5_mb_body_is_capped_and_marked_truncated(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(500, b"e" * 5_000_000)))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert without_duration(result) == AttemptResult(
        ok=False,
        status_code=500,
        error=None,
        excerpt="e" * 1024,
        truncated=True,
        duration=0.0,
    )


def test_the_excerpt_limit_is_configurable(
    start: StartReceiver, make_transport: MakeTransport
) -> None:
    receiver = start(answering(response(200, b"0123456789abcdef")))
    transport = make_transport(allow_private=True, excerpt_limit=10)

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.ok, result.excerpt, result.truncated) == (True, "0123456789", True)


def test_a_body_exactly_at_the_limit_is_not_truncated(
    start: StartReceiver, make_transport: MakeTransport
) -> None:
    receiver = start(answering(response(200, b"0123456789")))
    transport = make_transport(allow_private=True, excerpt_limit=10)

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.excerpt, result.truncated) == ("0123456789", False)


def test_the_excerpt_is_decoded_with_replacement(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(400, b"bad \xff input \xc3\xa9")))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.status_code, result.excerpt) == (400, "bad \ufffd input \u00e9")


@pytest.mark.parametrize(
    "head, chunk",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"10000\r\n" + b"c" * 0x10000 + b"\r\n",
            id="endless-chunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n",
            b"g" * 0x10000,
            id="2-gib-content-length",
        ),
    ],
)
def test_a_huge_body_is_not_read_and_memory_stays_flat(
    start: StartReceiver, transport: BatchTransport, head: bytes, chunk: bytes
) -> None:
    receiver = start(streaming(head, chunk))

    tracemalloc.start()
    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    assert (len(result.excerpt), result.truncated) == (1024, True)
    assert result.duration < 5
    assert peak < 2 << 20


def test_a_receiver_that_never_answers_is_cut_at_the_deadline(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(silent)

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=1.0)

    assert without_duration(result) == AttemptResult(
        ok=False,
        status_code=None,
        error="Timeout: no response within 1.0 s",
        excerpt="",
        truncated=False,
        duration=0.0,
    )
    assert result.duration < 1.0 + 1


def test_a_tls_handshake_that_never_completes_is_cut_at_the_deadline(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(silent)

    result = transport.post(receiver.url(scheme="https"), BODY, HEADERS, timeout=1.0)

    assert result.error == "Timeout: no response within 1.0 s"
    assert result.duration < 1.0 + 1


def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_deadline(
    start: StartReceiver, transport: BatchTransport
) -> None:
    status_line_and_headers = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 30
    receiver = start(dripping(b"", status_line_and_headers, every=0.5))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=1.5)

    assert (result.status_code, result.error) == (
        None,
        "Timeout: no response within 1.5 s",
    )
    assert result.duration < 1.5 + 1


def test_a_body_dripped_a_byte_at_a_time_is_cut_at_the_deadline(
    start: StartReceiver, transport: BatchTransport
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n"
    receiver = start(dripping(head, b"b" * 30, every=0.5))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=1.5)

    assert without_duration(result) == AttemptResult(
        ok=False,
        status_code=200,
        error="Timeout: response not complete within 1.5 s",
        excerpt="",
        truncated=False,
        duration=0.0,
    )
    assert result.duration < 1.5 + 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    start: StartReceiver, transport: BatchTransport, status: int
) -> None:
    target = start(answering(response(200)))
    receiver = start(answering(response(status, Location=target.url("/moved"))))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.ok, result.status_code, result.error) == (False, status, None)
    assert len(receiver.requests) == 1
    assert target.connections == 0


@pytest.mark.parametrize(
    "status, retry_after",
    [
        pytest.param(429, "7", id="429"),
        pytest.param(503, "Wed, 21 Oct 2015 07:28:00 GMT", id="503-date"),
        pytest.param(500, None, id="500-ignored"),
    ],
)
def test_retry_after_is_kept_raw_for_429_and_503(
    start: StartReceiver, transport: BatchTransport, status: int,
    retry_after: str | None,
) -> None:
    header = retry_after or "3"
    receiver = start(answering(response(status, Retry_After=header)))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.ok, result.status_code, result.retry_after) == (
        False,
        status,
        retry_after,
    )


def test_a_refused_connection_is_classified(transport: BatchTransport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = transport.post(f"http://127.0.0.1:{port}/", BODY, HEADERS, timeout=5)

    assert without_duration(result) == AttemptResult(
        ok=False,
        status_code=None,
        error=f"ConnectionRefused: 127.0.0.1 port {port} refused the connection",
        excerpt="",
        truncated=False,
        duration=0.0,
    )


def test_a_receiver_closing_without_an_answer_is_classified(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(lambda conn, receiver: read_request(conn) and None)

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.error == (
        f"ConnectionClosed: 127.0.0.1 port {receiver.port} "
        "closed the connection without a response"
    )


def test_a_reset_connection_is_classified(
    start: StartReceiver, transport: BatchTransport
) -> None:
    def reset(conn: socket.socket, receiver: Receiver) -> None:
        read_request(conn)
        # Linger on, zero seconds: closing sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    receiver = start(reset)

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.error == (
        f"ConnectionReset: 127.0.0.1 port {receiver.port} reset the connection"
    )


def test_a_garbled_answer_is_a_protocol_error(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(b"SMTP ready\r\n\r\n"))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.error == "ProtocolError: BadStatusLine: SMTP ready\r\n"
    assert result.status_code is None


@pytest.mark.parametrize(
    "head, chunk, error",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\n",
            b"X-More: yes\r\n",
            "ProtocolError: HTTPException: got more than 100 headers",
            id="endless-headers",
        ),
        pytest.param(
            b"HTTP/1.1 200 ",
            b"a" * 4096,
            "ProtocolError: LineTooLong: got more than 65536 bytes when reading "
            "status line",
            id="endless-status-line",
        ),
    ],
)
def test_an_endless_head_is_a_protocol_error(
    start: StartReceiver, transport: BatchTransport, head: bytes, chunk: bytes,
    error: str,
) -> None:
    receiver = start(streaming(head, chunk, cap=8 << 20))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.status_code, result.error) == (None, error)


@pytest.mark.parametrize(
    "answer, error",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "ProtocolError: IncompleteRead: IncompleteRead(3 bytes read, "
            "7 more expected)",
            id="shorter-than-announced",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
            "ProtocolError: ValueError: invalid literal for int() with base 16: "
            "b'zz\\r\\n'",
            id="bad-chunk-size",
        ),
    ],
)
def test_a_body_broken_off_is_a_protocol_error_after_the_status(
    start: StartReceiver, transport: BatchTransport, answer: bytes, error: str
) -> None:
    receiver = start(answering(answer, limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.ok, result.status_code, result.error) == (False, 200, error)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 2000 OK\r\n\r\n", id="four-digits"),
        pytest.param(b"HTTP/1.1\r\n\r\n", id="no-status"),
    ],
)
def test_a_status_that_is_not_three_ascii_digits_is_a_bad_status_line(
    start: StartReceiver, transport: BatchTransport, answer: bytes
) -> None:
    receiver = start(answering(answer, limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    status_line = answer.split(b"\n")[0] + b"\n"
    assert (result.status_code, result.error) == (
        None,
        f"ProtocolError: BadStatusLine: {status_line.decode('latin-1')}",
    )


def test_a_content_length_of_other_digits_is_read_to_the_close(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(
        answering(b"HTTP/1.1 200 OK\r\nContent-Length: \xb9\r\n\r\nabc", 1)
    )

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.status_code, result.error, result.excerpt) == (200, None, "abc")


@pytest.mark.parametrize(
    "answer, excerpt, connections",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2;note=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
            "abcde",
            1,
            id="chunked-with-trailer",
        ),
        pytest.param(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            "ok",
            1,
            id="after-100-continue",
        ),
        pytest.param(
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", 2, id="http-1.0"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            "ok",
            2,
            id="connection-close",
        ),
    ],
)
def test_a_connection_is_reused_only_when_the_answer_allows_it(
    start: StartReceiver,
    transport: BatchTransport,
    answer: bytes,
    excerpt: str,
    connections: int,
) -> None:
    receiver = start(answering(answer))

    first = transport.post(receiver.url(), BODY, HEADERS, timeout=5)
    second = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (first.ok, first.excerpt, first.truncated) == (True, excerpt, False)
    assert (second.ok, second.excerpt) == (True, excerpt)
    assert (len(receiver.requests), receiver.connections) == (2, connections)


def test_a_body_that_ends_with_the_connection_is_read_to_the_close(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(b"HTTP/1.1 500 Oops\r\n\r\nuntil close", limit=1))

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (result.status_code, result.error, result.excerpt) == (
        500,
        None,
        "until close",
    )


def test_an_address_refused_at_connect_time_opens_no_socket(
    start: StartReceiver, make_transport: MakeTransport
) -> None:
    receiver = start(answering(response(200)))
    answers = [[PUBLIC], ["127.0.0.1"]]
    url = f"http://rebind.test:{receiver.port}/hook"

    def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    check_url(url, allow_private=False, resolve=rebinding)
    transport = make_transport(allow_private=False, resolve=rebinding)
    result = transport.post(url, BODY, HEADERS, timeout=5)

    assert without_duration(result) == AttemptResult(
        ok=False,
        status_code=None,
        error=(
            "DestinationNotAllowed: destination not allowed: URL host must be a "
            "public address, got 'rebind.test', which resolves to 127.0.0.1 "
            "(loopback)"
        ),
        excerpt="",
        truncated=False,
        duration=0.0,
    )
    assert receiver.connections == 0


def test_a_loopback_literal_is_refused_unless_private_is_allowed(
    start: StartReceiver, make_transport: MakeTransport
) -> None:
    receiver = start(answering(response(200)))
    transport = make_transport(allow_private=False)

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.error is not None
    assert result.error.startswith("DestinationNotAllowed: destination not allowed")
    assert receiver.connections == 0


def test_the_name_is_resolved_once_and_that_address_is_dialled(
    start: StartReceiver, make_transport: MakeTransport
) -> None:
    receiver = start(answering(response(200)))
    lookups: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return ["127.0.0.1"]

    transport = make_transport(allow_private=True, resolve=resolve)
    result = transport.post(
        f"http://receiver.test:{receiver.port}/", BODY, HEADERS, timeout=5
    )

    assert result.ok
    assert lookups == [("receiver.test", receiver.port)]
    assert receiver.connections == 1


def test_a_name_that_does_not_resolve_is_classified(
    make_transport: MakeTransport,
) -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    transport = make_transport(allow_private=True, resolve=nothing)
    result = transport.post("http://nowhere.test:8080/", BODY, HEADERS, timeout=5)

    assert result.error == (
        "NameResolution: nowhere.test:8080 does not resolve: "
        "[Errno -2] Name or service not known"
    )


def test_two_posts_reuse_one_keep_alive_connection(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"ok")))

    first = transport.post(receiver.url(), BODY, HEADERS, timeout=5)
    second = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (first.ok, second.ok) == (True, True)
    assert (len(receiver.requests), receiver.connections) == (2, 1)


def test_a_connection_left_with_unread_body_is_not_reused(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"x" * 100_000)))

    transport.post(receiver.url(), BODY, HEADERS, timeout=5)
    transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert (len(receiver.requests), receiver.connections) == (2, 2)


def test_a_closed_transport_can_post_again(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200)))
    transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    transport.close()
    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.ok
    assert receiver.connections == 2


def test_many_threads_share_one_transport(
    start: StartReceiver, transport: BatchTransport
) -> None:
    receiver = start(answering(response(200, b"ok")))
    results: list[AttemptResult] = []

    def post_five() -> None:
        for _ in range(5):
            results.append(transport.post(receiver.url(), BODY, HEADERS, timeout=5))

    threads = [threading.Thread(target=post_five) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [result.ok for result in results] == [True] * 40
    assert len(receiver.requests) == 40
    assert receiver.connections <= 8


def test_ipv6_loopback(start: StartReceiver, transport: BatchTransport) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    receiver = start(answering(response(200)), host="::1")

    result = transport.post(receiver.url(), BODY, HEADERS, timeout=5)

    assert result.ok
    assert receiver.requests[0].headers["host"] == f"[::1]:{receiver.port}"


def test_the_debug_log_names_the_origin_but_not_the_path(
    start: StartReceiver, transport: BatchTransport, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = start(answering(response(200)))
    caplog.set_level(logging.DEBUG, logger="modelhooks.transport")

    transport.post(receiver.url("/hook?token=secret"), BODY, HEADERS, timeout=5)

    [record] = [r for r in caplog.records if r.name == "modelhooks.transport"]
    assert record.levelno == logging.DEBUG
    assert f"attempt to 127.0.0.1:{receiver.port}:" in record.getMessage()
    assert "secret" not in record.getMessage()


# TLS: a certificate for receiver.test made by openssl for this test run.


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=receiver.test", "-addext", "subjectAltName=DNS:receiver.test",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return cert, key


def tls_answering(cert: Path, key: Path, answer: bytes, names: list[str]) -> Behaviour:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, context: names.append(name) and None
    plain = answering(answer)

    def behave(conn: socket.socket, receiver: Receiver) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            plain(tls, receiver)

    return behave


def test_tls_verifies_and_names_the_host_while_dialling_the_pinned_address(
    start: StartReceiver, certificate: tuple[Path, Path], make_transport: MakeTransport
) -> None:
    names: list[str] = []
    receiver = start(tls_answering(*certificate, response(200, b"secure"), names))
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    transport = make_transport(
        allow_private=True, resolve=to_loopback, ssl_context=trusted
    )

    url = f"https://receiver.test:{receiver.port}/hook"
    result = transport.post(url, BODY, HEADERS, timeout=5)

    assert (result.ok, result.excerpt, result.error) == (True, "secure", None)
    assert names == ["receiver.test"]
    assert receiver.requests[0].headers["host"] == f"receiver.test:{receiver.port}"


def test_tls_refuses_a_certificate_for_another_name(
    start: StartReceiver, certificate: tuple[Path, Path], make_transport: MakeTransport
) -> None:
    receiver = start(tls_answering(*certificate, response(200), []))
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    transport = make_transport(
        allow_private=True, resolve=to_loopback, ssl_context=trusted
    )

    url = f"https://other.test:{receiver.port}/hook"
    result = transport.post(url, BODY, HEADERS, timeout=5)

    assert result.error is not None
    assert result.error.startswith(
        "TLSError: SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: Hostname mismatch, certificate is not valid "
        "for 'other.test'."
    )
    assert receiver.requests == []


def test_tls_refuses_an_untrusted_certificate(
    start: StartReceiver, certificate: tuple[Path, Path], transport: BatchTransport
) -> None:
    receiver = start(tls_answering(*certificate, response(200), []))

    url = f"https://receiver.test:{receiver.port}/hook"
    result = transport.post(url, BODY, HEADERS, timeout=5)

    assert result.error is not None
    assert result.error.startswith(
        "TLSError: SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self-signed certificate"
    )
    assert receiver.requests == []
