"""The body of a callback request, and the times written in it.

Times on the wire are HTTP dates (RFC 7231 IMF-fixdate, always GMT). Times read
from producers may be ISO 8601 or HTTP dates; every datetime handed back is
aware and in UTC, whatever the process's local time zone.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

_EXAMPLES = "'2026-12-04T10:00:00Z' or 'Fri, 04 Dec 2026 10:00:00 GMT'"


def http_date(moment: datetime) -> str:
    """``moment`` as an IMF-fixdate in GMT; a naive datetime is taken as UTC."""
    return format_datetime(as_utc(moment), usegmt=True)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time or an HTTP date, as an aware UTC datetime.

    A time without an offset is taken as UTC. Raises ``ValueError`` for
    anything else.
    """
    parsed = _parse_either(value.strip()) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(
            f"a time must be ISO 8601 or an HTTP date, such as {_EXAMPLES}; "
            f"got {value!r}"
        )
    moment = _utc_or_none(parsed)
    if moment is None:
        raise ValueError(f"a time must lie between the years 1 and 9999 in UTC; "
                         f"got {value!r}")
    return moment


def parse_http_date(value: str) -> datetime | None:
    """An HTTP date (any RFC 7231 form) as an aware UTC datetime, else ``None``."""
    parsed = _parse_http(value.strip())
    return None if parsed is None else _utc_or_none(parsed)


def build_body(
    *,
    name: str,
    version: int,
    active: bool,
    predictor_id: int,
    project_name: str,
    predictor_created_at: datetime | None,
    old_status: str | None,
    new_status: str,
    changed_at: datetime,
) -> bytes:
    """The callback request body: compact UTF-8 JSON, keys in the documented order."""
    created = None if predictor_created_at is None else http_date(predictor_created_at)
    document = {
        "name": name,
        "version": version,
        "active": active,
        "predictor_id": predictor_id,
        "project_name": project_name,
        "predictor_created_at": created,
        "old_status": old_status,
        "new_status": new_status,
        "changed_at": http_date(changed_at),
    }
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken as UTC already."""
    # Never astimezone() on a naive value: that would read it in the local zone.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _utc_or_none(moment: datetime) -> datetime | None:
    # 31 Dec 9999 23:00 at -05:00 is past the last datetime Python can hold.
    try:
        return as_utc(moment)
    except OverflowError:
        return None


def _parse_either(text: str) -> datetime | None:
    return _parse_iso(text) or _parse_http(text)


def _parse_iso(text: str) -> datetime | None:
    # Python 3.10's fromisoformat does not know the "Z" suffix.
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_http(text: str) -> datetime | None:
    # The email parser reads all three RFC 7231 forms (IMF-fixdate, RFC 850 and
    # asctime); "-0000" and asctime come back naive, meaning GMT.
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
