import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from app.payload import build_body, http_date, parse_http_date, parse_time

UTC = timezone.utc
PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE_THIRTY = timezone(-timedelta(hours=5, minutes=30))
DESIGN_EXAMPLE = (
    b'{"name":"home_rentals","version":1,"active":true,"predictor_id":123,'
    b'"project_name":"mindsdb","predictor_created_at":"Sat, 09 Sep 2023 11:50:27 GMT",'
    b'"old_status":"training","new_status":"complete",'
    b'"changed_at":"Sat, 09 Sep 2023 11:59:00 GMT"}'
)


@pytest.fixture
def chicago(monkeypatch):
    """Run the test with the process's local zone set to America/Chicago."""
    monkeypatch.setenv("TZ", "America/Chicago")
    time.tzset()
    assert datetime(2026, 12, 4).astimezone().utcoffset() == -timedelta(hours=6)

    yield

    monkeypatch.undo()
    time.tzset()


def body_fields(**changes: object) -> dict[str, object]:
    fields = {
        "name": "home_rentals",
        "version": 1,
        "active": True,
        "predictor_id": 123,
        "project_name": "mindsdb",
        "predictor_created_at": datetime(2023, 9, 9, 11, 50, 27, tzinfo=UTC),
        "old_status": "training",
        "new_status": "complete",
        "changed_at": datetime(2023, 9, 9, 11, 59, tzinfo=UTC),
    }
    return {**fields, **changes}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 12, 4, 10, 0, 0), "Fri, 04 Dec 2026 10:00:00 GMT"),
        (datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC), "Fri, 04 Dec 2026 10:00:00 GMT"),
        (
            datetime(2026, 12, 4, 10, 0, 0, tzinfo=PLUS_TWO),
            "Fri, 04 Dec 2026 08:00:00 GMT",
        ),
        (
            datetime(2026, 12, 4, 22, 0, 0, tzinfo=MINUS_FIVE_THIRTY),
            "Sat, 05 Dec 2026 03:30:00 GMT",
        ),
        (datetime(2026, 1, 2, 3, 4, 5, 999_999), "Fri, 02 Jan 2026 03:04:05 GMT"),
    ],
    ids=["naive-is-utc", "utc", "plus-two", "minus-five-thirty-next-day", "micros"],
)
def test_http_date_writes_an_imf_fixdate_in_gmt(moment, expected):
    assert http_date(moment) == expected


def test_http_date_of_a_naive_time_ignores_the_local_zone(chicago):
    assert http_date(datetime(2026, 12, 4, 10, 0)) == "Fri, 04 Dec 2026 10:00:00 GMT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-04T10:00:00+02:00", datetime(2026, 12, 4, 8, tzinfo=UTC)),
        ("2026-12-04T10:00:00Z", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("2026-12-04T10:00:00z", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("2026-12-04T10:00:00", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("2026-12-04 10:00", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        (
            "2026-12-04T10:00:00.250-05:30",
            datetime(2026, 12, 4, 15, 30, 0, 250_000, tzinfo=UTC),
        ),
        ("2026-12-04", datetime(2026, 12, 4, tzinfo=UTC)),
        ("Fri, 04 Dec 2026 10:00:00 GMT", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("Friday, 04-Dec-26 10:00:00 GMT", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("Fri Dec  4 10:00:00 2026", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("Fri, 04 Dec 2026 10:00:00 +0200", datetime(2026, 12, 4, 8, tzinfo=UTC)),
        ("  2026-12-04T10:00:00Z\n", datetime(2026, 12, 4, 10, tzinfo=UTC)),
    ],
    ids=[
        "iso-with-offset",
        "iso-z",
        "iso-lowercase-z",
        "iso-naive-is-utc",
        "iso-space-no-seconds",
        "iso-fraction-negative-offset",
        "iso-date-only",
        "imf-fixdate",
        "rfc-850",
        "asctime",
        "rfc-2822-offset",
        "surrounding-whitespace",
    ],
)
def test_parse_time_reads_iso_8601_and_http_dates_as_utc(value, expected):
    parsed = parse_time(value)

    assert (parsed, parsed.tzinfo) == (expected, UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-04T10:00:00", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("Fri Dec  4 10:00:00 2026", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("2026-12-04T10:00:00+02:00", datetime(2026, 12, 4, 8, tzinfo=UTC)),
    ],
    ids=["iso-naive", "asctime", "iso-with-offset"],
)
def test_parse_time_does_not_depend_on_the_local_zone(chicago, value, expected):
    parsed = parse_time(value)

    assert (parsed, parsed.tzinfo) == (expected, UTC)


@pytest.mark.parametrize(
    "value",
    [
        "tomorrow",
        "",
        "2026-13-01T00:00:00",
        "Fri, 31 Feb 2026 10:00:00 GMT",
        "1764842400",
        1_764_842_400,
        None,
    ],
    ids=[
        "word",
        "empty",
        "month-13",
        "february-31",
        "unix-seconds-string",
        "unix-seconds-int",
        "none",
    ],
)
def test_parse_time_rejects_anything_else_naming_the_value(value):
    with pytest.raises(ValueError, match=f"; got {value!r}$"):
        parse_time(value)


def test_parse_time_states_the_accepted_forms():
    with pytest.raises(ValueError) as caught:
        parse_time("soon")

    assert str(caught.value) == (
        "a time must be ISO 8601 or an HTTP date, such as '2026-12-04T10:00:00Z' "
        "or 'Fri, 04 Dec 2026 10:00:00 GMT'; got 'soon'"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 04 Dec 2026 10:00:00 GMT", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("2026-12-04T10:00:00Z", None),
        ("120", None),
    ],
    ids=["http-date", "iso-is-not-an-http-date", "seconds"],
)
def test_parse_http_date_reads_only_http_dates(value, expected):
    assert parse_http_date(value) == expected


def test_build_body_writes_the_documented_example_exactly():
    assert build_body(**body_fields()) == DESIGN_EXAMPLE


def test_build_body_keeps_the_nine_keys_in_order():
    document = json.loads(build_body(**body_fields()))

    assert list(document) == [
        "name",
        "version",
        "active",
        "predictor_id",
        "project_name",
        "predictor_created_at",
        "old_status",
        "new_status",
        "changed_at",
    ]


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ("predictor_created_at", b'"predictor_created_at":null,'),
        ("old_status", b'"old_status":null,'),
    ],
    ids=["no-creation-time", "never-seen-before"],
)
def test_build_body_writes_none_as_null(field, fragment):
    assert fragment in build_body(**body_fields(**{field: None}))


def test_build_body_converts_times_to_gmt():
    changed_at = datetime(2026, 12, 4, 10, 0, tzinfo=PLUS_TWO)

    body = build_body(**body_fields(changed_at=changed_at))

    assert body.endswith(b'"changed_at":"Fri, 04 Dec 2026 08:00:00 GMT"}')


@pytest.mark.parametrize(
    "name",
    ["модель-β", "日本語 ✓", 'quote " and \\ backslash'],
    ids=["cyrillic-greek", "japanese-check-mark", "json-escapes"],
)
def test_build_body_round_trips_any_name_exactly(name):
    body = build_body(**body_fields(name=name, project_name=name))

    assert json.loads(body.decode("utf-8"))["name"] == name
    assert json.loads(body.decode("utf-8"))["project_name"] == name


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("модель-β", "модель-β".encode()),
        ("日本語 ✓", "日本語 ✓".encode()),
    ],
    ids=["cyrillic-greek", "japanese-check-mark"],
)
def test_build_body_writes_non_ascii_as_utf_8_not_escapes(name, encoded):
    body = build_body(**body_fields(name=name))

    assert body.startswith(b'{"name":"' + encoded + b'",')


@pytest.mark.parametrize(
    "value",
    ["9999-12-31T23:00:00-05:00", "Fri, 31 Dec 9999 23:00:00 -0500"],
    ids=["iso", "http-date"],
)
def test_a_time_past_the_last_utc_datetime_is_a_clear_value_error(value):
    with pytest.raises(ValueError) as raised:
        parse_time(value)

    assert str(raised.value) == (
        f"a time must lie between the years 1 and 9999 in UTC; got {value!r}")


def test_an_http_date_past_the_last_utc_datetime_is_unreadable():
    assert parse_http_date("Fri, 31 Dec 9999 23:00:00 -0500") is None
