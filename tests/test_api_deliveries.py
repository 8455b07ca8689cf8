"""``GET /cloud/callback/model_status/<id>/deliveries``: the deliveries log."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from app import deliveries, events
from app.deliveries import AttemptRecord, Outcome
from app.models import Account, Delivery, DeliveryState, Event
from tests.conftest import make_pending_deliveries

CALLBACKS = "/cloud/callback/model_status"
URL = "http://127.0.0.1:9000/hook"
TRIGGERS = frozenset({"complete", "error"})
CHANGED_AT = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
CREATED_AT = datetime(2026, 12, 4, 9, 0)
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def account(auth) -> Account:
    return Account.get(Account.name == "acme")


@pytest.fixture
def callback_id(client, auth) -> int:
    return client.post(CALLBACKS, json={"url": URL}, headers=auth).get_json()["id"]


def path(callback_id: int, query: str = "") -> str:
    return f"{CALLBACKS}/{callback_id}/deliveries{query}"


def make_event(account: Account, version: int, status: str = "complete") -> Event:
    """An event of ``home_rentals`` ``version`` moving from training to ``status``."""
    report = {
        "project_name": "mindsdb",
        "name": "home_rentals",
        "version": version,
        "status": status,
        "old_status": "training",
        "changed_at": CHANGED_AT,
    }
    change = events.record(account, report, TRIGGERS)
    return Event.get_by_id(change.event_id)


def make_delivery(event: Event, callback_id: int, minute: int = 0) -> str:
    """The event's delivery to the callback, made ``minute`` minutes after 09:00."""
    make_pending_deliveries(event, [callback_id])
    delivery = Delivery.get(
        (Delivery.event == event) & (Delivery.callback == callback_id)
    )
    created_at = CREATED_AT + timedelta(minutes=minute)
    Delivery.update(created_at=created_at, next_attempt_at=created_at).where(
        Delivery.id == delivery.id
    ).execute()
    return delivery.id


def attempt(
    delivery_id: str,
    record: AttemptRecord,
    state: str,
    next_attempt_at: datetime | None = None,
) -> None:
    """Claim the delivery and log one attempt of it, as a worker does."""
    assert deliveries.claim([delivery_id], timedelta(seconds=10)) == [delivery_id]
    [claimed] = deliveries.load_claimed([delivery_id])
    deliveries.finish_attempts([Outcome(claimed, record, state, next_attempt_at)])


def answered(status_code: int, excerpt: str = "", second: int = 0) -> AttemptRecord:
    started_at = datetime(2026, 12, 4, 9, 30, second, 125_000)
    return AttemptRecord(
        started_at=started_at,
        duration=0.25,
        status_code=status_code,
        error=None,
        excerpt=excerpt,
        truncated=False,
    )


def failed_to_connect(second: int = 0) -> AttemptRecord:
    started_at = datetime(2026, 12, 4, 9, 30, second, 125_000)
    return AttemptRecord(
        started_at=started_at,
        duration=0.0015,
        status_code=None,
        error="connection refused",
        excerpt="",
        truncated=False,
    )


# The page


def test_a_callback_without_deliveries_answers_an_empty_page(client, auth, callback_id):
    answer = client.get(path(callback_id), headers=auth)

    assert answer.status_code == 200
    assert answer.get_json() == {"deliveries": [], "total": 0, "limit": 20, "offset": 0}


def test_a_delivery_retried_then_delivered_shows_both_attempts_in_order(
    client, auth, account, callback_id
):
    event = make_event(account, 1)
    delivery_id = make_delivery(event, callback_id)
    attempt(
        delivery_id,
        answered(500, "boom"),
        DeliveryState.PENDING,
        next_attempt_at=datetime(2026, 12, 4, 9, 30, 10),
    )
    attempt(delivery_id, answered(204, second=10), DeliveryState.SUCCEEDED)

    answer = client.get(path(callback_id), headers=auth)

    [delivery] = answer.get_json()["deliveries"]
    assert re.fullmatch(ISO_UTC, delivery.pop("finished_at"))
    assert delivery == {
        "id": delivery_id,
        "event_id": event.id,
        "state": "succeeded",
        "attempts_made": 2,
        "next_attempt_at": None,
        "created_at": "2026-12-04T09:00:00.000Z",
        "old_status": "training",
        "new_status": "complete",
        "changed_at": "2026-12-04T08:00:00.000Z",
        "attempts": [
            {
                "number": 1,
                "started_at": "2026-12-04T09:30:00.125Z",
                "duration_ms": 250.0,
                "status_code": 500,
                "error": None,
                "response_excerpt": "boom",
                "response_truncated": False,
            },
            {
                "number": 2,
                "started_at": "2026-12-04T09:30:10.125Z",
                "duration_ms": 250.0,
                "status_code": 204,
                "error": None,
                "response_excerpt": "",
                "response_truncated": False,
            },
        ],
    }


def test_a_delivery_waiting_for_its_retry_shows_when_and_the_connection_error(
    client, auth, account, callback_id
):
    delivery_id = make_delivery(make_event(account, 1, "error"), callback_id)
    attempt(
        delivery_id,
        failed_to_connect(),
        DeliveryState.PENDING,
        next_attempt_at=datetime(2099, 1, 1, 0, 0, 0),
    )

    answer = client.get(path(callback_id), headers=auth)

    [delivery] = answer.get_json()["deliveries"]
    assert delivery["state"] == "pending"
    assert delivery["new_status"] == "error"
    assert delivery["next_attempt_at"] == "2099-01-01T00:00:00.000Z"
    assert delivery["finished_at"] is None
    assert delivery["attempts"] == [
        {
            "number": 1,
            "started_at": "2026-12-04T09:30:00.125Z",
            "duration_ms": 1.5,
            "status_code": None,
            "error": "connection refused",
            "response_excerpt": "",
            "response_truncated": False,
        },
    ]


def test_a_delivery_not_yet_attempted_has_no_attempts(
    client, auth, account, callback_id
):
    delivery_id = make_delivery(make_event(account, 1), callback_id)

    answer = client.get(path(callback_id), headers=auth)

    [delivery] = answer.get_json()["deliveries"]
    assert delivery["id"] == delivery_id
    assert delivery["state"] == "pending"
    assert delivery["attempts_made"] == 0
    assert delivery["next_attempt_at"] == "2026-12-04T09:00:00.000Z"
    assert delivery["attempts"] == []


def test_deliveries_come_newest_first(client, auth, account, callback_id):
    ids = [
        make_delivery(make_event(account, version), callback_id, minute=version)
        for version in range(3)
    ]

    answer = client.get(path(callback_id), headers=auth)

    assert [d["id"] for d in answer.get_json()["deliveries"]] == ids[::-1]


def test_only_the_callbacks_own_deliveries_are_listed(
    client, auth, account, callback_id
):
    other_id = client.post(CALLBACKS, json={"url": URL + "/2"}, headers=auth).get_json()
    event = make_event(account, 1)
    mine = make_delivery(event, callback_id)
    make_delivery(event, other_id["id"])

    answer = client.get(path(callback_id), headers=auth)

    assert [d["id"] for d in answer.get_json()["deliveries"]] == [mine]
    assert answer.get_json()["total"] == 1


# Pagination


def test_limit_and_offset_page_through_with_the_total(
    client, auth, account, callback_id
):
    ids = [
        make_delivery(make_event(account, version), callback_id, minute=version)
        for version in range(5)
    ]

    answer = client.get(path(callback_id, "?limit=2&offset=1"), headers=auth)

    body = answer.get_json()
    assert answer.status_code == 200
    assert [d["id"] for d in body["deliveries"]] == [ids[3], ids[2]]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)


def test_an_offset_past_the_end_is_an_empty_page_with_the_total(
    client, auth, account, callback_id
):
    make_delivery(make_event(account, 1), callback_id)

    answer = client.get(path(callback_id, "?offset=5"), headers=auth)

    assert answer.get_json() == {"deliveries": [], "total": 1, "limit": 20, "offset": 5}


@pytest.mark.parametrize("limit", ["1", "100"], ids=["one", "hundred"])
def test_limit_accepts_its_bounds(client, auth, callback_id, limit):
    answer = client.get(path(callback_id, f"?limit={limit}"), headers=auth)

    assert answer.status_code == 200
    assert answer.get_json()["limit"] == int(limit)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?limit=2.5", "limit"),
        ("?offset=-1", "offset"),
        ("?offset=x", "offset"),
        ("?page=2", "page"),
    ],
    ids=[
        "limit-zero",
        "limit-101",
        "limit-word",
        "limit-fraction",
        "offset-negative",
        "offset-word",
        "unknown-parameter",
    ],
)
def test_a_bad_query_is_400_naming_the_parameter(
    client, auth, callback_id, query, field
):
    answer = client.get(path(callback_id, query), headers=auth)

    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"] == f"invalid input: {field}"
    assert list(error["fields"]) == [field]


# Access


def test_another_accounts_callback_is_404_as_if_unknown(
    client, auth, other_account_key
):
    theirs = {"Authorization": f"Bearer {other_account_key}"}
    their_id = client.post(CALLBACKS, json={"url": URL}, headers=theirs).get_json()[
        "id"
    ]

    answer = client.get(path(their_id), headers=auth)

    assert answer.status_code == 404
    assert answer.get_json() == {
        "error": {
            "code": "not_found",
            "message": f"no callback with id {their_id}",
            "fields": {},
        }
    }
    assert client.get(path(their_id), headers=theirs).status_code == 200


def test_an_unknown_callback_is_404(client, auth):
    answer = client.get(path(999999), headers=auth)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["message"] == "no callback with id 999999"


def test_the_log_needs_a_key(client, callback_id):
    answer = client.get(path(callback_id))

    assert answer.status_code == 401


# Queries


def count_queries(caplog, client, url: str, headers: dict[str, str]) -> int:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        answer = client.get(url, headers=headers)
    assert answer.status_code == 200
    return sum(1 for r in caplog.records if r.name == "peewee")


def test_the_number_of_queries_does_not_grow_with_the_deliveries_on_a_page(
    client, auth, account, callback_id, caplog
):
    first = make_delivery(make_event(account, 0), callback_id)
    attempt(first, answered(500), DeliveryState.FAILED)
    one = count_queries(caplog, client, path(callback_id), auth)
    for version in range(1, 8):
        delivery_id = make_delivery(make_event(account, version), callback_id, version)
        attempt(
            delivery_id,
            answered(500),
            DeliveryState.PENDING,
            next_attempt_at=datetime(2026, 12, 4),
        )
        attempt(delivery_id, answered(200, second=1), DeliveryState.SUCCEEDED)

    eight = count_queries(caplog, client, path(callback_id), auth)

    # The key, the callback, the page with its events, its attempts, the total.
    assert (one, eight) == (5, 5)
