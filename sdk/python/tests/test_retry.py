"""The retry policy, as a pure function: no network, no sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from modelhooks_sdk._retry import MAX_DELAY, parse_retry_after, retry_delay


def no_jitter() -> float:
    return 1.0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "get"])
def test_an_idempotent_call_that_got_no_answer_is_retried_after_a_quarter_second(
    method,
):
    assert retry_delay(method, 0, 2, rand=no_jitter) == 0.25


def test_the_backoff_doubles_with_each_retry():
    delays = [retry_delay("GET", made, 10, rand=no_jitter) for made in range(4)]

    assert delays == [0.25, 0.5, 1.0, 2.0]


def test_the_backoff_never_exceeds_five_seconds():
    assert retry_delay("GET", 9, 10, rand=no_jitter) == MAX_DELAY == 5.0


def test_jitter_takes_the_delay_down_to_half_at_most():
    assert retry_delay("GET", 1, 2, rand=lambda: 0.0) == 0.25


def test_a_post_is_never_retried():
    assert retry_delay("POST", 0, 2, status_code=503) is None
    assert retry_delay("POST", 0, 2) is None


def test_no_retry_is_left_after_max_retries():
    assert retry_delay("GET", 2, 2, status_code=503) is None


@pytest.mark.parametrize("status_code", [502, 503, 504])
def test_gateway_and_unavailable_answers_are_retried(status_code):
    assert retry_delay("GET", 0, 2, status_code=status_code, rand=no_jitter) == 0.25


@pytest.mark.parametrize("status_code", [400, 401, 404, 409, 429, 500])
def test_other_error_answers_are_not_retried(status_code):
    assert retry_delay("GET", 0, 2, status_code=status_code) is None


def test_retry_after_in_seconds_is_honoured():
    assert retry_delay("GET", 0, 2, status_code=503, retry_after="3") == 3.0


def test_retry_after_longer_than_the_cap_is_cut_to_five_seconds():
    assert retry_delay("GET", 0, 2, status_code=503, retry_after="120") == 5.0


def test_retry_after_as_an_http_date_counts_from_now():
    moment = datetime.now(timezone.utc) + timedelta(seconds=4)

    seconds = parse_retry_after(format_datetime(moment, usegmt=True))

    assert seconds is not None and 2.5 < seconds <= 4


@pytest.mark.parametrize("value", [None, "", "soon", "-3"])
def test_an_unreadable_retry_after_is_ignored(value):
    assert parse_retry_after(value) is None
