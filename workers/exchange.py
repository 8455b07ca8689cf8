"""One HTTP/1.1 exchange: the POST out, the answer's start in, without I/O.

``request_bytes`` makes the request; ``read_answer`` reads the answer out of
an ``Incoming`` buffer that the connection fills as bytes arrive. It is a
generator that yields whenever it needs more bytes than have arrived, so that
a connection resumes it from ``data_received`` with no task or stream of its
own. Bytes are taken from the buffer as they are read; what is left after
the answer was not asked for.

The answer's head is read under http.client's limits (a line at most 65536
bytes, fewer than 100 header lines) and a broken one fails with http.client's
own exceptions, so that every transport describes a receiver's misbehaviour
in the same words. Of the body, at most ``limit`` bytes and one more are
read: the extra byte tells a truncated body from one that ends exactly at the
limit. Nothing here bounds time; the caller's deadline does.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

MAX_LINE = 65536
MAX_HEADER_LINES = 100

_NO_BODY_STATUSES = {204, 304}
# Headers that say where the request ends: only this module writes them.
_FRAMING_HEADERS = {"content-length", "transfer-encoding"}
_BREAKING = re.compile(r"[\r\n\0]")
# ASCII digits only: str.isdigit() takes "²" too, and int() then fails.
_DIGITS = re.compile(r"[0-9]+")
_STATUS = re.compile(r"[1-9][0-9][0-9]")

Read = TypeVar("Read")
# A step of reading: yields (None) while it waits for more bytes.
Reading = Generator[None, None, Read]


@dataclass(frozen=True)
class Head:
    """The status line and headers of an answer; header names in lower case."""

    version: str
    status: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Excerpt:
    """The start of a body, and whether the connection may carry another request.

    ``complete`` is true when the body was read to its announced end, so that
    nothing of it is left on the connection.
    """

    data: bytes
    complete: bool


@dataclass
class Answer:
    """An answer as far as it has been read: its head, then its excerpt."""

    head: Head | None = None
    excerpt: Excerpt | None = None


class Incoming:
    """The bytes received and not yet read, and whether the sender has ended."""

    __slots__ = ("data", "ended", "_scanned")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ended = False
        # How far the line being waited for is known to have no "\n" yet.
        self._scanned = 0

    def take(self, count: int) -> bytes:
        """The first ``count`` bytes (fewer if fewer arrived), taken out."""
        taken = bytes(self.data[:count])
        del self.data[:count]
        self._scanned = 0
        return taken

    def take_line(self, what: str) -> bytes | None:
        """One line, "\n" included, taken out; None while it has not all arrived.

        At the end of the stream, what is left, if anything. A line longer
        than ``MAX_LINE`` is ``LineTooLong``, as http.client has it.
        """
        end = self.data.find(b"\n", self._scanned)
        if end >= MAX_LINE or end < 0 and len(self.data) >= MAX_LINE:
            raise http.client.LineTooLong(what)
        if end >= 0:
            return self.take(end + 1)
        if self.ended:
            return self.take(len(self.data))
        self._scanned = len(self.data)
        return None


def request_bytes(target: str, headers: dict[str, str], body: bytes) -> bytes:
    """The whole request, head and body, ready for one write.

    Content-Length is always the body's own. A header that would break the
    head (a line break, a colon in a name) is a ``ValueError``, as in
    http.client.
    """
    lines = [f"POST {target} HTTP/1.1"]
    for name, value in headers.items():
        if _BREAKING.search(name) or ":" in name or _BREAKING.search(value):
            rule = "header must be one line, with no colon in its name"
            raise ValueError(f"{rule}, got {name!r}: {value!r}")
        if name.lower() not in _FRAMING_HEADERS:
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def keeps_alive(head: Head) -> bool:
    """Whether the receiver lets the connection carry another request."""
    tokens = head.headers.get("connection", "").lower()
    if head.version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens


def read_answer(incoming: Incoming, limit: int, answer: Answer) -> Reading[None]:
    """Read the final answer's head, then its body's first ``limit`` + 1 bytes."""
    answer.head = yield from _read_head(incoming)
    answer.excerpt = yield from _read_excerpt(incoming, answer.head, limit)


def _read_head(incoming: Incoming) -> Reading[Head]:
    """Read the head of the final answer, skipping informational (1xx) ones."""
    while True:
        version, status = yield from _read_status(incoming)
        headers = yield from _read_headers(incoming)
        if not 100 <= status < 200:
            return Head(version, status, headers)


def _read_excerpt(incoming: Incoming, head: Head, limit: int) -> Reading[Excerpt]:
    """Read the body's first ``limit`` + 1 bytes at most, never the rest."""
    if head.status in _NO_BODY_STATUSES:
        return Excerpt(b"", True)
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        return (yield from _read_chunked(incoming, limit + 1))

    length = _content_length(head)
    if length is None:
        # The body ends when the receiver closes: the connection ends with it.
        return Excerpt((yield from _read_up_to(incoming, limit + 1)), False)
    wanted = min(length, limit + 1)
    return Excerpt((yield from _read_exactly(incoming, wanted)), wanted == length)


def _read_status(incoming: Incoming) -> Reading[tuple[str, int]]:
    line = (yield from _read_line(incoming, "status line")).decode("iso-8859-1")
    if not line:
        raise http.client.RemoteDisconnected(
            "Remote end closed connection without response"
        )

    version, status, *_ = line.split(None, 2) + ["", ""]
    if not version.startswith("HTTP/") or not _STATUS.fullmatch(status):
        raise http.client.BadStatusLine(line)
    return version, int(status)


def _read_headers(incoming: Incoming) -> Reading[dict[str, str]]:
    """Header fields by lower-case name; of a repeated field, the first is kept."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        # Not _read_line: no generator per line when the lines have arrived.
        while (line := incoming.take_line("header line")) is None:
            yield
        if line in (b"\r\n", b"\n", b""):
            return headers

        name, colon, value = line.decode("iso-8859-1").partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    raise http.client.HTTPException(f"got more than {MAX_HEADER_LINES} headers")


def _read_line(incoming: Incoming, what: str) -> Reading[bytes]:
    """One line, "\n" included; what is left before the end of the stream, if any."""
    while (line := incoming.take_line(what)) is None:
        yield
    return line


def _read_chunked(incoming: Incoming, wanted: int) -> Reading[Excerpt]:
    data = bytearray()
    while True:
        size = _chunk_size((yield from _read_line(incoming, "chunk size")), data)
        if size == 0:
            yield from _read_headers(incoming)  # the trailer section
            return Excerpt(bytes(data), True)

        taken = min(size, wanted - len(data))
        data += yield from _read_exactly(incoming, taken)
        if taken < size:
            return Excerpt(bytes(data), False)
        yield from _read_line(incoming, "chunk end")


def _chunk_size(line: bytes, data: bytearray) -> int:
    try:
        size = int(line.split(b";", 1)[0], 16)
    except ValueError:
        # int()'s message, kept as the context, names the bad line as urllib3 does.
        raise http.client.IncompleteRead(bytes(data))  # noqa: B904
    if size < 0:
        raise http.client.IncompleteRead(bytes(data))
    return size


# More digits than any body could have; int() refuses over 4,300 of them.
MAX_LENGTH_DIGITS = 18


def _content_length(head: Head) -> int | None:
    """The announced length; None (read to the close) if it is not a number."""
    text = head.headers.get("content-length", "")
    if not _DIGITS.fullmatch(text):
        return None
    if len(text.lstrip("0")) > MAX_LENGTH_DIGITS:
        return 10 ** MAX_LENGTH_DIGITS  # more than the excerpt ever reads
    return int(text)


def _read_exactly(incoming: Incoming, count: int) -> Reading[bytes]:
    while len(incoming.data) < count:
        if incoming.ended:
            partial = incoming.take(count)
            raise http.client.IncompleteRead(partial, count - len(partial))
        yield
    return incoming.take(count)


def _read_up_to(incoming: Incoming, count: int) -> Reading[bytes]:
    while len(incoming.data) < count and not incoming.ended:
        yield
    return incoming.take(count)
