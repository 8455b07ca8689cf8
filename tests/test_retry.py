from datetime import datetime, timedelta, timezone

import pytest

from app.retry import (
    RETRY_AFTER_STATUSES,
    is_gone,
    is_success,
    next_delay,
    parse_retry_after,
)

NOW = datetime(2026, 12, 4, 10, 0, 0, tzinfo=timezone.utc)
IN_30_SECONDS = "Fri, 04 Dec 2026 10:00:30 GMT"


def delay(**changes: object) -> float:
    arguments = {
        "interval": 10.0,
        "status_code": 500,
        "retry_after": None,
        "max_interval": 3600.0,
        "now": NOW,
    }
    return next_delay(**{**arguments, **changes})


def test_retry_after_is_honoured_for_429_and_503_only():
    assert frozenset({429, 503}) == RETRY_AFTER_STATUSES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 45 ", 45.0),
        ("1.5", 1.5),
        (IN_30_SECONDS, 30.0),
        ("Friday, 04-Dec-26 10:01:00 GMT", 60.0),
        ("Fri, 04 Dec 2026 12:00:30 +0200", 30.0),
        ("Fri, 04 Dec 2026 10:00:00 GMT", 0.0),
    ],
    ids=[
        "delta-seconds",
        "zero",
        "padded",
        "fractional",
        "imf-fixdate",
        "rfc-850",
        "date-with-offset",
        "date-now",
    ],
)
def test_parse_retry_after_reads_seconds_or_an_http_date(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_takes_a_naive_now_as_utc():
    naive_now = NOW.replace(tzinfo=None)

    assert parse_retry_after(IN_30_SECONDS, naive_now) == 30.0


def test_parse_retry_after_measures_from_now_in_any_zone():
    now_in_paris = NOW.astimezone(timezone(timedelta(hours=1)))

    assert parse_retry_after(IN_30_SECONDS, now_in_paris) == 30.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "-5",
        "+5",
        "nan",
        "inf",
        "1e3",
        "２０",
        "Fri, 04 Dec 2026 09:59:59 GMT",
        "2026-12-04T10:00:30Z",
    ],
    ids=[
        "missing",
        "empty",
        "word",
        "negative",
        "signed",
        "nan",
        "infinity",
        "exponent",
        "full-width-digits",
        "date-in-the-past",
        "iso-8601-is-not-an-http-date",
    ],
)
def test_parse_retry_after_gives_none_for_anything_unusable(value):
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"status_code": 429, "retry_after": "120"}, 120.0),
        ({"status_code": 503, "retry_after": IN_30_SECONDS}, 30.0),
        ({"status_code": 429, "retry_after": "3"}, 10.0),
        ({"status_code": 503, "retry_after": "soon"}, 10.0),
        ({"status_code": 429, "retry_after": None}, 10.0),
        ({"status_code": 500, "retry_after": "120"}, 10.0),
        ({"status_code": 408, "retry_after": "120"}, 10.0),
        ({"status_code": None, "retry_after": "120"}, 10.0),
        ({"status_code": 500}, 10.0),
    ],
    ids=[
        "429-seconds-longer-than-interval",
        "503-http-date-30s-ahead",
        "429-shorter-than-interval-keeps-interval",
        "503-unparseable-keeps-interval",
        "429-without-header-keeps-interval",
        "500-ignores-retry-after",
        "408-ignores-retry-after",
        "no-response-ignores-retry-after",
        "plain-failure",
    ],
)
def test_next_delay_is_the_interval_or_a_longer_retry_after(changes, expected):
    assert delay(**changes) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"status_code": 429, "retry_after": "86400", "max_interval": 600.0}, 600.0),
        ({"status_code": 429, "retry_after": "9" * 400, "max_interval": 600.0}, 600.0),
        ({"interval": 900.0, "max_interval": 600.0}, 600.0),
        ({"interval": 0.0, "max_interval": 600.0}, 0.0),
    ],
    ids=[
        "retry-after-capped",
        "huge-retry-after-capped",
        "interval-capped",
        "zero-interval",
    ],
)
def test_next_delay_never_exceeds_the_maximum_interval(changes, expected):
    assert delay(**changes) == expected


@pytest.mark.parametrize(
    ("status_code", "expected"),
    [
        (200, True),
        (201, True),
        (204, True),
        (299, True),
        (199, False),
        (300, False),
        (301, False),
        (304, False),
        (400, False),
        (410, False),
        (429, False),
        (500, False),
        (503, False),
        (None, False),
    ],
    ids=lambda value: repr(value),
)
def test_is_success_accepts_2xx_only(status_code, expected):
    assert is_success(status_code) is expected


@pytest.mark.parametrize(
    ("status_code", "expected"),
    [(410, True), (404, False), (200, False), (503, False), (None, False)],
    ids=["410", "404", "200", "503", "no-response"],
)
def test_is_gone_means_410_only(status_code, expected):
    assert is_gone(status_code) is expected
