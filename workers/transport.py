"""What one delivery attempt came to, in the words every log and record uses.

``AttemptResult`` is the outcome of one POST; the functions below make one
from an answer or a failure, so that every attempt is described the same way
("Timeout: no response within 5.0 s", "ConnectionRefused: …"). The POSTs
themselves are made by ``workers.batch_transport``.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from app.errors import DestinationNotAllowed
from app.targets import Destination

RETRY_AFTER_STATUSES = {429, 503}


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt achieved: ``ok`` only for a complete 2xx answer.

    ``error`` says, as "ErrorClass: message", why no complete answer arrived;
    it is None whenever ``status_code`` tells the whole story. ``excerpt`` is
    the start of the body, ``truncated`` when there was more.
    """

    ok: bool
    status_code: int | None
    error: str | None
    excerpt: str
    truncated: bool
    duration: float
    retry_after: str | None = None
    # When the attempt began (naive UTC), if the transport tells.
    started_at: datetime | None = None


def failure(error: str, status: int | None = None) -> AttemptResult:
    return AttemptResult(False, status, error, "", False, 0.0)


def unreachable(url: str, error: DestinationNotAllowed | OSError) -> AttemptResult:
    """The failed attempt of a URL refused at connect time, or whose name failed."""
    if isinstance(error, DestinationNotAllowed):
        return failure(f"DestinationNotAllowed: {error.reason}")
    return failure(f"NameResolution: {origin(url)} does not resolve: {error}")


def answered(
    status: int, data: bytes, limit: int, retry_after: str | None
) -> AttemptResult:
    """The result of an answer whose first ``limit`` bytes, and one more, are ``data``.

    ``retry_after`` is kept only where it means something: on a 429 or a 503.
    """
    truncated = len(data) > limit
    excerpt = data[:limit].decode("utf-8", errors="replace")
    if status not in RETRY_AFTER_STATUSES:
        retry_after = None
    ok = 200 <= status < 300
    return AttemptResult(ok, status, None, excerpt, truncated, 0.0, retry_after)


def request_headers(
    destination: Destination, headers: dict[str, str]
) -> dict[str, str]:
    """The caller's headers, with Host naming the URL's host and no compression."""
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    default_port = 443 if destination.scheme == "https" else 80
    if destination.port != default_port:
        host = f"{host}:{destination.port}"

    chosen = {name: value for name, value in headers.items() if name.lower() != "host"}
    if not any(name.lower() == "accept-encoding" for name in chosen):
        # A compressed excerpt would be unreadable, and inflating it unbounded.
        chosen["Accept-Encoding"] = "identity"
    return {"Host": host, **chosen}


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and everything it wraps, through causes, contexts and arguments."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
        ]
        pending += list(current.args)
        pending = [item for item in pending if isinstance(item, BaseException)]
    return seen


def describe_error(
    error: BaseException, destination: Destination, timeout: float, status: int | None
) -> str:
    """Name what went wrong as "ErrorClass: message", most telling cause first."""
    causes = _causes(error)
    where = f"{destination.ip} port {destination.port}"

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(cause, kinds) for cause in causes)

    if has(TimeoutError):
        done = "no response" if status is None else "response not complete"
        return f"Timeout: {done} within {float(timeout)} s"
    if has(ConnectionRefusedError):
        return f"ConnectionRefused: {where} refused the connection"
    if has(ssl.SSLError, ssl.CertificateError):
        return f"TLSError: {_innermost(causes)}"
    if has(http.client.RemoteDisconnected):
        return f"ConnectionClosed: {where} closed the connection without a response"
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return f"ConnectionReset: {where} reset the connection"
    if has(http.client.HTTPException):
        return f"ProtocolError: {_innermost(causes)}"
    return f"ConnectionError: {_innermost(causes)}"


def _innermost(causes: list[BaseException]) -> str:
    root = causes[-1]
    return f"{type(root).__name__}: {root}" if str(root) else type(root).__name__


def origin(url: str) -> str:
    """Host and port only: paths may carry tokens that logs must not keep."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return "?"
