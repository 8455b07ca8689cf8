"""One HTTP/1.1 exchange on an asyncio stream: the POST out, the answer's start in.

The answer's head is read under http.client's limits (a line at most 65536
bytes, fewer than 100 header lines) and a broken one fails with http.client's
own exceptions, so that the threaded and the batch transport describe a
receiver's misbehaviour in the same words. Of the body, at most ``limit`` bytes
and one more are read: the extra byte tells a truncated body from one that
ends exactly at the limit. Nothing here bounds time; the caller's deadline
does.
"""

from __future__ import annotations

import asyncio
import http.client
import re
from dataclasses import dataclass

MAX_LINE = 65536
MAX_HEADER_LINES = 100
# StreamReader.readuntil accepts a separator at index ``limit``: lines of at
# most MAX_LINE bytes, "\n" included, as http.client reads them.
STREAM_LIMIT = MAX_LINE - 1

_NO_BODY_STATUSES = {204, 304}
# Headers that say where the request ends: only this module writes them.
_FRAMING_HEADERS = {"content-length", "transfer-encoding"}
_BREAKING = re.compile(r"[\r\n\0]")
# ASCII digits only: str.isdigit() takes "²" too, and int() then fails.
_DIGITS = re.compile(r"[0-9]+")
_STATUS = re.compile(r"[1-9][0-9][0-9]")


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


async def read_head(reader: asyncio.StreamReader) -> Head:
    """Read the head of the final answer, skipping informational (1xx) ones."""
    while True:
        version, status = await _read_status(reader)
        headers = await _read_headers(reader)
        if not 100 <= status < 200:
            return Head(version, status, headers)


async def read_excerpt(reader: asyncio.StreamReader, head: Head, limit: int) -> Excerpt:
    """Read the body's first ``limit`` + 1 bytes at most, never the rest."""
    if head.status in _NO_BODY_STATUSES:
        return Excerpt(b"", True)
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader, limit + 1)

    length = _content_length(head)
    if length is None:
        # The body ends when the receiver closes: the connection ends with it.
        return Excerpt(await _read_up_to(reader, limit + 1), False)
    wanted = min(length, limit + 1)
    return Excerpt(await _read_exactly(reader, wanted), wanted == length)


async def _read_status(reader: asyncio.StreamReader) -> tuple[str, int]:
    line = (await _read_line(reader, "status line")).decode("iso-8859-1")
    if not line:
        raise http.client.RemoteDisconnected(
            "Remote end closed connection without response"
        )

    version, status, *_ = line.split(None, 2) + ["", ""]
    if not version.startswith("HTTP/") or not _STATUS.fullmatch(status):
        raise http.client.BadStatusLine(line)
    return version, int(status)


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """Header fields by lower-case name; of a repeated field, the first is kept."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = await _read_line(reader, "header line")
        if line in (b"\r\n", b"\n", b""):
            return headers

        name, colon, value = line.decode("iso-8859-1").partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    raise http.client.HTTPException(f"got more than {MAX_HEADER_LINES} headers")


async def _read_line(reader: asyncio.StreamReader, what: str) -> bytes:
    """One line, "\n" included; what is left before the end of the stream, if any."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as ended:
        return ended.partial
    except asyncio.LimitOverrunError:
        pass
    # Raised outside the handler, so that asyncio's error is not its context.
    raise http.client.LineTooLong(what)


async def _read_chunked(reader: asyncio.StreamReader, wanted: int) -> Excerpt:
    data = bytearray()
    while True:
        size = _chunk_size(await _read_line(reader, "chunk size"), data)
        if size == 0:
            await _read_headers(reader)  # the trailer section
            return Excerpt(bytes(data), True)

        taken = min(size, wanted - len(data))
        data += await _read_exactly(reader, taken)
        if taken < size:
            return Excerpt(bytes(data), False)
        await _read_line(reader, "chunk end")


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


async def _read_exactly(reader: asyncio.StreamReader, count: int) -> bytes:
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as ended:
        partial = ended.partial
    raise http.client.IncompleteRead(partial, count - len(partial))


async def _read_up_to(reader: asyncio.StreamReader, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = await reader.read(count - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)
