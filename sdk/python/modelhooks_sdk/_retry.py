"""When a failed call is tried again, and after how long: data plus one pure function.

POST is never retried. The SDK sends an ``Idempotency-Key`` with every POST,
but the service does not yet drop repeats by that key, so a POST whose answer
was lost may already have registered a callback or recorded a status: sending
it again could do it twice. GET, PUT (which sets the given values, whatever
they were) and DELETE give the same result when repeated.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_METHODS = frozenset({"GET", "PUT", "DELETE"})

# Gateway failures and "try again shortly"; a 500 is a bug that a retry won't fix.
RETRYABLE_STATUSES = frozenset({502, 503, 504})

FIRST_DELAY = 0.25
MAX_DELAY = 5.0


def retry_delay(
    method: str,
    retries_made: int,
    max_retries: int,
    *,
    status_code: int | None = None,
    retry_after: str | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before trying again, or None to give up.

    ``status_code`` is None when no answer came (a refused, reset or timed-out
    connection).
    """
    # Out of retries.
    if retries_made >= max_retries:
        return None
    # Not safe to repeat.
    if method.upper() not in RETRYABLE_METHODS:
        return None
    # An answer that a retry will not change.
    if status_code is not None and status_code not in RETRYABLE_STATUSES:
        return None
    # The service said how long; we wait that long, within our cap.
    asked = parse_retry_after(retry_after)
    if asked is not None:
        return min(asked, MAX_DELAY)
    # Doubling backoff, with jitter so that many clients do not retry in step.
    backoff = min(FIRST_DELAY * 2**retries_made, MAX_DELAY)
    return backoff * (0.5 + rand() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` value (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
