"""Times on the wire: HTTP dates in callbacks and payloads, ISO 8601 in the log.

Every datetime the SDK hands back is aware and in UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime


def parse_time(value: str) -> datetime:
    """An HTTP date or an ISO 8601 time as an aware UTC datetime; else ValueError."""
    text = value.strip() if isinstance(value, str) else ""
    parsed = _parse_iso(text) or _parse_http(text)
    if parsed is None:
        raise ValueError(f"a time must be an HTTP date or ISO 8601; got {value!r}")
    return as_utc(parsed)


def parse_optional_time(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken as UTC already, never local."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def to_wire(moment: datetime | str) -> str:
    """A datetime as the ISO 8601 the service reads; a string is sent unchanged."""
    if isinstance(moment, str):
        return moment
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def http_date(moment: datetime) -> str:
    return format_datetime(as_utc(moment), usegmt=True)


def _parse_iso(text: str) -> datetime | None:
    # Python 3.10's fromisoformat does not read the "Z" suffix.
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_http(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
