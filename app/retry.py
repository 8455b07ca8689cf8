"""When a failed delivery attempt is tried again, and what an answer means.

The policy is data (the statuses below) plus one decision function made of
guard clauses, so that each rule reads on its own line.
"""

from __future__ import annotations

import re
from datetime import datetime

from app.payload import as_utc, parse_http_date

# Receivers that are rate limiting or briefly down may say how long to wait.
RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE = 410

# RFC 9110 delta-seconds are ASCII digits; a fraction is tolerated, nothing else
# (float() alone would also take "nan", "inf" and "1e3").
_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, delta-seconds or HTTP date.

    ``None`` when the value is missing, unparseable or lies in the past.
    """
    if value is None:
        return None

    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)

    moment = parse_http_date(text)
    if moment is None:
        return None
    seconds = (moment - as_utc(now)).total_seconds()
    return seconds if seconds >= 0 else None


def next_delay(
    *,
    interval: float,
    status_code: int | None,
    retry_after: str | None,
    max_interval: float,
    now: datetime,
) -> float:
    """Seconds to wait before the next attempt after a failed one."""
    # Only rate limiting and brief outages may stretch the wait.
    if status_code not in RETRY_AFTER_STATUSES:
        return min(interval, max_interval)

    # A missing or unreadable Retry-After falls back to the callback's interval.
    asked = parse_retry_after(retry_after, now)
    if asked is None:
        return min(interval, max_interval)

    # Never sooner than the callback asked, never later than the cap.
    return min(max(interval, asked), max_interval)


def is_gone(status_code: int | None) -> bool:
    """Whether the receiver has gone for good (410), so its callback is disabled."""
    return status_code == GONE


def is_success(status_code: int | None) -> bool:
    """Whether the attempt succeeded: any 2xx, and nothing else."""
    return status_code is not None and 200 <= status_code <= 299
